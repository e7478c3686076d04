package handler

import (
	"context"
	"fmt"
	"net/http"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/purgebus/purgebus/akamai"
	"github.com/purgebus/purgebus/akamai/akamaitest"
	"github.com/purgebus/purgebus/budget"
	"github.com/purgebus/purgebus/internal/testwait"
)

// escalationScale runs the fake's buckets, and the budget, this many
// times faster than Akamai's, so that a flood that would take seconds at
// the scaled refill is still a flood.
const escalationScale = 20

// newEscalatingCoalescer returns a coalescer paced to a fake with
// Akamai's bucket sizes, whose route "www" escalates to CP code 12345
// after the given wait.
func newEscalatingCoalescer(t *testing.T, client *akamai.Client, after time.Duration, onEsc func(EscalationStats)) *Coalescer {
	t.Helper()
	b, err := budget.NewLocal(budget.Config{Limits: budget.AkamaiLimits().Scale(escalationScale)})
	if err != nil {
		t.Fatal(err)
	}
	return newCoalescer(t, client, CoalescerConfig{
		Budget:       b,
		Escalations:  []Escalation{{Route: "www", Type: akamai.TypeCPCode, Object: "12345", After: after, MaxPerHour: 2}},
		OnEscalation: onEsc,
	})
}

// flood submits n unique URLs through PurgeRoute, perCall at a time from
// concurrent callers, and returns every outcome.
func flood(t *testing.T, c *Coalescer, prefix string, n, perCall int) []Outcome {
	t.Helper()
	urls := testURLs(prefix, n)
	out := make([]Outcome, 0, n)
	var mu sync.Mutex
	var wg sync.WaitGroup
	for i := 0; i < n; i += perCall {
		part := urls[i:min(i+perCall, n)]
		wg.Go(func() {
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			o := c.PurgeRoute(ctx, urlKey, "www", part)
			mu.Lock()
			out = append(out, o...)
			mu.Unlock()
		})
	}
	wg.Wait()
	return out
}

// cpcodePurges returns the fake's accepted CP-code purges.
func cpcodePurges(fake *akamaitest.Server) []akamaitest.Purge {
	var out []akamaitest.Purge
	for _, p := range fake.Purges() {
		if p.Type == akamai.TypeCPCode {
			out = append(out, p)
		}
	}
	return out
}

// TestEscalationCoversAFlood: 30,000 URLs, 20,000 beyond the URL bucket's
// burst, would wait 5 s at the (scaled) refill, over the route's 1 s: one
// CP-code purge covers what waits, every URL has its outcome, and the
// covered ones say by what.
func TestEscalationCoversAFlood(t *testing.T) {
	fake, client := newFake(t, akamaitest.Options{TimeScale: escalationScale})
	var stats []EscalationStats
	var mu sync.Mutex
	c := newEscalatingCoalescer(t, client, time.Second, func(s EscalationStats) { mu.Lock(); stats = append(stats, s); mu.Unlock() })
	const n = 30000
	out := flood(t, c, "flood", n, 100)
	requireAllSettled(t, out)
	codes := cpcodePurges(fake)
	if len(codes) == 0 || len(codes) > 2 {
		t.Fatalf("%d CP-code purges, want 1 or 2 (max_per_hour)", len(codes))
	}
	ids := map[string]bool{}
	for _, p := range codes {
		if len(p.Objects) != 1 || p.Objects[0] != "12345" || p.Action != urlKey.Action || p.Network != urlKey.Network {
			t.Errorf("covering purge %+v, want CP code 12345 invalidated on production", p)
		}
		ids[p.ID] = true
	}
	covered := 0
	for _, o := range out {
		if o.Escalation == nil {
			continue
		}
		covered++
		if !ids[o.Result.PurgeID] || o.Escalation.Type != akamai.TypeCPCode || o.Escalation.Object != "12345" || o.Escalation.Reason == "" {
			t.Fatalf("covered outcome %+v %+v, want the covering purge's ID and CP code 12345", o.Result, o.Escalation)
		}
	}
	urlPurged := purgedCounts(fake)
	for _, o := range out {
		if o.Escalation == nil && urlPurged[o.Object] == 0 {
			t.Fatalf("%s is neither covered nor purged as a URL", o.Object)
		}
	}
	if covered < n/2 {
		t.Errorf("only %d of %d URLs covered", covered, n)
	}
	if got := fake.Stats().RateLimited; got != 0 {
		t.Errorf("%d 429s", got)
	}
	// OnEscalation is told once the URLs are settled, maybe after.
	testwait.Until(t, 5*time.Second, "every escalation reported", func() bool { mu.Lock(); defer mu.Unlock(); return len(stats) == len(codes) })
	mu.Lock()
	defer mu.Unlock()
	t.Logf("%d URLs covered by %d CP-code purges, %d purged as URLs; escalations %+v", covered, len(codes), len(urlPurged), stats)
	if len(stats) != len(codes) || stats[0].Covered == 0 || stats[0].PurgeID == "" || stats[0].Route != "www" {
		t.Errorf("escalations reported %+v, want one per CP-code purge", stats)
	}
	if b := c.EscalationBudgets(); len(b) != 1 || b[0].Remaining != 2-len(codes) || b[0].MaxPerHour != 2 {
		t.Errorf("budgets %+v", b)
	}
}

// TestEscalationRefusedFallsBack: Akamai refuses the covering CP code
// (403): every URL is purged one by one, and none claims to be covered.
func TestEscalationRefusedFallsBack(t *testing.T) {
	fake, client := newFake(t, akamaitest.Options{TimeScale: escalationScale})
	fake.Unauthorized("12345")
	c := newEscalatingCoalescer(t, client, time.Second, nil)
	const n = 25000
	out := flood(t, c, "refused", n, 100)
	requireAllSettled(t, out)
	urlPurged := purgedCounts(fake)
	for _, o := range out {
		if o.Escalation != nil {
			t.Fatalf("%s claims to be covered by %+v", o.Object, o.Escalation)
		}
		if urlPurged[o.Object] == 0 {
			t.Fatalf("%s never reached Akamai", o.Object)
		}
	}
	st := fake.Stats()
	if st.ByStatus[http.StatusForbidden] == 0 {
		t.Errorf("no 403: the flood never escalated (statuses %v)", st.ByStatus)
	}
	if st.Objects[akamai.TypeCPCode] != 0 {
		t.Errorf("%d CP codes purged", st.Objects[akamai.TypeCPCode])
	}
}

// TestEscalationCoversOnlyWhatCameBefore: URLs submitted after the
// covering request went out are purged on their own, never settled by it.
func TestEscalationCoversOnlyWhatCameBefore(t *testing.T) {
	fake, client := newFake(t, akamaitest.Options{TimeScale: escalationScale})
	sent := make(chan struct{})
	var once sync.Once
	var held atomic.Bool
	fake.SetFaultFunc(func(_ *http.Request, p akamaitest.PurgeRequest) (akamaitest.Fault, bool) {
		if p.Type != akamai.TypeCPCode || held.Swap(true) {
			return akamaitest.Fault{}, false
		}
		once.Do(func() { close(sent) })
		// Hold the answer while late URLs arrive, briefly: meanwhile the
		// lane goes on purging the early ones.
		return akamaitest.Fault{Delay: 200 * time.Millisecond}, true
	})
	var firstID atomic.Value
	// After 2 s: when the covering purge goes out, 8,000 URLs more than
	// the bucket holds wait, more than the lane can purge while the
	// answer is held.
	c := newEscalatingCoalescer(t, client, 2*time.Second, func(s EscalationStats) { firstID.CompareAndSwap(nil, s.PurgeID) })
	var early, late []Outcome
	done := make(chan struct{})
	go func() {
		defer close(done)
		early = flood(t, c, "early", 40000, 100)
	}()
	select {
	case <-sent:
	case <-time.After(30 * time.Second):
		t.Fatal("the flood never escalated")
	}
	late = flood(t, c, "late", 500, 50)
	<-done
	requireAllSettled(t, early)
	requireAllSettled(t, late)
	testwait.Until(t, 5*time.Second, "the escalation reported", func() bool { return firstID.Load() != nil })
	first := firstID.Load().(string)
	urlPurged := purgedCounts(fake)
	for _, o := range late {
		if o.Result.PurgeID == first {
			t.Fatalf("late %s was settled by the covering purge sent before it came", o.Object)
		}
		if o.Escalation == nil && urlPurged[o.Object] == 0 {
			t.Fatalf("late %s never reached Akamai", o.Object)
		}
	}
	covered := 0
	for _, o := range early {
		if o.Result.PurgeID == first {
			covered++
		}
	}
	if covered == 0 {
		esc := 0
		for _, o := range early {
			if o.Escalation != nil {
				esc++
			}
		}
		t.Errorf("the covering purge %s covered none of the early URLs (%d covered by any; CP-code purges %+v)", first, esc, cpcodePurges(fake))
	}
}

// requireAllSettled is requireAllPurged for a flood that may have
// escalated: a covered URL's result is the covering purge's.
func requireAllSettled(t *testing.T, out []Outcome) {
	t.Helper()
	var own []Outcome
	for _, o := range out {
		if o.Escalation == nil {
			own = append(own, o)
			continue
		}
		if o.Err != nil || o.Result == nil || o.Result.HTTPStatus != 201 || !slices.Contains(o.Result.Objects, o.Escalation.Object) {
			t.Fatalf("%s: covered, but by %+v (err %v)", o.Object, o.Result, o.Err)
		}
	}
	requireAllPurged(t, own)
}

// TestEscalationGathersAFloodStillArriving: a flood that is still coming
// in when it crosses After is gathered, not sliced: URLs submitted a few
// milliseconds apart after the escalation began are covered by the same
// covering purge, and the budget is spent once.
func TestEscalationGathersAFloodStillArriving(t *testing.T) {
	fake, client := newFake(t, akamaitest.Options{TimeScale: escalationScale})
	var first atomic.Value
	// After 5 s: a quiet spell of 100 ms ends the gathering, or 1.25 s.
	c := newEscalatingCoalescer(t, client, 5*time.Second, func(s EscalationStats) { first.CompareAndSwap(nil, s.PurgeID) })
	var head []Outcome
	done := make(chan struct{})
	go func() {
		defer close(done)
		head = flood(t, c, "head", 40000, 100)
	}()
	// The head is submitted at once and waits 7.5 s at the scaled refill:
	// the escalation starts; the tail trickles in while it gathers.
	testwait.Until(t, 10*time.Second, "the head submitted", func() bool { return c.waiting.Load() >= 300 })
	var tail []Outcome
	var mu sync.Mutex
	var wg sync.WaitGroup
	for i := range 20 {
		part := testURLs(fmt.Sprintf("tail%d-", i), 50)
		wg.Go(func() {
			o := c.PurgeRoute(context.Background(), urlKey, "www", part)
			mu.Lock()
			tail = append(tail, o...)
			mu.Unlock()
		})
		time.Sleep(15 * time.Millisecond)
	}
	wg.Wait()
	<-done
	requireAllSettled(t, head)
	requireAllSettled(t, tail)
	if codes := cpcodePurges(fake); len(codes) != 1 {
		t.Errorf("%d CP-code purges, want the flood gathered into 1", len(codes))
	}
	testwait.Until(t, 5*time.Second, "the escalation reported", func() bool { return first.Load() != nil })
	for _, o := range tail {
		if o.Escalation == nil || o.Result.PurgeID != first.Load().(string) {
			t.Fatalf("tail %s, submitted while the flood was gathered, was settled by %s, not by the covering purge %s", o.Object, o.Result.PurgeID, first.Load())
		}
	}
}
