package testlog_test

import (
	"fmt"
	"strings"
	"sync"
	"testing"

	"github.com/purgebus/purgebus/internal/testlog"
)

// TestBufferConcurrent: writers and a reader at once lose no write (run
// with -race).
func TestBufferConcurrent(t *testing.T) {
	var b testlog.Buffer
	var wg sync.WaitGroup
	for w := range 4 {
		wg.Go(func() {
			for i := range 100 {
				fmt.Fprintf(&b, "w%d-%d\n", w, i)
				_ = b.String()
			}
		})
	}
	wg.Wait()
	out := b.String()
	if n := strings.Count(out, "\n"); n != 400 {
		t.Errorf("%d lines, want 400", n)
	}
	for w := range 4 {
		if !strings.Contains(out, fmt.Sprintf("w%d-99\n", w)) {
			t.Errorf("writer %d's last line is missing", w)
		}
	}
}
