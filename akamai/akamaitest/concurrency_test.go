package akamaitest

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/purgebus/purgebus/akamai"
)

// TestConcurrentBucketsExact sends 400 requests of 200 URLs from 40
// goroutines at a server whose buckets barely refill: exactly 50 requests
// (10,000 URLs) must pass, whatever the interleaving.
func TestConcurrentBucketsExact(t *testing.T) {
	h := newHarness(t, Options{TimeScale: 1e-9, Now: time.Now})
	b := urlBody(200)
	var wg sync.WaitGroup
	var created, limited atomic.Int64
	stop := make(chan struct{})
	// Readers running alongside.
	readers := sync.WaitGroup{}
	readers.Go(func() {
		for {
			select {
			case <-stop:
				return
			default:
				_ = h.s.Stats()
				_ = h.s.Purges()
				_ = h.s.Requests()
				_ = h.s.Tokens("")
				time.Sleep(100 * time.Microsecond)
			}
		}
	})
	for range 40 {
		wg.Go(func() {
			for range 10 {
				r := h.post("/ccu/v3/invalidate/url", b)
				switch r.status {
				case 201:
					created.Add(1)
				case 429:
					limited.Add(1)
				default:
					t.Errorf("status %d %v %s", r.status, r.err, r.body)
				}
			}
		})
	}
	wg.Wait()
	close(stop)
	readers.Wait()
	if created.Load() != 50 || limited.Load() != 350 {
		t.Errorf("%d accepted, %d refused; want 50 and 350", created.Load(), limited.Load())
	}
	st := h.s.Stats()
	if st.Requests != 400 || st.Purges != 50 || st.ByStatus[201] != 50 || st.ByStatus[429] != 350 || st.RateLimited != 350 ||
		st.Objects[akamai.TypeURL] != 10000 {
		t.Errorf("stats %+v", st)
	}
	ids := map[string]bool{}
	for _, p := range h.s.Purges() {
		if ids[p.ID] {
			t.Errorf("duplicate purge id %s", p.ID)
		}
		ids[p.ID] = true
	}
	if got := len(h.s.PurgedObjects(akamai.TypeURL)); got != 10000 || len(h.s.Requests()) != 400 {
		t.Errorf("%d URLs purged, %d requests recorded", got, len(h.s.Requests()))
	}
	if tok := h.s.Tokens(""); !near(tok.Requests, 50, 1e-3) || !near(tok.URL, 0, 1e-3) {
		t.Errorf("tokens %+v", tok)
	}
}

// TestConcurrentFaultStorm mixes a 30% fault rate (statuses and hangs),
// queued faults, latency changes, resets of unauthorised objects and record
// readers, and checks that every request is accounted for.
func TestConcurrentFaultStorm(t *testing.T) {
	h := newHarness(t, Options{Buckets: BucketConfig{Disabled: true}, Now: time.Now})
	h.s.SetFaultRate(0.3, 42, Fault{Status: 500}, Fault{Status: 503}, Fault{Status: 429}, Fault{Hang: true},
		Fault{Status: 502, Accept: true})
	const workers, each = 32, 30
	var wg sync.WaitGroup
	var answered, failed atomic.Int64
	for w := range workers {
		wg.Go(func() {
			for i := range each {
				typ := akamai.Types[(w+i)%3]
				var objs []string
				switch typ {
				case akamai.TypeURL:
					objs = urls(20)
				case akamai.TypeCPCode:
					objs = cpcodes(3)
				default:
					objs = tags(10)
				}
				r := h.post("/ccu/v3/invalidate/"+string(typ), body(typ, objs), timeout(500*time.Millisecond))
				if r.err != nil {
					failed.Add(1)
				} else {
					answered.Add(1)
				}
			}
		})
	}
	ctx, cancel := context.WithCancel(context.Background())
	var side sync.WaitGroup
	side.Go(func() {
		for ctx.Err() == nil {
			h.s.FailNext(1, 500)
			h.s.SetLatency(time.Millisecond)
			h.s.Unauthorized("https://nobody.example/")
			_ = h.s.Stats()
			_ = h.s.PurgedObjects(akamai.TypeTag)
			h.s.SetLatency(0)
			time.Sleep(2 * time.Millisecond)
		}
	})
	wg.Wait()
	cancel()
	side.Wait()
	waitFor(t, func() bool { return h.s.Stats().Requests == workers*each && len(h.s.Requests()) == workers*each })
	st := h.s.Stats()
	hung := st.ByStatus[0]
	// Every hung request fails at the client; on a slow machine a slow
	// answer may fail too.
	if int64(hung) > failed.Load() || answered.Load()+failed.Load() != workers*each {
		t.Errorf("%d answered, %d failed; stats %+v", answered.Load(), failed.Load(), st)
	}
	lost := 0
	for _, p := range h.s.Purges() {
		if p.AnswerLost {
			lost++
		}
	}
	if st.Purges != st.ByStatus[201]+lost || st.Purges != len(h.s.Purges()) || st.ByStatus[502] != lost {
		t.Errorf("purges %d, 201s %d, lost %d: %+v", st.Purges, st.ByStatus[201], lost, st)
	}
	if st.Faults < workers*each/5 || hung == 0 {
		t.Errorf("too few faults: %+v", st)
	}
}

// TestRealTimeRefill runs greedy clients against the URL bucket in real
// time at TimeScale 100 (20,000 URLs/s) for about a second: the server must
// never grant more than capacity + rate × elapsed, and a saturating client
// must get close to it.
func TestRealTimeRefill(t *testing.T) {
	if testing.Short() {
		t.Skip("real-time test")
	}
	const scale = 100.0
	h := newHarness(t, Options{TimeScale: scale, Now: time.Now})
	b := urlBody(200)
	var accepted atomic.Int64
	start := time.Now()
	deadline := start.Add(time.Second)
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() {
			for time.Now().Before(deadline) {
				r := h.post("/ccu/v3/invalidate/url", b)
				switch r.status {
				case 201:
					accepted.Add(200)
				case 429:
					time.Sleep(time.Millisecond)
				default:
					t.Errorf("status %d %v", r.status, r.err)
					return
				}
			}
		})
	}
	wg.Wait()
	elapsed := time.Since(start).Seconds()
	limit := 10000 + 200*scale*elapsed
	got := float64(accepted.Load())
	t.Logf("%.0f URLs accepted in %.3f s; bucket allows %.0f (%.1f%%)", got, elapsed, limit, 100*got/limit)
	if got > limit {
		t.Errorf("granted %.0f URLs, more than the %.0f the bucket allows", got, limit)
	}
	if got < 0.8*limit {
		t.Errorf("granted only %.0f of %.0f URLs to a saturating client", got, limit)
	}
}
