package integration

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/purgebus/purgebus/akamai"
	"github.com/purgebus/purgebus/akamai/akamaitest"
	"github.com/purgebus/purgebus/consumer"
	"github.com/purgebus/purgebus/events"
)

func TestPurgeAndWait(t *testing.T) {
	r := newRig(t, akamaitest.Options{})
	pub := r.publisher("content.changed.blog")
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()

	ev := events.NewContentChanged("blog").
		AddURLs("https://www.example.com/a", "https://www.example.com/b?x=1&y=2", "https://www.example.com/a").
		AddTags("news").
		AddCPCodes(12345)
	res, err := pub.PurgeAndWait(ctx, ev)
	if err != nil {
		t.Fatalf("PurgeAndWait: %v", err)
	}
	if res.Outcome != events.OutcomeSucceeded || res.EventID != ev.ID || res.Source != "blog" || res.Subject != "content.changed.blog" {
		t.Fatalf("result = %+v", res)
	}
	if len(res.Failures) != 0 || len(res.Purges) != 3 {
		t.Fatalf("want 3 purges (url, tag, cpcode) and no failures, got %+v", res)
	}
	accepted := map[string]akamaitest.Purge{}
	for _, p := range r.fake.Purges() {
		accepted[p.ID] = p
	}
	for _, p := range res.Purges {
		fp, ok := accepted[p.PurgeID]
		if !ok {
			t.Fatalf("purge %s is not one the fake Akamai accepted", p.PurgeID)
		}
		if fp.Type != p.Type || fp.Action != akamai.ActionInvalidate || fp.Network != akamai.NetworkProduction || !slices.Equal(fp.Objects, p.Objects) {
			t.Errorf("result purge %+v does not match what Akamai got %+v", p, fp)
		}
		if p.HTTPStatus != 201 || p.EstimatedSeconds <= 0 || p.SupportID == "" {
			t.Errorf("purge entry %+v lacks Akamai's answer", p)
		}
	}
	if got := r.fake.PurgedObjects(akamai.TypeURL); len(got) != 2 {
		t.Errorf("URLs purged %v, want the 2 distinct URLs once each", got)
	}
	if res.EstimatedCompleteAt.Before(res.CompletedAt) {
		t.Errorf("estimated_complete_at %v before completed_at %v", res.EstimatedCompleteAt, res.CompletedAt)
	}
	if st := r.fake.Stats(); st.Unsigned != 0 {
		t.Errorf("%d requests failed the fake's signature checks", st.Unsigned)
	}
}

// TestCoreNATSPublish publishes raw JSON with plain core NATS, as
// `nats pub` does, with and without ids.
func TestCoreNATSPublish(t *testing.T) {
	r := newRig(t, akamaitest.Options{})
	// A core NATS subscriber sees results as they are published.
	sub, err := r.nc.SubscribeSync("purge.result.>")
	if err != nil {
		t.Fatal(err)
	}
	if err := r.nc.Publish("content.changed", []byte(`{"id":"raw-1","urls":["https://www.example.com/raw"],"action":"delete","network":"staging","source":"shell"}`)); err != nil {
		t.Fatal(err)
	}
	withHeader := nats.NewMsg("content.changed.shop")
	withHeader.Header.Set("Nats-Msg-Id", "hdr-7")
	withHeader.Header.Set("Correlation-Id", "req-abc")
	withHeader.Data = []byte(`{"tags":["shoes"]}`)
	if err := r.nc.PublishMsg(withHeader); err != nil {
		t.Fatal(err)
	}
	if err := r.nc.Publish("content.changed.x.y", []byte(`{"cpcodes":[777]}`)); err != nil {
		t.Fatal(err)
	}
	got := map[string]events.PurgeResult{}
	subjects := map[string]string{}
	for len(got) < 3 {
		m, err := sub.NextMsg(15 * time.Second)
		if err != nil {
			t.Fatalf("waiting for results (have %d): %v", len(got), err)
		}
		if strings.Contains(string(m.Data), "\n") {
			t.Errorf("result is not one line: %s", m.Data)
		}
		res, err := events.DecodeResult(m.Data)
		if err != nil {
			t.Fatal(err)
		}
		got[res.EventID] = res
		subjects[res.EventID] = m.Subject
	}
	if res := got["raw-1"]; res.Outcome != events.OutcomeSucceeded || res.Purges[0].Action != akamai.ActionDelete || res.Purges[0].Network != akamai.NetworkStaging {
		t.Errorf("raw-1: %+v", res)
	}
	if subjects["raw-1"] != "purge.result.succeeded.raw-1" {
		t.Errorf("raw-1 result subject %q", subjects["raw-1"])
	}
	if res, ok := got["hdr-7"]; !ok || res.Purges[0].Type != akamai.TypeTag {
		t.Errorf("event without id should take its Nats-Msg-Id: results %v", keys(got))
	} else if res.CorrelationID != "req-abc" {
		t.Errorf("correlation ID %q, want the publisher's req-abc", res.CorrelationID)
	}
	var derived string
	for id := range got {
		if id != "raw-1" && id != "hdr-7" {
			derived = id
		}
	}
	if !events.ValidID(derived) || len(derived) != 36 || got[derived].Purges[0].Objects[0] != "777" {
		t.Errorf("event without id or header should get a UUID: %q %+v", derived, got[derived])
	}
	var fakeSawStaging bool
	for _, p := range r.fake.Purges() {
		if p.Network == akamai.NetworkStaging && p.Action == akamai.ActionDelete && p.Objects[0] == "https://www.example.com/raw" {
			fakeSawStaging = true
		}
	}
	if !fakeSawStaging {
		t.Error("the fake Akamai never got the delete on staging")
	}
}

func keys[V any](m map[string]V) []string {
	var ks []string
	for k := range m {
		ks = append(ks, k)
	}
	slices.Sort(ks)
	return ks
}

// TestCoalescing: 1,000 events of 3 URLs with 50 % duplicates become few
// requests, each within 50,000 bytes and without a URL twice, and every
// event gets its own objects back.
func TestCoalescing(t *testing.T) {
	r := newRig(t, akamaitest.Options{Buckets: akamaitest.BucketConfig{Disabled: true}})
	pub := r.publisher(events.SubjectContentChanged)
	ctx := context.Background()
	const n = 1000
	want := map[string][]string{}
	unique := map[string]bool{}
	for i := range n {
		// Half the URLs repeat ones of earlier events.
		urls := []string{url(3 * i), url(3*i + 1), url(3*i + 2)}
		if i > 0 {
			urls[1] = url(3 * (i / 2))
			urls[2] = url(3*(i/2) + 1)
		}
		ev := &events.ContentChanged{ID: fmt.Sprintf("co-%d", i), URLs: urls}
		if err := pub.Publish(ctx, ev); err != nil {
			t.Fatal(err)
		}
		want[ev.ID] = urls
		for _, u := range urls {
			unique[u] = true
		}
	}
	results := r.results(n, 60*time.Second)
	for id, urls := range want {
		rs := results[id]
		if len(rs) != 1 {
			t.Fatalf("event %s has %d results, want 1", id, len(rs))
		}
		var got []string
		for _, p := range rs[0].Purges {
			got = append(got, p.Objects...)
		}
		slices.Sort(got)
		w := slices.Clone(urls)
		slices.Sort(w)
		if rs[0].Outcome != events.OutcomeSucceeded || !slices.Equal(got, slices.Compact(w)) {
			t.Fatalf("event %s: outcome %s, objects %v, want its own %v", id, rs[0].Outcome, got, w)
		}
	}
	purges := r.fake.Purges()
	purged := map[string]int{}
	for _, p := range purges {
		if p.BodyBytes > akamai.MaxBodyBytes {
			t.Errorf("request of %d bytes", p.BodyBytes)
		}
		seen := map[string]bool{}
		for _, o := range p.Objects {
			if seen[o] {
				t.Errorf("purge %s carries %s twice", p.ID, o)
			}
			seen[o] = true
			purged[o]++
		}
	}
	for u := range unique {
		if purged[u] == 0 {
			t.Fatalf("%s never purged", u)
		}
	}
	t.Logf("%d events, %d unique URLs, %d requests", n, len(unique), len(purges))
	// Linger 50 ms and a publish rate of thousands per second: far fewer
	// requests than events. One per event would be 1,000.
	if len(purges) > n/10 {
		t.Errorf("%d requests for %d events: coalescing is not working", len(purges), n)
	}
}

func TestDeadLetters(t *testing.T) {
	r := newRig(t, akamaitest.Options{})
	bad := []struct {
		id, payload, reason string
	}{
		{"dl-json", `{"id":"dl-json","urls":[`, "undecodable JSON"},
		{"dl-ftp", `{"id":"dl-ftp","urls":["ftp://www.example.com/a"]}`, "scheme must be http or https"},
		{"dl-empty", `{"id":"dl-empty"}`, "no objects"},
		{"dl-big", `{"id":"dl-big","urls":["https://www.example.com/` + strings.Repeat("x", 1_000_000) + `"]}`, "limit"},
		{"dl-type", `{"id":"dl-type","cpcodes":["12345"]}`, "undecodable JSON"},
	}
	for _, b := range bad {
		if err := r.nc.Publish("content.changed", []byte(b.payload)); err != nil {
			t.Fatal(err)
		}
	}
	// A good event after the bad ones: the pipeline is not blocked.
	if err := r.nc.Publish("content.changed", []byte(`{"id":"good","urls":["https://www.example.com/fine"]}`)); err != nil {
		t.Fatal(err)
	}
	results := r.results(len(bad)+1, 30*time.Second)
	dead := r.deadLetters(len(bad), 30*time.Second)
	for _, b := range bad {
		rs := results[b.id]
		if len(rs) != 1 || rs[0].Outcome != events.OutcomeFailed || len(rs[0].Failures) != 1 || !strings.Contains(rs[0].Failures[0].Detail, b.reason) {
			t.Errorf("%s: results %+v, want one failed result mentioning %q", b.id, rs, b.reason)
		}
		ds := dead[b.id]
		if len(ds) != 1 {
			t.Errorf("%s: %d dead letters, want 1", b.id, len(ds))
			continue
		}
		if !strings.Contains(ds[0].Reason, b.reason) || string(ds[0].OriginalPayload()) != b.payload || ds[0].Subject != "content.changed" {
			t.Errorf("%s: dead letter %q / subject %q does not carry the reason and original payload", b.id, ds[0].Reason, ds[0].Subject)
		}
	}
	if rs := results["good"]; len(rs) != 1 || rs[0].Outcome != events.OutcomeSucceeded {
		t.Errorf("good event after bad ones: %+v", rs)
	}
	if _, ok := dead["good"]; ok {
		t.Error("a good event was dead-lettered")
	}
	for _, p := range r.fake.Purges() {
		for _, o := range p.Objects {
			if strings.HasPrefix(o, "ftp:") {
				t.Errorf("invalid object %s reached Akamai", o)
			}
		}
	}
	// Everything was acked: nothing left for redelivery.
	info, err := r.js.Consumer(context.Background(), events.DefaultContentStream, "purgebus")
	if err != nil {
		t.Fatal(err)
	}
	ci, err := info.Info(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if ci.NumAckPending != 0 || ci.NumPending != 0 {
		t.Errorf("consumer has %d ack-pending and %d pending events, want all acked", ci.NumAckPending, ci.NumPending)
	}
}

// TestPartialFailure: one unauthorised URL fails only the events that
// named it, though it travelled in a batch with many others.
func TestPartialFailure(t *testing.T) {
	r := newRig(t, akamaitest.Options{})
	const bad = "https://www.example.com/forbidden"
	r.fake.Unauthorized(bad)
	pub := r.publisher(events.SubjectContentChanged)
	ctx := context.Background()
	const n = 200
	for i := range n {
		ev := &events.ContentChanged{ID: fmt.Sprintf("pf-%d", i), URLs: []string{url(i)}}
		if i%50 == 7 {
			ev.URLs = append(ev.URLs, bad)
		}
		if err := pub.Publish(ctx, ev); err != nil {
			t.Fatal(err)
		}
	}
	results := r.results(n, 30*time.Second)
	for i := range n {
		id := fmt.Sprintf("pf-%d", i)
		rs := results[id]
		if len(rs) != 1 {
			t.Fatalf("%s: %d results", id, len(rs))
		}
		res := rs[0]
		if i%50 != 7 {
			if res.Outcome != events.OutcomeSucceeded {
				t.Errorf("%s: %s %+v, want succeeded", id, res.Outcome, res.Failures)
			}
			continue
		}
		if res.Outcome != events.OutcomePartial || len(res.Failures) != 1 || res.Failures[0].HTTPStatus != 403 ||
			!slices.Equal(res.Failures[0].Objects, []string{bad}) || len(res.Purges) != 1 || res.Purges[0].Objects[0] != url(i) {
			t.Errorf("%s: %+v, want partial with only %s failed (403)", id, res, bad)
		}
	}
	if _, ok := r.deadLetters(0, time.Second)["pf-7"]; ok {
		t.Error("an Akamai 403 is not a dead letter (the event was valid)")
	}
}

// TestTransientFailuresRetried: 503s, 500s and 429s are retried; every
// event still succeeds and nothing is dead-lettered.
func TestTransientFailuresRetried(t *testing.T) {
	r := newRig(t, akamaitest.Options{})
	r.fake.FailNext(2, 503)
	r.fake.FailNext(1, 429)
	r.fake.FailNext(1, 500)
	pub := r.publisher(events.SubjectContentChanged)
	for i := range 50 {
		if err := pub.Publish(context.Background(), &events.ContentChanged{ID: fmt.Sprintf("tr-%d", i), URLs: []string{url(i)}}); err != nil {
			t.Fatal(err)
		}
	}
	results := r.results(50, 30*time.Second)
	for id, rs := range results {
		if len(rs) != 1 || rs[0].Outcome != events.OutcomeSucceeded {
			t.Errorf("%s: %+v", id, rs)
		}
	}
	if st := r.fake.Stats(); st.Faults < 4 {
		t.Errorf("only %d faults were served; the test did not test retries", st.Faults)
	}
	if d := r.deadLetters(0, 200*time.Millisecond); len(d) != 0 {
		t.Errorf("transient failures made dead letters: %v", keys(d))
	}
}

// TestAkamaiDownRedelivers: when Akamai keeps failing past the attempts,
// the events are naked, not answered, and succeed once Akamai is back.
func TestAkamaiDownRedelivers(t *testing.T) {
	r := newRig(t, akamaitest.Options{}, func(c *consumer.Config) {
		c.Coalescer.MaxAttempts = 2
		c.Streams.BackOff = nil
	})
	r.fake.FailNext(6, 503)
	if err := r.nc.Publish("content.changed", []byte(`{"id":"down-1","urls":["https://www.example.com/down"]}`)); err != nil {
		t.Fatal(err)
	}
	results := r.results(1, 30*time.Second)
	rs := results["down-1"]
	if len(rs) != 1 || rs[0].Outcome != events.OutcomeSucceeded {
		t.Fatalf("down-1: %+v", rs)
	}
	if st := r.fake.Stats(); st.ByStatus[503] != 6 {
		t.Errorf("%d 503s served, want 6", st.ByStatus[503])
	}
}

// TestRestart stops the consumer with events in flight and starts it
// again on the same data: every event gets exactly one result.
func TestRestart(t *testing.T) {
	r := newRig(t, akamaitest.Options{Buckets: akamaitest.BucketConfig{Disabled: true}}, func(c *consumer.Config) {
		c.Streams.AckWait = 2 * time.Second
		c.Coalescer.MaxInFlight = 1
		// 50 events a request, one request every 500 ms: the stop
		// finds events in flight however fast the rest is.
		c.Coalescer.MaxObjects = map[akamai.Type]int{akamai.TypeURL: 100}
	})
	r.fake.SetLatency(500 * time.Millisecond)
	var seen atomic.Int64
	if _, err := r.nc.Subscribe("purge.result.>", func(*nats.Msg) { seen.Add(1) }); err != nil {
		t.Fatal(err)
	}
	pub := r.publisher(events.SubjectContentChanged)
	const n = 3000
	for i := range n {
		if err := pub.Publish(context.Background(), &events.ContentChanged{ID: fmt.Sprintf("rs-%d", i), URLs: []string{url(i), url(i + 1)}}); err != nil {
			t.Fatal(err)
		}
	}
	// Let some, not all, finish; then stop mid-flight.
	r.results(100, 30*time.Second)
	r.stop()
	if before := seen.Load(); before >= n {
		t.Fatalf("all %d events had results before the stop; the test needs some in flight", before)
	}
	r.fake.SetLatency(0)
	r.start()
	results := r.results(n, 60*time.Second)
	for i := range n {
		id := fmt.Sprintf("rs-%d", i)
		if rs := results[id]; len(rs) != 1 || rs[0].Outcome != events.OutcomeSucceeded {
			t.Fatalf("%s: %d results %+v, want exactly one success", id, len(rs), rs)
		}
	}
}
