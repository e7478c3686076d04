package routing

import (
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/purgebus/purgebus/events"
)

var t0 = time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)

// urls returns an event of source with n distinct URLs.
func urls(source string, n int, tag string) events.ContentChanged {
	u := make([]string, n)
	for i := range u {
		u[i] = fmt.Sprintf("https://www.example.com/%s/%d", tag, i)
	}
	return event(source, u, nil, nil)
}

type verdictWant struct {
	at         time.Duration // after t0
	ev         events.ContentChanged
	key        string
	objects    int           // to purge
	retryAfter time.Duration // > 0: deferred
	refused    bool
}

func runVerdicts(t *testing.T, r *Router, steps []verdictWant) {
	t.Helper()
	for i, s := range steps {
		d := r.RouteKeyed(s.ev, s.key, t0.Add(s.at))
		switch {
		case s.retryAfter > 0:
			if !d.Retry || d.RetryAfter != s.retryAfter || d.Groups != nil || d.Rejected != nil {
				t.Errorf("step %d (%s at %s): got retry %v after %s, %d objects, %d rejected; want retry after %s", i, s.key, s.at, d.Retry, d.RetryAfter, d.Objects(), len(d.Rejected), s.retryAfter)
			}
			var re *Error
			if err := d.Err(); !errors.As(err, &re) || !re.Retryable() || re.RetryAfter != s.retryAfter || !errors.Is(err, QuotaExceeded) {
				t.Errorf("step %d: Err %v", i, err)
			}
		case s.refused:
			if d.Retry || d.Objects() != 0 || len(d.Rejected) == 0 {
				t.Errorf("step %d (%s at %s): got retry %v, %d objects, %d rejected; want refused", i, s.key, s.at, d.Retry, d.Objects(), len(d.Rejected))
			}
			for _, x := range d.Rejected {
				if x.Reason != QuotaExceeded {
					t.Errorf("step %d: rejection %+v", i, x)
				}
			}
			var re *Error
			if err := d.Err(); !errors.As(err, &re) || re.Retryable() || !errors.Is(err, QuotaExceeded) {
				t.Errorf("step %d: Err %v", i, err)
			}
		default:
			if d.Retry || d.Objects() != s.objects || len(d.Rejected) != 0 {
				t.Errorf("step %d (%s at %s): got retry %v (%s), %d objects, %d rejected; want %d objects", i, s.key, s.at, d.Retry, d.RetryAfter, d.Objects(), len(d.Rejected), s.objects)
			}
		}
	}
}

func TestQuotaDefersInTurn(t *testing.T) {
	r := mustRouter(t, `
accounts: {a: {}}
quotas: {per_source_objects_per_minute: 60, burst: 10, max_delay: 30s}
`)
	runVerdicts(t, r, []verdictWant{
		{at: 0, ev: urls("cms", 10, "a"), key: "A", objects: 10},
		{at: 0, ev: urls("cms", 5, "b"), key: "B", retryAfter: 5 * time.Second},
		{at: 0, ev: urls("cms", 5, "c"), key: "C", retryAfter: 10 * time.Second}, // behind B
		{at: 0, ev: urls("blog", 10, "x"), key: "X", objects: 10},                // another source
		{at: 2 * time.Second, ev: urls("cms", 5, "b"), key: "B", retryAfter: 3 * time.Second},
		{at: 5 * time.Second, ev: urls("cms", 5, "b"), key: "B", objects: 5},
		{at: 5 * time.Second, ev: urls("cms", 5, "c"), key: "C", retryAfter: 5 * time.Second},
		{at: 10 * time.Second, ev: urls("cms", 5, "c"), key: "C", objects: 5},
		{at: 10 * time.Second, ev: urls("cms", 1, "d"), key: "D", retryAfter: time.Second},
		// Delivered again (say after a transient Akamai failure): not charged twice.
		{at: 11 * time.Second, ev: urls("cms", 10, "a"), key: "A", objects: 10},
		{at: 11 * time.Second, ev: urls("cms", 1, "d"), key: "D", objects: 1},
		{at: 11 * time.Second, ev: urls("cms", 1, "e"), key: "E", retryAfter: time.Second},
	})
}

func TestQuotaRefusesBeyondMaxDelay(t *testing.T) {
	r := mustRouter(t, `
accounts: {a: {}}
routes: [{hosts: [www.example.com], account: a}]
quotas: {per_source_objects_per_minute: 60, burst: 10, max_delay: 30s}
`)
	runVerdicts(t, r, []verdictWant{
		{at: 0, ev: urls("cms", 10, "a"), key: "A", objects: 10},
		{at: 0, ev: urls("cms", 31, "b"), key: "B", refused: true},
		{at: 0, ev: urls("cms", 31, "b"), key: "B", refused: true}, // refusals are not remembered
		{at: 0, ev: urls("cms", 30, "c"), key: "C", retryAfter: 30 * time.Second},
		{at: 0, ev: urls("cms", 1, "d"), key: "D", refused: true},
		{at: 30 * time.Second, ev: urls("cms", 30, "c"), key: "C", objects: 30},
	})

	// Objects refused for other reasons keep their reason; the message
	// explains the quota.
	d := r.RouteKeyed(event("cms", []string{"https://www.example.com/1", "https://other.example.com/2"}, nil, nil), "E", t0)
	if len(d.Rejected) != 2 || d.Rejected[0].Reason != QuotaExceeded || d.Rejected[1].Reason != NoRoute {
		t.Fatalf("rejected %+v", d.Rejected)
	}
	want := `source "cms" is over its quota of 60 objects per minute (burst 10): its 1 objects would have to wait 31s, longer than max_delay 30s`
	if d.Rejected[0].Message != want {
		t.Errorf("message\n%s\nwant\n%s", d.Rejected[0].Message, want)
	}
	// Objects refused without quota do not count against it.
	d = r.RouteKeyed(event("cms", []string{"https://other.example.com/2"}, nil, nil), "F", t0)
	if len(d.Rejected) != 1 || d.Rejected[0].Reason != NoRoute {
		t.Errorf("rejected %+v", d.Rejected)
	}
}

func TestQuotaRejectMode(t *testing.T) {
	r := mustRouter(t, `
accounts: {a: {}}
quotas: {per_source_objects_per_minute: 60, burst: 10, over_quota: reject}
`)
	runVerdicts(t, r, []verdictWant{
		{at: 0, ev: urls("cms", 10, "a"), key: "A", objects: 10},
		{at: 0, ev: urls("cms", 1, "b"), key: "B", refused: true},
		{at: time.Second, ev: urls("cms", 2, "c"), key: "C", refused: true},
		{at: time.Second, ev: urls("cms", 1, "b"), key: "B", objects: 1},
	})
	d := r.RouteKeyed(urls("cms", 1, "e"), "E", t0.Add(time.Second))
	if want := `source "cms" is over its quota of 60 objects per minute (burst 10)`; len(d.Rejected) != 1 || d.Rejected[0].Message != want {
		t.Errorf("rejected %+v", d.Rejected)
	}
	runVerdicts(t, r, []verdictWant{
		{at: time.Hour, ev: urls("cms", 11, "d"), key: "D", refused: true}, // more than the burst: never
		{at: time.Hour, ev: urls("cms", 10, "d"), key: "D", objects: 10},
	})
}

func TestQuotaLargerThanBurst(t *testing.T) {
	r := mustRouter(t, `
accounts: {a: {}}
quotas: {per_source_objects_per_minute: 60, burst: 10}
`)
	runVerdicts(t, r, []verdictWant{
		{at: 0, ev: urls("cms", 25, "a"), key: "A", retryAfter: 15 * time.Second},
		{at: 15 * time.Second, ev: urls("cms", 25, "a"), key: "A", objects: 25},
		{at: 15 * time.Second, ev: urls("cms", 1, "b"), key: "B", retryAfter: time.Second},
	})
}

func TestQuotaListedSources(t *testing.T) {
	r := mustRouter(t, `
accounts: {a: {}}
quotas:
  sources:
    cms: 120
    bulk: {objects_per_minute: 60, burst: 2}
`)
	runVerdicts(t, r, []verdictWant{
		{at: 0, ev: urls("cms", 120, "a"), key: "A", objects: 120},
		{at: 0, ev: urls("cms", 1, "b"), key: "B", retryAfter: 500 * time.Millisecond},
		{at: 0, ev: urls("bulk", 2, "c"), key: "C", objects: 2},
		{at: 0, ev: urls("bulk", 2, "d"), key: "D", retryAfter: 2 * time.Second},
		{at: 0, ev: urls("other", 5000, "e"), key: "E", objects: 5000}, // not listed: unlimited
		{at: 0, ev: urls("", 5000, "f"), key: "F", objects: 5000},
	})
	if len(r.quotas.sources) != 0 {
		t.Errorf("unlimited sources tracked: %v", r.quotas.sources)
	}
}

func TestQuotaDerivedKey(t *testing.T) {
	r := mustRouter(t, `
accounts: {a: {}}
quotas: {per_source_objects_per_minute: 60, burst: 1, max_delay: 1h}
`)
	ev := urls("cms", 1, "a")
	ev.ID = "e1"
	if d := r.Route(ev, t0); d.Objects() != 1 {
		t.Fatalf("first: %+v", d)
	}
	if d := r.Route(ev, t0); d.Objects() != 1 {
		t.Errorf("same event again was charged: %+v", d)
	}
	for _, change := range []func(*events.ContentChanged){
		func(e *events.ContentChanged) { e.ID = "e2" },
		func(e *events.ContentChanged) { e.OccurredAt = t0 },
		func(e *events.ContentChanged) { e.URLs = []string{"https://www.example.com/b"} },
		func(e *events.ContentChanged) { e.Tags = []string{"t"} },
	} {
		other := ev
		change(&other)
		if d := r.Route(other, t0); !d.Retry {
			t.Errorf("a different event was not charged: %+v", other)
		}
	}
	// The same key from another source is another event.
	if d := r.RouteKeyed(urls("x", 1, "a"), "k", t0); d.Objects() != 1 {
		t.Fatal(d)
	}
	if d := r.RouteKeyed(urls("y", 1, "a"), "k", t0); d.Objects() != 1 {
		t.Fatal(d)
	}
	if d := r.RouteKeyed(urls("y", 1, "a"), "k2", t0); !d.Retry {
		t.Errorf("y's second event was not charged: %+v", d)
	}
}

func TestQuotaForgetsTrackedEvents(t *testing.T) {
	r := mustRouter(t, `
accounts: {a: {}}
quotas: {per_source_objects_per_minute: 60000, burst: 1000, max_tracked_events: 10}
`)
	for i := range 100 {
		if d := r.RouteKeyed(urls("cms", 1, "a"), fmt.Sprint(i), t0); d.Objects() != 1 {
			t.Fatal(d)
		}
	}
	q := r.quotas
	if len(q.tracked) != 10 || len(q.queue)-q.head > 10 {
		t.Errorf("%d tracked, %d queued", len(q.tracked), len(q.queue)-q.head)
	}
	// Evicted events are charged again; remembered ones are not.
	before := q.sources["cms"].TokensAt(t0)
	r.RouteKeyed(urls("cms", 1, "a"), "99", t0)
	r.RouteKeyed(urls("cms", 1, "a"), "0", t0)
	if after := q.sources["cms"].TokensAt(t0); before-after != 1 {
		t.Errorf("charged %v tokens, want 1", before-after)
	}
	// After trackFor, an event is forgotten and charged again.
	later := t0.Add(trackFor + time.Second)
	r.RouteKeyed(urls("cms", 1, "a"), "new", later)
	if len(q.tracked) != 1 {
		t.Errorf("%d tracked after expiry", len(q.tracked))
	}
}

func TestQuotaTrackedStaysBounded(t *testing.T) {
	r := mustRouter(t, `
accounts: {a: {}}
quotas: {per_source_objects_per_minute: 600000, burst: 100000, max_tracked_events: 100}
`)
	q := r.quotas
	now := t0
	for i := range 5000 {
		// Re-track expired keys and add new ones.
		now = now.Add(trackFor / 50)
		r.RouteKeyed(urls("cms", 1, "a"), fmt.Sprint(i%150), now)
		if len(q.tracked) > 100 || len(q.queue)-q.head > 2*100+64 || cap(q.queue) > 4*(2*100+64) {
			t.Fatalf("step %d: %d tracked, queue %d (cap %d)", i, len(q.tracked), len(q.queue)-q.head, cap(q.queue))
		}
	}
}

func TestQuotaEvictsIdleSources(t *testing.T) {
	r := mustRouter(t, `
accounts: {a: {}}
quotas: {per_source_objects_per_minute: 60, burst: 5, max_sources: 3}
`)
	q := r.quotas
	for i := range 3 {
		if d := r.RouteKeyed(urls(fmt.Sprint("s", i), 5, "a"), "k", t0); d.Objects() != 5 {
			t.Fatal(d)
		}
	}
	// A fourth active source shares the overflow bucket.
	if d := r.RouteKeyed(urls("s3", 5, "a"), "k", t0); d.Objects() != 5 {
		t.Fatal(d)
	}
	d := r.RouteKeyed(urls("s4", 1, "a"), "k", t0)
	if !d.Retry || !strings.Contains(d.Err().Error(), `source "s4" (sharing one bucket with other sources: more than 3 sources are active)`) {
		t.Errorf("s4: %v", d.Err())
	}
	if len(q.sources) != 3 || q.overflow == nil {
		t.Fatalf("%d sources, overflow %v", len(q.sources), q.overflow)
	}
	// Once their buckets are full again, idle sources are forgotten.
	later := t0.Add(2 * time.Minute)
	if d := r.RouteKeyed(urls("s5", 5, "a"), "k", later); d.Objects() != 5 {
		t.Fatal(d)
	}
	if len(q.sources) != 1 || q.sources["s5"] == nil || q.overflow != nil {
		t.Errorf("sources after sweep: %v, overflow %v", q.sources, q.overflow)
	}
}

func TestQuotaConcurrent(t *testing.T) {
	r := mustRouter(t, `
accounts: {a: {}}
quotas: {per_source_objects_per_minute: 60, burst: 10, max_delay: 5s}
`)
	var mu sync.Mutex
	count := map[string]int{}
	var wg sync.WaitGroup
	for i := range 50 {
		wg.Go(func() {
			d := r.RouteKeyed(urls("cms", 1, "a"), fmt.Sprint(i), t0)
			v := "admitted"
			switch {
			case d.Retry:
				v = "deferred"
			case len(d.Rejected) > 0:
				v = "refused"
			}
			mu.Lock()
			count[v]++
			mu.Unlock()
		})
	}
	wg.Wait()
	if count["admitted"] != 10 || count["deferred"] != 5 || count["refused"] != 35 {
		t.Errorf("verdicts %v", count)
	}
}

func TestQuotaCompactsStaleReferences(t *testing.T) {
	q := newQuotas(Quotas{PerSourceObjectsPerMinute: 60, Burst: 60, MaxTrackedEvents: 10, MaxSources: 10, MaxDelay: time.Minute})
	// An event remembered for long stays at the head of the queue...
	q.track(0, t0.Add(100*trackFor), t0)
	now := t0
	for round := range 100 {
		// ...while others expire behind it and are tracked anew.
		now = now.Add(trackFor + time.Second)
		q.expire(now)
		for k := uint64(1); k <= 5; k++ {
			q.track(k, now, now)
		}
		if live := len(q.queue) - q.head; live > 2*10+64 {
			t.Fatalf("round %d: %d references for %d events", round, live, len(q.tracked))
		}
	}
	if len(q.tracked) != 6 {
		t.Errorf("%d events tracked, want 6", len(q.tracked))
	}
}

func TestRouteKeyedEmptyKey(t *testing.T) {
	r := mustRouter(t, "accounts: {a: {}}\nquotas: {per_source_objects_per_minute: 60, burst: 1}\n")
	// Without a key, distinct events are not mistaken for one another.
	if d := r.RouteKeyed(urls("cms", 1, "a"), "", t0); d.Objects() != 1 {
		t.Fatal(d)
	}
	if d := r.RouteKeyed(urls("cms", 1, "b"), "", t0); !d.Retry {
		t.Errorf("second event not charged: %+v", d)
	}
}
