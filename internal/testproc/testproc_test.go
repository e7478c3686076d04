package testproc

import (
	"net"
	"slices"
	"strings"
	"testing"
)

func TestFreeAddr(t *testing.T) {
	addr := FreeAddr(t)
	host, _, err := net.SplitHostPort(addr)
	if err != nil || host != "127.0.0.1" {
		t.Fatalf("FreeAddr = %q (%v), want a loopback address", addr, err)
	}
	l, err := net.Listen("tcp", addr)
	if err != nil {
		t.Fatalf("the address is not free: %v", err)
	}
	l.Close()
}

func TestEnv(t *testing.T) {
	t.Setenv("PURGEBUS_ROUTING", "x")
	t.Setenv("AKAMAI_HOST", "x")
	t.Setenv("NATS_URL", "x")
	t.Setenv("TESTPROC_KEPT", "yes")
	env := Env()
	for _, kv := range env {
		for _, p := range []string{"PURGEBUS_", "AKAMAI_", "NATS_"} {
			if strings.HasPrefix(kv, p) {
				t.Errorf("%s leaked into the environment", kv)
			}
		}
	}
	if !slices.Contains(env, "TESTPROC_KEPT=yes") {
		t.Error("other variables were dropped")
	}
}
