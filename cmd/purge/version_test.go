package main

import (
	"bytes"
	"context"
	"strings"
	"testing"

	"github.com/purgebus/purgebus/internal/version"
)

func TestVersion(t *testing.T) {
	for _, arg := range []string{"--version", "-version", "version"} {
		var stdout, stderr bytes.Buffer
		code := run(context.Background(), []string{arg}, strings.NewReader(""), &stdout, &stderr, mapEnv(nil))
		if code != exitOK {
			t.Errorf("purge %s exited %d; stderr %q", arg, code, stderr.String())
		}
		if got, want := stdout.String(), version.String("purge")+"\n"; got != want {
			t.Errorf("purge %s printed %q, want %q", arg, got, want)
		}
	}
}
