// Package testwait waits in a test for a condition that other goroutines
// or processes bring about.
package testwait

import (
	"testing"
	"time"
)

// interval is how often Until checks: often enough not to slow a test,
// seldom enough that a condition which asks a server is no load.
const interval = 20 * time.Millisecond

// Until checks cond until it holds, and fails t if it does not hold within
// d, naming what it waited for.
func Until(t testing.TB, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", d, what)
		}
		time.Sleep(interval)
	}
}
