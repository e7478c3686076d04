// Package version holds the version and commit stamped into purgebus's
// binaries at build time:
//
//	go build -ldflags "-X github.com/purgebus/purgebus/internal/version.version=v1.2.3 \
//	    -X github.com/purgebus/purgebus/internal/version.commit=0123abc" ./cmd/consumer
//
// The Dockerfile stamps them so; a binary built without them reports
// "dev" and the commit that the Go toolchain recorded, if any.
package version

import (
	"fmt"
	"runtime"
	"runtime/debug"
)

// Set with -ldflags -X; they are variables only because -X needs them to
// be, and nothing else assigns them.
var (
	version = ""
	commit  = ""
)

// Version returns the stamped version, "dev" when none was stamped.
func Version() string {
	if version == "" {
		return "dev"
	}
	return version
}

// Commit returns the stamped commit, else the VCS revision the Go
// toolchain recorded in the binary (with "-dirty" for a modified tree),
// else "unknown".
func Commit() string {
	if commit != "" {
		return commit
	}
	if info, ok := debug.ReadBuildInfo(); ok {
		var rev, dirty string
		for _, s := range info.Settings {
			switch s.Key {
			case "vcs.revision":
				rev = s.Value
			case "vcs.modified":
				if s.Value == "true" {
					dirty = "-dirty"
				}
			}
		}
		if rev != "" {
			return rev + dirty
		}
	}
	return "unknown"
}

// String returns the line that --version prints for the named program:
// "consumer v1.2.3 (commit 0123abc, go1.26.0 linux/amd64)".
func String(program string) string {
	return fmt.Sprintf("%s %s (commit %s, %s %s/%s)", program, Version(), Commit(), runtime.Version(), runtime.GOOS, runtime.GOARCH)
}
