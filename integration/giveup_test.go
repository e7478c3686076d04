package integration

import (
	"context"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/purgebus/purgebus/akamai/akamaitest"
	"github.com/purgebus/purgebus/consumer"
	"github.com/purgebus/purgebus/events"
	"github.com/purgebus/purgebus/handler"
	"github.com/purgebus/purgebus/internal/testlog"
	"github.com/purgebus/purgebus/internal/testwait"
	"github.com/purgebus/purgebus/metrics"
)

// TestLastDeliveryDeadLetters: an event that Akamai never accepts ends on
// the durable's last delivery with a dead letter and a failed result that
// say why, instead of being redelivered for ever.
func TestLastDeliveryDeadLetters(t *testing.T) {
	r := newRig(t, akamaitest.Options{}, func(c *consumer.Config) {
		c.Streams.MaxDeliver = 2
		c.Coalescer.MaxAttempts = 1
	})
	r.fake.SetFaultRate(1, 1, akamaitest.Fault{Status: 503})
	if err := r.nc.Publish("content.changed", []byte(`{"id":"never-1","urls":["https://www.example.com/never"]}`)); err != nil {
		t.Fatal(err)
	}
	rs := r.results(1, 15*time.Second)["never-1"]
	ds := r.deadLetters(1, 5*time.Second)["never-1"]
	if len(rs) != 1 || rs[0].Outcome != events.OutcomeFailed || len(rs[0].Failures) != 1 ||
		!strings.HasPrefix(rs[0].Failures[0].Detail, handler.GiveUpPrefix+"not finished after 2 deliveries: ") {
		t.Fatalf("results %+v, want one failed result that gave up after 2 deliveries", rs)
	}
	if len(ds) != 1 || !strings.HasPrefix(ds[0].Reason, handler.GiveUpPrefix) || string(ds[0].OriginalPayload()) != `{"id":"never-1","urls":["https://www.example.com/never"]}` {
		t.Fatalf("dead letters %+v, want one that gave up, with the event", ds)
	}
	if n := r.fake.Stats().ByStatus[503]; n != 2 {
		t.Errorf("Akamai was asked %d times, want once per delivery (2)", n)
	}
	assertAllAcked(t, r)
}

// TestStuckEventReported: an event that stays unacknowledged longer than
// StuckAfter shows in /readyz's events check, in
// purgebus_oldest_unacked_event_age_seconds and in a log line with its
// ID; once it is purged, all three are clear again.
func TestStuckEventReported(t *testing.T) {
	reg := prometheus.NewRegistry()
	logs := &testlog.Buffer{}
	r := newRig(t, akamaitest.Options{}, func(c *consumer.Config) {
		c.StuckAfter = 300 * time.Millisecond
		c.Coalescer.MaxAttempts = 1
		c.Metrics = metrics.New(reg)
		c.Logger = slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelWarn}))
	})
	r.fake.SetFaultRate(1, 1, akamaitest.Fault{Status: 503})
	if err := r.nc.Publish("content.changed", []byte(`{"id":"stuck-1","urls":["https://www.example.com/stuck"]}`)); err != nil {
		t.Fatal(err)
	}
	check := eventsCheck(t, r.cons)
	age := func() float64 {
		n, err := testutil.GatherAndCount(reg, "purgebus_oldest_unacked_event_age_seconds")
		if err != nil || n != 1 {
			t.Fatalf("oldest unacked age: %d series, %v", n, err)
		}
		mfs, _ := reg.Gather()
		for _, mf := range mfs {
			if mf.GetName() == "purgebus_oldest_unacked_event_age_seconds" {
				return mf.GetMetric()[0].GetGauge().GetValue()
			}
		}
		return -1
	}
	testwait.Until(t, 10*time.Second, "the stuck event to be reported", func() bool {
		err := check(context.Background())
		return err != nil && strings.Contains(err.Error(), "stuck-1") && age() > 0.3 &&
			strings.Contains(logs.String(), `msg="event stuck:`) && strings.Contains(logs.String(), "event_id=stuck-1")
	})
	if n := strings.Count(logs.String(), `msg="event stuck:`); n != 1 {
		t.Errorf("the stuck event was logged %d times, want once:\n%s", n, logs)
	}
	r.fake.SetFaultRate(0, 0)
	if rs := r.results(1, 15*time.Second)["stuck-1"]; len(rs) != 1 || rs[0].Outcome != events.OutcomeSucceeded {
		t.Fatalf("stuck-1 after Akamai recovered: %+v", rs)
	}
	testwait.Until(t, 5*time.Second, "the events check and the age to clear", func() bool {
		return check(context.Background()) == nil && age() == 0
	})
}

func eventsCheck(t *testing.T, c *consumer.Consumer) func(context.Context) error {
	t.Helper()
	for _, ch := range c.Checks() {
		if ch.Name == "events" {
			return ch.Func
		}
	}
	t.Fatal("no events readiness check")
	return nil
}
