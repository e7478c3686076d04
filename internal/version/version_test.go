package version

import (
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
)

func TestDefaults(t *testing.T) {
	if got := Version(); got != "dev" {
		t.Errorf("Version() = %q unstamped, want dev", got)
	}
	if Commit() == "" {
		t.Error("Commit() is empty; want a revision or \"unknown\"")
	}
	s := String("consumer")
	if !strings.HasPrefix(s, "consumer dev (commit ") || !strings.Contains(s, runtime.Version()) {
		t.Errorf("String = %q", s)
	}
}

// TestStamped builds a program with the Dockerfile's -ldflags and checks
// that the stamp reaches String: a typo in the variable's path would
// silently stamp nothing.
func TestStamped(t *testing.T) {
	if testing.Short() {
		t.Skip("builds a program")
	}
	bin := filepath.Join(t.TempDir(), "prog")
	pkg := "github.com/purgebus/purgebus/internal/version"
	build := exec.Command("go", "build", "-trimpath", "-o", bin,
		"-ldflags", "-X "+pkg+".version=v9.8.7 -X "+pkg+".commit=abc1234", "./testdata/stamp")
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	out, err := exec.Command(bin).Output()
	if err != nil {
		t.Fatal(err)
	}
	want := "prog v9.8.7 (commit abc1234, " + runtime.Version()
	if !strings.HasPrefix(string(out), want) {
		t.Errorf("stamped binary prints %q, want it to start %q", out, want)
	}
}
