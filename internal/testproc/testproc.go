// Package testproc helps tests that run purgebus's commands as
// subprocesses: free loopback addresses for their listeners, and an
// environment that the developer's own settings do not leak into.
package testproc

import (
	"net"
	"os"
	"strings"
	"testing"
)

// FreeAddr returns a loopback address whose port was free a moment ago,
// for a subprocess to listen on.
func FreeAddr(t testing.TB) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// Env returns this process's environment without the variables that
// configure purgebus (AKAMAI_*, NATS_*, PURGEBUS_*), so that a
// subprocess sees only what its test sets.
func Env() []string {
	var env []string
	for _, kv := range os.Environ() {
		if strings.HasPrefix(kv, "AKAMAI_") || strings.HasPrefix(kv, "NATS_") || strings.HasPrefix(kv, "PURGEBUS_") {
			continue
		}
		env = append(env, kv)
	}
	return env
}
