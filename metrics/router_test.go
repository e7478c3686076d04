package metrics_test

import (
	"context"
	"errors"
	"fmt"
	"math"
	"sync"
	"testing"

	"github.com/ThreeDotsLabs/watermill"
	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/ThreeDotsLabs/watermill/pubsub/gochannel"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/purgebus/purgebus/metrics"
)

// TestInstrumentRouter runs a real watermill router over gochannel and
// reads its handler, subscriber and publisher metrics from a scrape, with
// Middleware's event counts.
func TestInstrumentRouter(t *testing.T) {
	reg := prometheus.NewRegistry()
	m := metrics.New(reg)
	s := newScraper(t, reg)

	pubsub := gochannel.NewGoChannel(gochannel.Config{Persistent: true}, watermill.NopLogger{})
	router, err := message.NewRouter(message.RouterConfig{}, watermill.NopLogger{})
	if err != nil {
		t.Fatal(err)
	}
	if err := m.InstrumentRouter(router); err != nil {
		t.Fatal(err)
	}
	router.AddMiddleware(m.Middleware)

	// "fail" is nacked on its first delivery and acked on the second.
	var mu sync.Mutex
	seen := map[string]int{}
	router.AddHandler("purge", "events", pubsub, "results", pubsub, func(msg *message.Message) ([]*message.Message, error) {
		mu.Lock()
		seen[msg.UUID]++
		n := seen[msg.UUID]
		mu.Unlock()
		if string(msg.Payload) == "fail" && n == 1 {
			return nil, errors.New("transient")
		}
		return []*message.Message{message.NewMessage(watermill.NewUUID(), msg.Payload)}, nil
	})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	runErr := make(chan error, 1)
	go func() { runErr <- router.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-runErr; err != nil {
			t.Error(err)
		}
	})
	<-router.Running()

	for _, p := range []string{"a", "fail", "b"} {
		if err := pubsub.Publish("events", message.NewMessage(watermill.NewUUID(), []byte(p))); err != nil {
			t.Fatal(err)
		}
	}

	const (
		exec = "purgebus_router_handler_execution_time_seconds"
		recv = "purgebus_router_subscriber_messages_received_total"
		pub  = "purgebus_router_publish_time_seconds"
	)
	// The subscriber's count follows the ack asynchronously.
	var f families
	eventually(t, func() error {
		f = s.scrape()
		if f.find(recv, labels{"handler_name", "purge", "subscriber_name", "gochannel.GoChannel", "acked", "acked"}) == nil ||
			f.value(recv, labels{"handler_name", "purge", "subscriber_name", "gochannel.GoChannel", "acked", "acked"}) < 3 ||
			f.find(recv, labels{"handler_name", "purge", "subscriber_name", "gochannel.GoChannel", "acked", "nacked"}) == nil {
			return fmt.Errorf("subscriber metrics not complete yet")
		}
		return nil
	})
	f.check(
		sample{exec, labels{"handler_name", "purge", "success", "true"}, 3},
		sample{exec, labels{"handler_name", "purge", "success", "false"}, 1},
		sample{recv, labels{"handler_name", "purge", "subscriber_name", "gochannel.GoChannel", "acked", "acked"}, 3},
		sample{recv, labels{"handler_name", "purge", "subscriber_name", "gochannel.GoChannel", "acked", "nacked"}, 1},
		sample{pub, labels{"handler_name", "purge", "publisher_name", "gochannel.GoChannel", "success", "true"}, 3},
		sample{"purgebus_events_received_total", nil, 4},
		sample{"purgebus_events_retried_total", nil, 1},
		sample{"purgebus_events_in_flight", nil, 0},
	)
	// The handler's buckets reach a minute: it waits for Akamai.
	var top float64
	for _, b := range f.histogram(exec, labels{"handler_name", "purge", "success", "true"}).GetBucket() {
		if !math.IsInf(b.GetUpperBound(), 1) {
			top = max(top, b.GetUpperBound())
		}
	}
	if top != 60 {
		t.Errorf("largest handler bucket %v, want 60", top)
	}
}

func TestInstrumentRouterTwiceOnOneRegistry(t *testing.T) {
	reg := prometheus.NewRegistry()
	m := metrics.New(reg)
	for range 2 {
		r, err := message.NewRouter(message.RouterConfig{}, watermill.NopLogger{})
		if err != nil {
			t.Fatal(err)
		}
		if err := m.InstrumentRouter(r); err != nil {
			t.Fatal(err)
		}
	}
}

func TestInstrumentRouterConflict(t *testing.T) {
	reg := prometheus.NewRegistry()
	// Someone else took the name with other labels.
	reg.MustRegister(prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "purgebus_router_subscriber_messages_received_total", Help: "x"}, []string{"foo"}))
	m := metrics.New(reg)
	r, err := message.NewRouter(message.RouterConfig{}, watermill.NopLogger{})
	if err != nil {
		t.Fatal(err)
	}
	if err := m.InstrumentRouter(r); err == nil {
		t.Fatal("InstrumentRouter succeeded over a conflicting metric")
	}
}

func TestMiddlewarePanic(t *testing.T) {
	m, s := newMetrics(t)
	h := m.Middleware(func(*message.Message) ([]*message.Message, error) { panic("boom") })
	func() {
		defer func() {
			if r := recover(); r != "boom" {
				t.Errorf("recovered %v, want the handler's panic", r)
			}
		}()
		_, _ = h(message.NewMessage("1", nil))
	}()
	s.scrape().check(
		sample{"purgebus_events_received_total", nil, 1},
		sample{"purgebus_events_in_flight", nil, 0},
		sample{"purgebus_events_retried_total", nil, 1},
	)
}
