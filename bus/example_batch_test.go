package bus_test

import (
	"context"
	"fmt"
	"log"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/purgebus/purgebus/bus"
	"github.com/purgebus/purgebus/events"
)

// Results go in fast batches where the result stream allows them, and
// one by one through the Publisher elsewhere.
func ExampleBatchPublisher() {
	emb, err := bus.StartEmbedded(bus.EmbeddedConfig{Listen: "127.0.0.1:0"})
	if err != nil {
		log.Fatal(err)
	}
	defer emb.Shutdown()
	nc, err := nats.Connect(emb.ClientURL())
	if err != nil {
		log.Fatal(err)
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		log.Fatal(err)
	}
	ctx := context.Background()
	if err := bus.Provision(ctx, js, bus.StreamsConfig{}); err != nil {
		log.Fatal(err)
	}
	pub, err := bus.NewPublisher(nc, 0)
	if err != nil {
		log.Fatal(err)
	}
	var results interface {
		Publish(ctx context.Context, subject string, data []byte, msgID string) error
	} = pub
	if ok, err := bus.BatchPublishAllowed(ctx, js, events.DefaultResultStream); err == nil && ok {
		bp, err := bus.NewBatchPublisher(nc, pub, bus.BatchConfig{Prefix: events.SubjectResults + "."})
		if err != nil {
			log.Fatal(err)
		}
		defer bp.Close()
		results = bp
	}
	err = results.Publish(ctx, events.ResultSubject(events.OutcomeSucceeded, "e1"), []byte(`{"event_id":"e1"}`), "result:e1:1")
	fmt.Printf("batched: %T, stored: %v\n", results, err == nil)
	// Output: batched: *bus.BatchPublisher, stored: true
}
