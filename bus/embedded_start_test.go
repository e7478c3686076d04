package bus

import (
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestStartEmbeddedSaysWhy: a store that cannot be used and an address
// in use are reported at once with their cause, not after a 10 s wait.
func TestStartEmbeddedSaysWhy(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "file")
	if err := os.WriteFile(file, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	busy, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	for _, tc := range []struct {
		name string
		cfg  EmbeddedConfig
		want []string
	}{
		{"store is a file", EmbeddedConfig{Listen: "127.0.0.1:0", DataDir: file}, []string{"JetStream store " + file, "not a directory"}},
		{"store below a file", EmbeddedConfig{Listen: "127.0.0.1:0", DataDir: filepath.Join(file, "js")}, []string{"not a directory"}},
		{"address in use", EmbeddedConfig{Listen: busy.Addr().String(), DataDir: filepath.Join(dir, "js")}, []string{"cannot listen on " + busy.Addr().String(), "address already in use"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			start := time.Now()
			e, err := StartEmbedded(tc.cfg)
			if err == nil {
				e.Shutdown()
				t.Fatal("started")
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not say %q", err, w)
				}
			}
			if d := time.Since(start); d > 5*time.Second {
				t.Errorf("took %v", d)
			}
		})
	}
}
