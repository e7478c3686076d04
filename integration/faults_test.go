package integration

import (
	"context"
	"fmt"
	"math"
	"net/http"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/purgebus/purgebus/akamai/akamaitest"
	"github.com/purgebus/purgebus/budget"
	"github.com/purgebus/purgebus/consumer"
	"github.com/purgebus/purgebus/events"
	"github.com/purgebus/purgebus/handler"
)

// TestFaultStorm: 30 % of purge requests are answered 500, 503, 504 or
// 429, or hang until the client gives up. Every one of 10,000 events ends
// succeeded and every URL reaches Akamai.
func TestFaultStorm(t *testing.T) {
	r := newRig(t, akamaitest.Options{TimeScale: 100}, func(c *consumer.Config) {
		c.Limits = budget.AkamaiLimits().Scale(100)
		c.Coalescer.RequestTimeout = 500 * time.Millisecond
	})
	r.fake.SetFaultRate(0.3, 42,
		akamaitest.Fault{Status: 500}, akamaitest.Fault{Status: 503}, akamaitest.Fault{Status: 504},
		akamaitest.Fault{Status: 429}, akamaitest.Fault{Hang: true})
	want := publishURLs(t, r, "storm", 10000, 3, 200000)
	checkAllPurged(t, r, want, 180*time.Second)
	st := r.fake.Stats()
	t.Logf("%d requests, %d faults, %d purges accepted", st.Requests, st.Faults, st.Purges)
	if st.Faults < st.Requests/10 {
		t.Errorf("only %d faults among %d requests: the storm did not happen", st.Faults, st.Requests)
	}
}

// TestBisect: one unauthorised URL among 5,000. When Akamai's detail names
// it, it costs one extra request; when it does not, a binary search finds
// it in at most ⌈log2 n⌉+1 extra requests for a batch of n. Either way
// only its event fails.
func TestBisect(t *testing.T) {
	const n = 5000
	bad := url(300000 + 1234)
	for _, named := range []bool{true, false} {
		t.Run(fmt.Sprintf("named=%v", named), func(t *testing.T) {
			// The fake's Unauthorized answers 403 naming the object, as
			// Akamai does; a fault function answers a 400 that does not.
			var mu sync.Mutex
			var seen [][]string
			r := newRig(t, akamaitest.Options{Buckets: akamaitest.BucketConfig{Disabled: true}}, func(c *consumer.Config) {
				c.Unpaced = true
			})
			r.fake.SetFaultFunc(func(_ *http.Request, p akamaitest.PurgeRequest) (akamaitest.Fault, bool) {
				mu.Lock()
				seen = append(seen, slices.Clone(p.Objects))
				mu.Unlock()
				if !named && slices.Contains(p.Objects, bad) {
					return akamaitest.Fault{Status: http.StatusBadRequest}, true
				}
				return akamaitest.Fault{}, false
			})
			if named {
				r.fake.Unauthorized(bad)
			}
			want := publishURLs(t, r, "bisect", n, 1, 300000)
			results := r.results(n, 60*time.Second)
			for id, urls := range want {
				rs := results[id]
				if len(rs) != 1 {
					t.Fatalf("%s: %d results", id, len(rs))
				}
				wantOutcome := events.OutcomeSucceeded
				if urls[0] == bad {
					wantOutcome = events.OutcomeFailed
				}
				if rs[0].Outcome != wantOutcome {
					t.Fatalf("%s (%s): %s, want %s", id, urls[0], rs[0].Outcome, wantOutcome)
				}
			}
			if named {
				// The 403 is answered before the fault function sees
				// the request: count refusals and what came after.
				st := r.fake.Stats()
				if st.ByStatus[http.StatusForbidden] != 1 {
					t.Errorf("%d requests refused, want 1: the named culprit should go at once", st.ByStatus[http.StatusForbidden])
				}
				return
			}
			// The first request carrying the culprit was the batch it
			// came in; every later request of only that batch's objects
			// is the cost of finding it.
			mu.Lock()
			defer mu.Unlock()
			var batch map[string]bool
			extra := 0
			for _, objs := range seen {
				if batch == nil {
					if slices.Contains(objs, bad) {
						batch = map[string]bool{}
						for _, o := range objs {
							batch[o] = true
						}
					}
					continue
				}
				inBatch := 0
				for _, o := range objs {
					if batch[o] {
						inBatch++
					}
				}
				if inBatch == len(objs) {
					extra++
				} else if inBatch > 0 {
					t.Errorf("a request mixed the failed batch's objects with others")
				}
			}
			if batch == nil {
				t.Fatal("the unauthorised URL was never sent")
			}
			bound := int(math.Ceil(math.Log2(float64(len(batch))))) + 1
			t.Logf("batch of %d with the culprit: %d extra requests (bound %d)", len(batch), extra, bound)
			if extra > bound || extra > int(math.Ceil(math.Log2(n)))+1 {
				t.Errorf("%d extra requests for a batch of %d, want at most %d", extra, len(batch), bound)
			}
		})
	}
}

// TestCircuit: Akamai refuses the credentials (401). purgebus stops
// purging and probes with back-off instead of hammering Akamai with the
// events; once the credentials are accepted again every event succeeds.
func TestCircuit(t *testing.T) {
	var mu sync.Mutex
	var states []handler.CircuitState
	r := newRig(t, akamaitest.Options{}, func(c *consumer.Config) {
		c.Circuit.MinBackoff = 50 * time.Millisecond
		c.Circuit.MaxBackoff = 400 * time.Millisecond
		c.Circuit.OnChange = func(s handler.CircuitState, _ error) {
			mu.Lock()
			states = append(states, s)
			mu.Unlock()
		}
	})
	// The API client is revoked: every request answers 401.
	r.fake.Revoke(true)
	pub := r.publisher(events.SubjectContentChanged)
	for i := range 200 {
		if err := pub.Publish(context.Background(), &events.ContentChanged{ID: fmt.Sprintf("cb-%d", i), URLs: []string{url(400000 + i)}}); err != nil {
			t.Fatal(err)
		}
	}
	time.Sleep(2 * time.Second)
	during := r.fake.Stats()
	if during.Purges != 0 {
		t.Fatalf("%d purges accepted while Akamai refused every request", during.Purges)
	}
	if during.ByStatus[401] == 0 {
		t.Fatal("no 401 was served: the test tested nothing")
	}
	// Without a circuit, 200 events × MaxAttempts tries would hit Akamai
	// again and again; with it, the lanes' first requests and one probe
	// per back-off are all Akamai sees.
	if during.ByStatus[401] > 40 {
		t.Errorf("%d requests refused in 2 s: the circuit does not hold requests", during.ByStatus[401])
	}
	if res := r.results(0, 100*time.Millisecond); len(res) != 0 {
		t.Errorf("%d results while the credentials were refused; events should wait", len(res))
	}
	// Readiness says why.
	failing := map[string]bool{}
	for _, c := range r.cons.Checks() {
		if err := c.Func(context.Background()); err != nil {
			failing[c.Name] = true
		}
	}
	if !failing["akamai"] || !failing["circuit"] || failing["nats"] || failing["streams"] {
		t.Errorf("failing readiness checks %v, want akamai and circuit only", failing)
	}
	r.fake.Revoke(false)
	want := map[string][]string{}
	for i := range 200 {
		want[fmt.Sprintf("cb-%d", i)] = []string{url(400000 + i)}
	}
	checkAllPurged(t, r, want, 60*time.Second)
	for _, c := range r.cons.Checks() {
		if err := c.Func(context.Background()); err != nil {
			t.Errorf("readiness check %s still fails: %v", c.Name, err)
		}
	}
	mu.Lock()
	defer mu.Unlock()
	if !slices.Contains(states, handler.CircuitOpen) || states[len(states)-1] != handler.CircuitClosed {
		t.Errorf("circuit states %v, want open and finally closed", states)
	}
}
