package metrics_test

import (
	"context"
	"errors"
	"fmt"
	"math"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/purgebus/purgebus/akamai"
	"github.com/purgebus/purgebus/events"
	"github.com/purgebus/purgebus/handler"
	"github.com/purgebus/purgebus/metrics"
)

func newMetrics(t *testing.T) (*metrics.Metrics, *scraper) {
	t.Helper()
	reg := prometheus.NewRegistry()
	return metrics.New(reg), newScraper(t, reg)
}

func TestEvents(t *testing.T) {
	const (
		finished = "purgebus_events_finished_total"
		latency  = "purgebus_event_latency_seconds"
		dead     = "purgebus_events_dead_lettered_total"
	)
	tests := []struct {
		name string
		do   func(m *metrics.Metrics)
		want []sample
	}{
		{
			name: "nothing happened: the series alerts need are at zero",
			do:   func(*metrics.Metrics) {},
			want: []sample{
				{"purgebus_events_received_total", nil, 0},
				{"purgebus_events_in_flight", nil, 0},
				{"purgebus_events_retried_total", nil, 0},
				{finished, labels{"outcome", "succeeded"}, 0},
				{finished, labels{"outcome", "partial"}, 0},
				{finished, labels{"outcome", "failed"}, 0},
				{dead, labels{"reason", "poison"}, 0},
				{dead, labels{"reason", "other"}, 0},
				{"purgebus_purge_rate_limited_total", labels{"type", "tag"}, 0},
			},
		},
		{
			name: "received and still in flight",
			do: func(m *metrics.Metrics) {
				m.EventReceived()
				m.EventReceived()
				m.EventHandled(nil)
			},
			want: []sample{
				{"purgebus_events_received_total", nil, 2},
				{"purgebus_events_in_flight", nil, 1},
				{"purgebus_events_retried_total", nil, 0},
			},
		},
		{
			name: "a nacked delivery is retried",
			do: func(m *metrics.Metrics) {
				m.EventReceived()
				m.EventHandled(errors.New("akamai 503"))
				m.EventReceived()
				m.EventHandled(nil)
			},
			want: []sample{
				{"purgebus_events_received_total", nil, 2},
				{"purgebus_events_in_flight", nil, 0},
				{"purgebus_events_retried_total", nil, 1},
			},
		},
		{
			name: "outcomes and their latency",
			do: func(m *metrics.Metrics) {
				m.EventFinished("succeeded", 80*time.Millisecond)
				m.EventFinished(string(events.OutcomeSucceeded), 3*time.Second)
				m.EventFinished("partial", time.Second)
				m.EventFinished("failed", -time.Second) // clock skew
			},
			want: []sample{
				{finished, labels{"outcome", "succeeded"}, 2},
				{finished, labels{"outcome", "partial"}, 1},
				{finished, labels{"outcome", "failed"}, 1},
				{latency, labels{"outcome", "succeeded"}, 2},
				{latency, labels{"outcome", "failed"}, 1},
			},
		},
		{
			name: "an unknown outcome is other, never a label of its own",
			do:   func(m *metrics.Metrics) { m.EventFinished("https://example.com/secret", time.Second) },
			want: []sample{{finished, labels{"outcome", "other"}, 1}, {latency, labels{"outcome", "other"}, 1}},
		},
		{
			name: "dead letters by class",
			do: func(m *metrics.Metrics) {
				m.DeadLettered("invalid event: undecodable JSON: unexpected EOF")
				m.DeadLettered("invalid event: 2 invalid object(s); invalid url \"x\": not absolute")
				m.DeadLettered("handler panicked on 3 deliveries: boom")
				m.DeadLettered("poison")
				m.DeadLettered("something nobody foresaw")
			},
			want: []sample{
				{dead, labels{"reason", "undecodable"}, 1},
				{dead, labels{"reason", "invalid_objects"}, 1},
				{dead, labels{"reason", "poison"}, 2},
				{dead, labels{"reason", "other"}, 1},
				{dead, labels{"reason", "too_large"}, 0},
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m, s := newMetrics(t)
			tt.do(m)
			s.scrape().check(tt.want...)
		})
	}
}

func TestEventLatencyBuckets(t *testing.T) {
	m, s := newMetrics(t)
	m.EventFinished("succeeded", 15*time.Millisecond)
	m.EventFinished("succeeded", 45*time.Second)
	m.EventFinished("succeeded", 2*time.Minute)
	h := s.scrape().histogram("purgebus_event_latency_seconds", labels{"outcome", "succeeded"})
	cum := map[float64]uint64{}
	for _, b := range h.GetBucket() {
		cum[b.GetUpperBound()] = b.GetCumulativeCount()
	}
	for bound, want := range map[float64]uint64{0.01: 0, 0.025: 1, 30: 1, 60: 2, math.Inf(1): 3} {
		if got, ok := cum[bound]; !ok || got != want {
			t.Errorf("bucket le=%v: %d (present %v), want %d", bound, got, ok, want)
		}
	}
	if got, want := h.GetSampleSum(), 0.015+45+120; math.Abs(got-want) > 1e-9 {
		t.Errorf("sum = %v, want %v", got, want)
	}
}

func TestObserveRequest(t *testing.T) {
	url := handler.Key{Type: akamai.TypeURL, Action: akamai.ActionInvalidate, Network: akamai.NetworkProduction}
	tag := handler.Key{Type: akamai.TypeTag, Action: akamai.ActionDelete, Network: akamai.NetworkStaging}
	const (
		requests = "purgebus_purge_requests_total"
		duration = "purgebus_purge_request_duration_seconds"
	)
	rejected := &akamai.Error{HTTPStatus: 429}
	tests := []struct {
		name   string
		stats  []handler.RequestStats
		want   []sample
		absent []sample
	}{
		{
			name: "accepted",
			stats: []handler.RequestStats{
				{Key: url, Objects: 120, Status: 201, Latency: 300 * time.Millisecond, Attempt: 1},
				{Key: url, Objects: 30, Status: 201, Latency: 200 * time.Millisecond, Attempt: 1},
			},
			want: []sample{
				{requests, labels{"type", "url", "action", "invalidate", "network", "production", "status", "201"}, 2},
				{duration, labels{"type", "url", "result", "accepted"}, 2},
				{"purgebus_objects_sent_total", labels{"type", "url"}, 150},
				{"purgebus_objects_purged_total", labels{"type", "url"}, 150},
				{"purgebus_objects_purged_total", labels{"type", "tag"}, 0},
				{"purgebus_purge_retries_total", labels{"type", "url"}, 0},
			},
		},
		{
			name: "rate limited, then retried and accepted",
			stats: []handler.RequestStats{
				{Key: tag, Objects: 5, Status: 429, Err: rejected, Attempt: 1},
				{Key: tag, Objects: 5, Status: 201, Attempt: 2},
			},
			want: []sample{
				{requests, labels{"type", "tag", "action", "delete", "network", "staging", "status", "429"}, 1},
				{requests, labels{"type", "tag", "action", "delete", "network", "staging", "status", "201"}, 1},
				{duration, labels{"type", "tag", "result", "refused"}, 1},
				{duration, labels{"type", "tag", "result", "accepted"}, 1},
				{"purgebus_purge_rate_limited_total", labels{"type", "tag"}, 1},
				{"purgebus_purge_retries_total", labels{"type", "tag"}, 1},
				{"purgebus_objects_sent_total", labels{"type", "tag"}, 10},
				{"purgebus_objects_purged_total", labels{"type", "tag"}, 5},
			},
		},
		{
			name:  "no answer at all",
			stats: []handler.RequestStats{{Key: url, Objects: 3, Err: context.DeadlineExceeded, Attempt: 1}},
			want: []sample{
				{requests, labels{"type", "url", "action", "invalidate", "network", "production", "status", "error"}, 1},
				{duration, labels{"type", "url", "result", "error"}, 1},
				{"purgebus_objects_purged_total", labels{"type", "url"}, 0},
			},
		},
		{
			name: "values outside the fixed sets are other",
			stats: []handler.RequestStats{{
				Key:     handler.Key{Type: "arl", Action: "nuke", Network: "moon"},
				Objects: 1, Status: 1234, Err: errors.New("odd"), Attempt: 1,
			}},
			want: []sample{
				{requests, labels{"type", "other", "action", "other", "network", "other", "status", "other"}, 1},
				{"purgebus_objects_sent_total", labels{"type", "other"}, 1},
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m, s := newMetrics(t)
			for _, st := range tt.stats {
				m.ObserveRequest(st)
			}
			f := s.scrape()
			f.check(tt.want...)
		})
	}
}

func TestObserveRequestIsCoalescerObserve(t *testing.T) {
	m, _ := newMetrics(t)
	_ = handler.CoalescerConfig{Observe: m.ObserveRequest}
}

func TestCoalescingRatio(t *testing.T) {
	m, s := newMetrics(t)
	const ratio = "purgebus_coalescing_ratio"
	f := s.scrape()
	f.absent(ratio, labels{"type", "url"})

	m.ObjectsSubmitted(akamai.TypeURL, 600)
	m.ObjectsSubmitted(akamai.TypeURL, 400)
	m.ObjectsSubmitted(akamai.TypeTag, 7)
	m.ObjectsSubmitted(akamai.TypeCPCode, 0) // nothing
	m.ObserveRequest(handler.RequestStats{Key: handler.Key{Type: akamai.TypeURL}, Objects: 250, Status: 201, Attempt: 1})
	m.ObserveRequest(handler.RequestStats{Key: handler.Key{Type: akamai.TypeURL}, Objects: 150, Status: 201, Attempt: 1})
	f = s.scrape()
	f.check(
		sample{"purgebus_objects_submitted_total", labels{"type", "url"}, 1000},
		sample{"purgebus_objects_submitted_total", labels{"type", "tag"}, 7},
		sample{"purgebus_objects_submitted_total", labels{"type", "cpcode"}, 0},
		sample{"purgebus_objects_sent_total", labels{"type", "url"}, 400},
		sample{ratio, labels{"type", "url"}, 2.5},
	)
	// Tags were submitted but none sent yet: no ratio rather than a
	// misleading one.
	f.absent(ratio, labels{"type", "tag"})
	f.absent(ratio, labels{"type", "cpcode"})
}

func TestSetCircuit(t *testing.T) {
	m, s := newMetrics(t)
	m.SetCircuit("ccu", metrics.CircuitOpen)
	m.SetCircuit("other-account", metrics.CircuitHalfOpen)
	m.SetCircuit("ccu", metrics.CircuitClosed)
	s.scrape().check(
		sample{"purgebus_circuit_state", labels{"account", "ccu"}, 0},
		sample{"purgebus_circuit_state", labels{"account", "other-account"}, 2},
	)
}

func TestWatchBuckets(t *testing.T) {
	reg := prometheus.NewRegistry()
	m := metrics.New(reg)
	s := newScraper(t, reg)
	var levels atomic.Pointer[[]metrics.BucketLevel]
	levels.Store(&[]metrics.BucketLevel{})
	if err := m.WatchBuckets(func() []metrics.BucketLevel { return *levels.Load() }); err != nil {
		t.Fatal(err)
	}
	const (
		remaining = "purgebus_ratelimit_tokens_remaining"
		capacity  = "purgebus_ratelimit_tokens_capacity"
	)
	s.scrape().absent(remaining, labels{"account", "ccu", "bucket", "requests"})

	levels.Store(&[]metrics.BucketLevel{
		{Account: "ccu", Bucket: metrics.BucketRequests, Remaining: 90, Capacity: 100},
		{Account: "ccu", Bucket: metrics.BucketURL, Remaining: 10000},
		{Account: "ccu", Bucket: metrics.BucketURL, Remaining: 9000, Capacity: 10000}, // the last one wins
		{Account: "ccu", Bucket: "https://example.com/x", Remaining: 1},
		{Account: "ccu", Bucket: metrics.BucketTag, Remaining: math.NaN(), Capacity: 5000},
	})
	f := s.scrape()
	f.check(
		sample{remaining, labels{"account", "ccu", "bucket", "requests"}, 90},
		sample{capacity, labels{"account", "ccu", "bucket", "requests"}, 100},
		sample{remaining, labels{"account", "ccu", "bucket", "url"}, 9000},
		sample{capacity, labels{"account", "ccu", "bucket", "url"}, 10000},
		sample{remaining, labels{"account", "ccu", "bucket", "other"}, 1},
		sample{capacity, labels{"account", "ccu", "bucket", "tag"}, 5000},
	)
	f.absent(capacity, labels{"account", "ccu", "bucket", "other"})
	f.absent(remaining, labels{"account", "ccu", "bucket", "tag"})

	// A restarted consumer watches again: the new callback replaces the
	// old one; nil stops the export.
	if err := m.WatchBuckets(func() []metrics.BucketLevel {
		return []metrics.BucketLevel{{Account: "ccu", Bucket: metrics.BucketTag, Remaining: 7}}
	}); err != nil {
		t.Fatal(err)
	}
	f = s.scrape()
	f.check(sample{remaining, labels{"account", "ccu", "bucket", "tag"}, 7})
	f.absent(remaining, labels{"account", "ccu", "bucket", "requests"})
	if err := m.WatchBuckets(nil); err != nil {
		t.Fatal(err)
	}
	s.scrape().absent(remaining, labels{"account", "ccu", "bucket", "tag"})
}

func TestRateLimitLevels(t *testing.T) {
	tests := []struct {
		name string
		t    akamai.Type
		rl   akamai.RateLimit
		want []metrics.BucketLevel
	}{
		{name: "no headers", t: akamai.TypeURL},
		{
			name: "both buckets",
			t:    akamai.TypeCPCode,
			rl: akamai.RateLimit{Limit: 100, Remaining: 42, LimitObjects: 10000, RemainingObjects: 9876,
				Fields: akamai.FieldLimit | akamai.FieldRemaining | akamai.FieldLimitObjects | akamai.FieldRemainingObjects},
			want: []metrics.BucketLevel{
				{Account: "ccu", Bucket: "requests", Remaining: 42, Capacity: 100},
				{Account: "ccu", Bucket: "cpcode", Remaining: 9876, Capacity: 10000},
			},
		},
		{
			name: "remaining without limit",
			t:    akamai.TypeTag,
			rl:   akamai.RateLimit{RemainingObjects: 3, Fields: akamai.FieldRemainingObjects},
			want: []metrics.BucketLevel{{Account: "ccu", Bucket: "tag", Remaining: 3}},
		},
		{
			name: "an absent Remaining is not an empty bucket",
			t:    akamai.TypeURL,
			rl:   akamai.RateLimit{Limit: 100, Fields: akamai.FieldLimit},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := metrics.RateLimitLevels("ccu", tt.t, tt.rl)
			if fmt.Sprint(got) != fmt.Sprint(tt.want) {
				t.Errorf("got %v, want %v", got, tt.want)
			}
		})
	}
}

func TestWatchConsumerLag(t *testing.T) {
	reg := prometheus.NewRegistry()
	m := metrics.New(reg)
	s := newScraper(t, reg)
	var fail atomic.Bool
	var calls atomic.Int64
	err := m.WatchConsumerLag(func(ctx context.Context) (uint64, uint64, error) {
		calls.Add(1)
		if _, ok := ctx.Deadline(); !ok {
			t.Error("the lag callback's context has no deadline")
		}
		if fail.Load() {
			return 0, 0, errors.New("nats: timeout")
		}
		return 1234, 1000, nil
	})
	if err != nil {
		t.Fatal(err)
	}
	const (
		pending    = "purgebus_consumer_pending_messages"
		ackPending = "purgebus_consumer_ack_pending_messages"
		errs       = "purgebus_consumer_lag_errors_total"
	)
	s.scrape().check(sample{pending, nil, 1234}, sample{ackPending, nil, 1000}, sample{errs, nil, 0})

	// A failing callback leaves the gauges out, counts the failure, and
	// the rest of the scrape goes on.
	m.EventReceived()
	fail.Store(true)
	f := s.scrape()
	f.absent(pending, nil)
	f.absent(ackPending, nil)
	f.check(sample{errs, nil, 1}, sample{"purgebus_events_received_total", nil, 1})

	fail.Store(false)
	s.scrape().check(sample{pending, nil, 1234}, sample{errs, nil, 1})
	if calls.Load() != 3 {
		t.Errorf("callback called %d times for 3 scrapes", calls.Load())
	}
}

func TestWatchConsumerLagReplaced(t *testing.T) {
	m, s := newMetrics(t)
	const pending = "purgebus_consumer_pending_messages"
	for _, n := range []uint64{5, 9} {
		if err := m.WatchConsumerLag(func(context.Context) (uint64, uint64, error) { return n, 0, nil }); err != nil {
			t.Fatal(err)
		}
		s.scrape().check(sample{pending, nil, float64(n)})
	}
	// A closed consumer stops the export.
	if err := m.WatchConsumerLag(nil); err != nil {
		t.Fatal(err)
	}
	f := s.scrape()
	f.absent(pending, nil)
	f.check(sample{"purgebus_consumer_lag_errors_total", nil, 0})
}

// TestWatchConflict: a registry that already holds the names refuses the
// collectors, and the error says so.
func TestWatchConflict(t *testing.T) {
	reg := prometheus.NewRegistry()
	reg.MustRegister(prometheus.NewGauge(prometheus.GaugeOpts{Name: "purgebus_consumer_pending_messages", Help: "other"}))
	m := metrics.New(reg)
	if err := m.WatchConsumerLag(func(context.Context) (uint64, uint64, error) { return 0, 0, nil }); err == nil {
		t.Error("WatchConsumerLag succeeded over a conflicting metric")
	}
}

func TestDeadLetterClass(t *testing.T) {
	// The reasons are the handler's: err.Error() of what events.Decode
	// returns, so the classes follow the events package's wording.
	decode := func(payload string, max int) string {
		_, err := events.Decode([]byte(payload), max)
		if err == nil {
			t.Fatalf("%q decoded", payload)
		}
		return err.Error()
	}
	tests := []struct {
		reason string
		want   string
	}{
		{decode(`{"urls":["https://example.com/`+strings.Repeat("a", 100)+`"]}`, 64), "too_large"},
		{decode("{\"urls\":[\"\xff\"]}", 0), "undecodable"},
		{decode(`{"urls":`, 0), "undecodable"},
		{decode(`{"urls":[]} {}`, 0), "undecodable"},
		{decode(`{"urls":"https://example.com/"}`, 0), "undecodable"},
		{decode(`{"urls":["/relative"],"tags":["ok","bad tag"]}`, 0), "invalid_objects"},
		// An object that quotes another class's words is still invalid_objects.
		{decode(`{"urls":["handler panicked"]}`, 0), "invalid_objects"},
		{decode(`{"urls":["https://example.com/"],"action":"nuke"}`, 0), "invalid_event"},
		{decode(`{"urls":["https://example.com/"],"network":"moon"}`, 0), "invalid_event"},
		{decode(`{"source":"cms"}`, 0), "invalid_event"},
		{(&events.InvalidEventError{Reason: `id "x y" is not 1-128 characters`}).Error(), "invalid_event"},
		{"handler panicked on 3 deliveries: runtime error: index out of range", "poison"},
		{"too_large", "too_large"},
		{"", "other"},
		{"publish failed", "other"},
	}
	for _, tt := range tests {
		t.Run(tt.want+"/"+tt.reason, func(t *testing.T) {
			if got := metrics.DeadLetterClass(tt.reason); got != tt.want {
				t.Errorf("DeadLetterClass(%q) = %q, want %q", tt.reason, got, tt.want)
			}
		})
	}
}

func TestNilMetricsDoesNothing(t *testing.T) {
	var m *metrics.Metrics
	m.EventReceived()
	m.EventHandled(errors.New("x"))
	m.EventFinished("succeeded", time.Second)
	m.DeadLettered("poison")
	m.ObjectsSubmitted(akamai.TypeURL, 3)
	m.ObserveRequest(handler.RequestStats{Objects: 3})
	m.SetCircuit("ccu", metrics.CircuitOpen)
	if err := m.WatchBuckets(nil); err != nil {
		t.Error(err)
	}
	if err := m.WatchConsumerLag(nil); err != nil {
		t.Error(err)
	}
	if err := m.InstrumentRouter(nil); err != nil {
		t.Error(err)
	}
	h := m.Middleware(nil)
	_ = h
}

func TestNilRegistry(t *testing.T) {
	m := metrics.New(nil)
	m.EventReceived()
	if err := m.WatchBuckets(func() []metrics.BucketLevel { return nil }); err != nil {
		t.Error(err)
	}
}

func TestNewTwiceOnOneRegistryPanics(t *testing.T) {
	reg := prometheus.NewRegistry()
	metrics.New(reg)
	defer func() {
		if recover() == nil {
			t.Error("a second New on the same registry did not panic")
		}
	}()
	metrics.New(reg)
}

func TestNewRegistry(t *testing.T) {
	reg := metrics.NewRegistry()
	metrics.New(reg)
	f := newScraper(t, reg).scrape()
	for _, name := range []string{"go_goroutines", "process_start_time_seconds", "purgebus_events_received_total"} {
		if f.m[name] == nil {
			t.Errorf("%s missing from the scrape", name)
		}
	}
}

type fakePublisher struct {
	err      error
	subjects []string
}

func (p *fakePublisher) Publish(_ context.Context, subject string, _ []byte, _ string) error {
	p.subjects = append(p.subjects, subject)
	return p.err
}

func TestWrapPublisher(t *testing.T) {
	received := time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)
	result := func(o events.Outcome, took time.Duration) []byte {
		r := events.PurgeResult{EventID: "e1", Outcome: o, ReceivedAt: received, CompletedAt: received.Add(took)}
		data, err := r.Encode()
		if err != nil {
			t.Fatal(err)
		}
		return data
	}
	deadLetter := func(reason string) []byte {
		d := events.DeadLetter{EventID: "e1", Reason: reason, Payload: "{", ReceivedAt: received, DeadAt: received}
		data, err := d.Encode()
		if err != nil {
			t.Fatal(err)
		}
		return data
	}
	type publish struct {
		subject string
		data    []byte
		fail    bool
	}
	tests := []struct {
		name      string
		publishes []publish
		want      []sample
	}{
		{
			name: "results",
			publishes: []publish{
				{subject: events.ResultSubject(events.OutcomeSucceeded, "e1"), data: result(events.OutcomeSucceeded, 1500*time.Millisecond)},
				{subject: events.ResultSubject(events.OutcomePartial, "e2"), data: result(events.OutcomePartial, 20*time.Second)},
			},
			want: []sample{
				{"purgebus_events_finished_total", labels{"outcome", "succeeded"}, 1},
				{"purgebus_events_finished_total", labels{"outcome", "partial"}, 1},
				{"purgebus_event_latency_seconds", labels{"outcome", "succeeded"}, 1},
			},
		},
		{
			name: "a dead letter and its failed result",
			publishes: []publish{
				{subject: events.DeadLetterSubject("e1"), data: deadLetter("invalid event: undecodable JSON: unexpected EOF")},
				{subject: events.ResultSubject(events.OutcomeFailed, "e1"), data: result(events.OutcomeFailed, 0)},
			},
			want: []sample{
				{"purgebus_events_dead_lettered_total", labels{"reason", "undecodable"}, 1},
				{"purgebus_events_finished_total", labels{"outcome", "failed"}, 1},
			},
		},
		{
			name: "nothing is counted that was not stored",
			publishes: []publish{
				{subject: events.ResultSubject(events.OutcomeSucceeded, "e1"), data: result(events.OutcomeSucceeded, time.Second), fail: true},
				{subject: events.DeadLetterSubject("e1"), data: deadLetter("poison"), fail: true},
				{subject: "something.else", data: []byte(`{"outcome":"succeeded"}`)},
			},
			want: []sample{
				{"purgebus_events_finished_total", labels{"outcome", "succeeded"}, 0},
				{"purgebus_events_dead_lettered_total", labels{"reason", "poison"}, 0},
				{"purgebus_event_latency_seconds", labels{"outcome", "succeeded"}, 0},
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m, s := newMetrics(t)
			for _, p := range tt.publishes {
				fake := &fakePublisher{}
				if p.fail {
					fake.err = errors.New("nats: timeout")
				}
				err := m.WrapPublisher(fake).Publish(context.Background(), p.subject, p.data, "id")
				if (err != nil) != p.fail || len(fake.subjects) != 1 || fake.subjects[0] != p.subject {
					t.Fatalf("publish %s: err %v, published %v", p.subject, err, fake.subjects)
				}
			}
			s.scrape().check(tt.want...)
		})
	}
	// The latency is the result's own: 1.5 s lands in the 2.5 s bucket.
	m, s := newMetrics(t)
	_ = m.WrapPublisher(&fakePublisher{}).Publish(context.Background(),
		events.ResultSubject(events.OutcomeSucceeded, "e1"), result(events.OutcomeSucceeded, 1500*time.Millisecond), "id")
	if sum := s.scrape().histogram("purgebus_event_latency_seconds", labels{"outcome", "succeeded"}).GetSampleSum(); sum != 1.5 {
		t.Errorf("latency sum %v, want 1.5", sum)
	}
	var nilMetrics *metrics.Metrics
	fake := &fakePublisher{}
	if nilMetrics.WrapPublisher(fake) != handler.Publisher(fake) {
		t.Error("a nil Metrics wrapped the publisher")
	}
}
