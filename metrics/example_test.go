package metrics_test

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/ThreeDotsLabs/watermill"
	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/prometheus/common/expfmt"

	"github.com/purgebus/purgebus/akamai"
	"github.com/purgebus/purgebus/events"
	"github.com/purgebus/purgebus/handler"
	"github.com/purgebus/purgebus/metrics"
)

// printSeries prints the samples of the named metrics, as a scrape shows
// them.
func printSeries(g prometheus.Gatherer, names ...string) {
	text, err := testutil.GatherAndFormat(g, expfmt.TypeTextPlain, names...)
	if err != nil {
		panic(err)
	}
	for line := range strings.Lines(string(text)) {
		if !strings.HasPrefix(line, "#") {
			fmt.Print(line)
		}
	}
}

func ExampleNew() {
	reg := prometheus.NewRegistry() // metrics.NewRegistry() adds the Go and process metrics
	m := metrics.New(reg)

	// An event arrives, is purged, and its result is published.
	m.EventReceived()
	m.ObjectsSubmitted(akamai.TypeURL, 2)
	m.ObserveRequest(handler.RequestStats{
		Key:     handler.Key{Type: akamai.TypeURL, Action: akamai.ActionInvalidate, Network: akamai.NetworkProduction},
		Objects: 2, Status: 201, Latency: 250 * time.Millisecond, Attempt: 1,
	})
	m.EventFinished("succeeded", 400*time.Millisecond)
	m.EventHandled(nil)

	printSeries(reg, "purgebus_events_finished_total", "purgebus_purge_requests_total", "purgebus_events_in_flight")
	// Output:
	// purgebus_events_finished_total{outcome="failed"} 0
	// purgebus_events_finished_total{outcome="partial"} 0
	// purgebus_events_finished_total{outcome="succeeded"} 1
	// purgebus_events_in_flight 0
	// purgebus_purge_requests_total{action="invalidate",network="production",status="201",type="url"} 1
}

func ExampleMetrics_ObserveRequest() {
	m := metrics.New(prometheus.NewRegistry())
	// Every Fast Purge request the coalescer sends is recorded.
	cfg := handler.CoalescerConfig{Observe: m.ObserveRequest}
	_ = cfg
}

func ExampleMetrics_InstrumentRouter() {
	m := metrics.New(prometheus.NewRegistry())
	router, err := message.NewRouter(message.RouterConfig{}, watermill.NopLogger{})
	if err != nil {
		panic(err)
	}
	// First, so that the execution time covers the other middleware.
	if err := m.InstrumentRouter(router); err != nil {
		panic(err)
	}
	router.AddMiddleware(m.Middleware)
	// router.AddMiddleware(h.PoisonMiddleware); router.AddConsumerHandler(...); router.Run(ctx)
}

func ExampleMetrics_WatchConsumerLag() {
	m := metrics.New(prometheus.NewRegistry())
	var cons jetstream.Consumer // js.Consumer(ctx, "CONTENT", "purgebus")
	err := m.WatchConsumerLag(func(ctx context.Context) (pending, ackPending uint64, err error) {
		info, err := cons.Info(ctx)
		if err != nil {
			return 0, 0, err
		}
		return info.NumPending, uint64(info.NumAckPending), nil
	})
	if err != nil {
		panic(err)
	}
}

func ExampleMetrics_WatchBuckets() {
	reg := prometheus.NewRegistry()
	m := metrics.New(reg)
	// The latest X-Ratelimit-* headers of account "ccu", say from the
	// akamai.Result of the last URL purge.
	last := akamai.RateLimit{Limit: 100, Remaining: 97, Fields: akamai.FieldLimit | akamai.FieldRemaining}
	err := m.WatchBuckets(func() []metrics.BucketLevel {
		return metrics.RateLimitLevels("ccu", akamai.TypeURL, last)
	})
	if err != nil {
		panic(err)
	}
	printSeries(reg, "purgebus_ratelimit_tokens_remaining", "purgebus_ratelimit_tokens_capacity")
	// Output:
	// purgebus_ratelimit_tokens_capacity{account="ccu",bucket="requests"} 100
	// purgebus_ratelimit_tokens_remaining{account="ccu",bucket="requests"} 97
}

func ExampleMetrics_SetCircuit() {
	reg := prometheus.NewRegistry()
	m := metrics.New(reg)
	m.SetCircuit("ccu", metrics.CircuitOpen)
	printSeries(reg, "purgebus_circuit_state")
	// Output:
	// purgebus_circuit_state{account="ccu"} 1
}

// stored stands for the result publisher, *bus.Publisher.
type stored struct{}

func (stored) Publish(context.Context, string, []byte, string) error { return nil }

func ExampleMetrics_WrapPublisher() {
	reg := prometheus.NewRegistry()
	m := metrics.New(reg)
	// handler.New(coalescer, m.WrapPublisher(pub), cfg) counts what the
	// handler stores.
	pub := m.WrapPublisher(stored{})

	received := time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)
	res := events.PurgeResult{EventID: "e1", Outcome: events.OutcomePartial, ReceivedAt: received, CompletedAt: received.Add(2 * time.Second)}
	data, _ := res.Encode()
	_ = pub.Publish(context.Background(), events.ResultSubject(res.Outcome, res.EventID), data, "result:e1:1")

	printSeries(reg, "purgebus_events_finished_total")
	// Output:
	// purgebus_events_finished_total{outcome="failed"} 0
	// purgebus_events_finished_total{outcome="partial"} 1
	// purgebus_events_finished_total{outcome="succeeded"} 0
}

func ExampleDeadLetterClass() {
	fmt.Println(metrics.DeadLetterClass(`invalid event: undecodable JSON: unexpected EOF`))
	fmt.Println(metrics.DeadLetterClass(`invalid event: 1 invalid object(s); invalid url "ftp://x": not http or https`))
	fmt.Println(metrics.DeadLetterClass(`handler panicked on 3 deliveries: boom`))
	// Output:
	// undecodable
	// invalid_objects
	// poison
}
