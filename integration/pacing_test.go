package integration

import (
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/purgebus/purgebus/akamai"
	"github.com/purgebus/purgebus/akamai/akamaitest"
	"github.com/purgebus/purgebus/budget"
	"github.com/purgebus/purgebus/consumer"
	"github.com/purgebus/purgebus/events"
)

// timeScale runs the fake Akamai's buckets ten times faster than Akamai's,
// and purgebus's budget to match: 10 s here are 100 s of real traffic.
const timeScale = 10

func scaled(c *consumer.Config) { c.Limits = budget.AkamaiLimits().Scale(timeScale) }

// publishURLs publishes n events of perEvent unique URLs each, from URL
// number first on, and returns the event IDs with their URLs. It publishes
// asynchronously, so that the backlog builds faster than any bucket
// drains it and the tests measure purgebus, not the publisher.
func publishURLs(t *testing.T, r *rig, prefix string, n, perEvent, first int) map[string][]string {
	t.Helper()
	return publishAll(t, r, urlEvents(prefix, url, n, perEvent, first))
}

// urlEvents returns n events of perEvent URLs each, from URL number first
// on, with IDs prefix-0, prefix-1, ...
func urlEvents(prefix string, url func(int) string, n, perEvent, first int) []*events.ContentChanged {
	evs := make([]*events.ContentChanged, n)
	for i := range evs {
		ev := &events.ContentChanged{ID: fmt.Sprintf("%s-%d", prefix, i)}
		for j := range perEvent {
			ev.URLs = append(ev.URLs, url(first+i*perEvent+j))
		}
		evs[i] = ev
	}
	return evs
}

// publishAll publishes evs asynchronously, in their order, and returns
// the event IDs with their URLs once JetStream stored every one.
func publishAll(t *testing.T, r *rig, evs []*events.ContentChanged) map[string][]string {
	t.Helper()
	js, err := jetstream.New(r.nc, jetstream.WithPublishAsyncMaxPending(1000))
	if err != nil {
		t.Fatal(err)
	}
	want := make(map[string][]string, len(evs))
	for _, ev := range evs {
		data, err := ev.Encode()
		if err != nil {
			t.Fatal(err)
		}
		if _, err := js.PublishAsync(events.SubjectContentChanged, data, jetstream.WithMsgID(ev.ID), jetstream.WithStallWait(time.Minute)); err != nil {
			t.Fatal(err)
		}
		want[ev.ID] = ev.URLs
	}
	select {
	case <-js.PublishAsyncComplete():
	case <-time.After(time.Minute):
		t.Fatalf("%d events not stored after a minute", js.PublishAsyncPending())
	}
	return want
}

// checkSucceeded fails the test unless every event of want has a result,
// and every result of it succeeded.
func checkSucceeded(t *testing.T, results map[string][]events.PurgeResult, want map[string][]string) {
	t.Helper()
	for id := range want {
		rs := results[id]
		if len(rs) == 0 {
			t.Fatalf("event %s has no result", id)
		}
		for _, res := range rs {
			if res.Outcome != events.OutcomeSucceeded {
				t.Fatalf("event %s: %s %+v", id, res.Outcome, res.Failures)
			}
		}
	}
}

// checkAllPurged fails the test unless every event has exactly one
// result, succeeded, and every URL reached the fake.
func checkAllPurged(t *testing.T, r *rig, want map[string][]string, timeout time.Duration) {
	t.Helper()
	checkSucceeded(t, r.results(len(want), timeout), want)
	purged := map[string]int{}
	for _, u := range r.fake.PurgedObjects(akamai.TypeURL) {
		purged[u]++
	}
	for id, urls := range want {
		for _, u := range urls {
			if purged[u] == 0 {
				t.Fatalf("%s of event %s never reached Akamai", u, id)
			}
		}
	}
	if d := r.deadLetters(0, 100*time.Millisecond); len(d) != 0 {
		t.Errorf("%d dead letters, want none", len(d))
	}
}

// TestPacingBurstAtBucketRate: 30,000 unique URLs against Akamai's real
// bucket sizes go without a single 429, in a time within 2 % of the
// bucket's minimum: 10,000 at once, the rest at the refill rate.
func TestPacingBurstAtBucketRate(t *testing.T) {
	r := newRig(t, akamaitest.Options{TimeScale: timeScale}, scaled)
	// 30 URLs an event: the test measures pacing, which must not wait
	// for a pipeline slowed by the race detector on 2 shared cores.
	const events, perEvent = 1000, 30
	want := publishURLs(t, r, "burst", events, perEvent, 0)
	checkAllPurged(t, r, want, 120*time.Second)

	purges := r.fake.Purges()
	first, last := purges[0].ReceivedAt, purges[0].ReceivedAt
	objects := 0
	for _, p := range purges {
		first, last = minTime(first, p.ReceivedAt), maxTime(last, p.ReceivedAt)
		objects += len(p.Objects)
	}
	b := budget.AkamaiLimits().Scale(timeScale).URL
	minimum := time.Duration(float64(objects-b.Capacity) / b.PerSecond * float64(time.Second))
	took := last.Sub(first)
	st := r.fake.Stats()
	t.Logf("%d URLs in %d requests over %v; bucket minimum %v (ratio %.4f); 429s: %d",
		objects, len(purges), took, minimum, float64(took)/float64(minimum), st.RateLimited)
	if st.RateLimited != 0 {
		t.Errorf("%d 429s: purgebus went faster than the buckets", st.RateLimited)
	}
	if objects < events*perEvent {
		t.Errorf("%d URLs purged, want %d", objects, events*perEvent)
	}
	if took > minimum*102/100 {
		t.Errorf("took %v, more than 2 %% over the bucket's minimum %v", took, minimum)
	}
}

// TestPacingSharesTheAccount: another client of the same account spends
// half of the URL bucket's refill behind purgebus's back. purgebus learns
// it from Akamai's headers and slows down; whatever 429s it meets are
// retried, and nothing is lost.
func TestPacingSharesTheAccount(t *testing.T) {
	r := newRig(t, akamaitest.Options{TimeScale: timeScale}, scaled)
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		// 1,000 URLs per second of the 2,000 the bucket refills, and a
		// first bite of 5,000 from the burst.
		r.fake.SpendTokens(1, 5000, 0, 0)
		tick := time.NewTicker(50 * time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-stop:
				return
			case <-tick.C:
				r.fake.SpendTokens(1, 50, 0, 0)
			}
		}
	}()
	want := publishURLs(t, r, "shared", 1000, 15, 100000)
	checkAllPurged(t, r, want, 120*time.Second)
	close(stop)
	wg.Wait()
	st := r.fake.Stats()
	t.Logf("%d purge requests, %d 429s, %d URLs", st.Purges, st.RateLimited, st.Objects[akamai.TypeURL])
	// Without the headers purgebus would believe it has 10,000 URLs at
	// start and meet a 429 on nearly every request; with them it meets
	// at most a few, when the other client spends between our look and
	// our request.
	if st.RateLimited > st.Purges/2 {
		t.Errorf("%d 429s for %d purges: purgebus does not adapt to the other client", st.RateLimited, st.Purges)
	}
}

func minTime(a, b time.Time) time.Time {
	if b.Before(a) {
		return b
	}
	return a
}

func maxTime(a, b time.Time) time.Time {
	if b.After(a) {
		return b
	}
	return a
}
