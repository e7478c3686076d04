package budget

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// TestLedgers: both ledgers keep a sliding hour per key.
func TestLedgers(t *testing.T) {
	_, kv, _ := kvServer(t)
	ledgers := map[string]func() Ledger{
		"local": func() Ledger { return NewLocalLedger() },
		"kv":    func() Ledger { return NewKVLedger(kv, "escalations.t"+t.Name()) },
	}
	for name, newLedger := range ledgers {
		t.Run(name, func(t *testing.T) {
			l := newLedger()
			ctx := context.Background()
			t0 := time.Date(2026, 12, 5, 12, 0, 0, 0, time.UTC)
			steps := []struct {
				at      time.Duration
				key     string
				ok      bool
				next    time.Duration // when refused: t0 + next
				usedNow int
			}{
				{0, "www.example.com", true, 0, 1},
				{10 * time.Minute, "www.example.com", true, 0, 2},
				{20 * time.Minute, "www.example.com", false, time.Hour, 2},
				{20 * time.Minute, "*.example.org,blog", true, 0, 1}, // another key
				{time.Hour, "www.example.com", true, 0, 2},           // the first left the hour
				{time.Hour + time.Minute, "www.example.com", false, 70 * time.Minute, 2},
			}
			for i, s := range steps {
				ok, next, err := l.Spend(ctx, s.key, 2, t0.Add(s.at))
				if err != nil || ok != s.ok {
					t.Fatalf("step %d: Spend = %v, %v; want %v", i, ok, err, s.ok)
				}
				if !ok && !next.Equal(t0.Add(s.next)) {
					t.Errorf("step %d: next %v, want %v", i, next, t0.Add(s.next))
				}
				if used, err := l.Used(ctx, s.key, t0.Add(s.at)); err != nil || used != s.usedNow {
					t.Errorf("step %d: Used = %d, %v; want %d", i, used, err, s.usedNow)
				}
			}
		})
	}
}

// TestKVLedgerShared: replicas spending one key at once, each through its
// own connection, never exceed the limit together.
func TestKVLedgerShared(t *testing.T) {
	_, _, emb := kvServer(t)
	const replicas, limit = 4, 3
	var granted atomic.Int32
	var wg sync.WaitGroup
	now := time.Now()
	for range replicas {
		js := connectJS(t, emb)
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		kv, err := js.KeyValue(ctx, DefaultKVBucket)
		cancel()
		if err != nil {
			t.Fatal(err)
		}
		l := NewKVLedger(kv, "escalations.main")
		wg.Go(func() {
			for range limit {
				ok, _, err := l.Spend(context.Background(), "www.example.com", limit, now)
				if err != nil {
					t.Error(err)
					return
				}
				if ok {
					granted.Add(1)
				}
			}
		})
	}
	wg.Wait()
	if got := granted.Load(); got != limit {
		t.Errorf("%d escalations granted across %d replicas, want the limit %d", got, replicas, limit)
	}
}

// TestKVLedgerUnavailable: a ledger whose bucket is gone says so, and
// grants nothing.
func TestKVLedgerUnavailable(t *testing.T) {
	js, kv, _ := kvServer(t)
	ctx := context.Background()
	if err := js.DeleteKeyValue(ctx, DefaultKVBucket); err != nil {
		t.Fatal(err)
	}
	ok, _, err := NewKVLedger(kv, "escalations.main").Spend(ctx, "www", 4, time.Now())
	if ok || err == nil {
		t.Errorf("Spend on a deleted bucket = %v, %v; want false and an error", ok, err)
	}
}
