package testwait_test

import (
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/purgebus/purgebus/internal/testwait"
)

// TestUntilReturnsOnceTheConditionHolds: Until keeps checking while the
// condition is false and returns as soon as it is true.
func TestUntilReturnsOnceTheConditionHolds(t *testing.T) {
	var checks atomic.Int32
	testwait.Until(t, time.Minute, "the third check", func() bool { return checks.Add(1) == 3 })
	if n := checks.Load(); n != 3 {
		t.Errorf("%d checks, want 3", n)
	}
}

// fatalT records a Fatalf instead of ending the test.
type fatalT struct {
	testing.TB
	msg string
}

func (f *fatalT) Helper() {}

func (f *fatalT) Fatalf(format string, args ...any) {
	f.msg = fmt.Sprintf(format, args...)
	panic(f)
}

// TestUntilFailsNamingWhat: a condition that never holds fails the test
// with what was awaited.
func TestUntilFailsNamingWhat(t *testing.T) {
	ft := &fatalT{TB: t}
	func() {
		defer func() {
			if r := recover(); r != ft {
				t.Fatalf("Until did not fail the test (recovered %v)", r)
			}
		}()
		testwait.Until(ft, 50*time.Millisecond, "never", func() bool { return false })
	}()
	if ft.msg != "timed out after 50ms waiting for never" {
		t.Errorf("failed with %q", ft.msg)
	}
}
