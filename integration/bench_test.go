package integration

import (
	"fmt"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/purgebus/purgebus/akamai/akamaitest"
	"github.com/purgebus/purgebus/consumer"
	"github.com/purgebus/purgebus/events"
)

// BenchmarkEndToEnd publishes b.N events of 3 URLs (half of them repeats
// of earlier events' URLs) and waits until every event has its result:
// events/s through the whole pipeline, and the Akamai requests spent per
// 1,000 events, against the fake Akamai with its rate limits off.
func BenchmarkEndToEnd(b *testing.B) {
	r := newRig(b, akamaitest.Options{Buckets: akamaitest.BucketConfig{Disabled: true}, MaxRecords: 1000}, func(c *consumer.Config) {
		c.Unpaced = true // the fake's buckets are off: measure the pipeline, not Akamai's limits
	})
	js, err := jetstream.New(r.nc, jetstream.WithPublishAsyncMaxPending(1000))
	if err != nil {
		b.Fatal(err)
	}
	sub, err := r.nc.SubscribeSync("purge.result.>")
	if err != nil {
		b.Fatal(err)
	}
	if err := sub.SetPendingLimits(-1, -1); err != nil {
		b.Fatal(err)
	}
	before := r.fake.Stats().Requests
	b.ResetTimer()
	start := time.Now()
	go func() {
		for i := range b.N {
			ev := events.ContentChanged{ID: fmt.Sprintf("bench-%d", i), URLs: []string{url(3 * i), url(3 * (i / 2)), url(3*i + 2)}}
			data, _ := ev.Encode()
			if _, err := js.PublishAsync(events.SubjectContentChanged, data, jetstream.WithMsgID(ev.ID), jetstream.WithStallWait(time.Minute)); err != nil {
				b.Error(err)
				return
			}
		}
	}()
	for n := 0; n < b.N; n++ {
		if _, err := sub.NextMsg(60 * time.Second); err != nil {
			b.Fatalf("after %d of %d results: %v", n, b.N, err)
		}
	}
	elapsed := time.Since(start)
	b.StopTimer()
	requests := r.fake.Stats().Requests - before
	b.ReportMetric(float64(b.N)/elapsed.Seconds(), "events/s")
	b.ReportMetric(float64(requests)*1000/float64(b.N), "requests/1000events")
}
