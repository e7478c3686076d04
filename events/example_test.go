package events_test

import (
	"context"
	"errors"
	"fmt"
	"log"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/purgebus/purgebus/akamai"
	"github.com/purgebus/purgebus/akamai/akamaitest"
	"github.com/purgebus/purgebus/bus"
	"github.com/purgebus/purgebus/consumer"
	"github.com/purgebus/purgebus/events"
)

// startSandbox runs a consumer with an embedded NATS server against a fake
// Akamai, as `consumer --sandbox` does, and returns its NATS URL.
func startSandbox() (url string, stop func()) {
	fake := akamaitest.NewServer(akamaitest.Options{})
	c, err := consumer.Start(context.Background(), consumer.Config{
		Embedded: bus.EmbeddedConfig{Listen: "127.0.0.1:0"},
		Akamai:   akamai.Config{Credentials: fake.Credentials(), BaseURL: fake.URL()},
	})
	if err != nil {
		log.Fatal(err)
	}
	return c.NATSURL(), func() { c.Close(); fake.Close() }
}

type Article struct{ Slug string }

func (a Article) AbsoluteURL() string { return "https://www.example.com/articles/" + a.Slug }

// Publish is the queued form, like django-akamai's queue_purge_request: it
// returns as soon as JetStream has stored the event.
func ExamplePublisher_Publish() {
	url, stop := startSandbox()
	defer stop()
	nc, err := nats.Connect(url)
	if err != nil {
		log.Fatal(err)
	}
	defer nc.Close()

	pub, err := events.NewPublisher(nc, events.PublisherConfig{Subject: "content.changed.blog"})
	if err != nil {
		log.Fatal(err)
	}
	ev := events.NewContentChanged("blog").
		AddObjects(Article{"hello-world"}).
		AddTags("front-page")
	if err := pub.Publish(context.Background(), ev); err != nil {
		log.Fatal(err)
	}
	fmt.Println("queued", len(ev.ID) > 0)
	// Output: queued true
}

// PurgeAndWait is the immediate form, like django-akamai's purge_request:
// it publishes and waits for the event's result.
func ExamplePublisher_PurgeAndWait() {
	url, stop := startSandbox()
	defer stop()
	nc, err := nats.Connect(url)
	if err != nil {
		log.Fatal(err)
	}
	defer nc.Close()

	pub, err := events.NewPublisher(nc, events.PublisherConfig{})
	if err != nil {
		log.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	articles := []Article{{"a"}, {"b"}}
	ev := events.AddAll(events.NewContentChanged("cms"), articles)
	res, err := pub.PurgeAndWait(ctx, ev)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(res.Outcome)
	for _, p := range res.Purges {
		fmt.Println(p.Type, p.Action, p.Network, p.Objects, p.PurgeID != "")
	}
	// Output:
	// succeeded
	// url invalidate production [https://www.example.com/articles/a https://www.example.com/articles/b] true
}

// Metadata labels an event with the publisher's own context; the
// consumer echoes it in the event's result.
func ExampleContentChanged_WithMetadata() {
	url, stop := startSandbox()
	defer stop()
	nc, err := nats.Connect(url)
	if err != nil {
		log.Fatal(err)
	}
	defer nc.Close()

	pub, err := events.NewPublisher(nc, events.PublisherConfig{})
	if err != nil {
		log.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	ev := events.NewContentChanged("cms").
		AddURLs("https://www.example.com/articles/a").
		WithMetadata("page_id", "42").
		WithMetadata("editor", "alice")
	res, err := pub.PurgeAndWait(ctx, ev)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(res.Outcome, res.Metadata["page_id"], res.Metadata["editor"])
	// Output: succeeded 42 alice
}

// PublishReceipt tells a retry from a first publish: an event ID is
// stored once, so publishing the same event again is harmless, and the
// same ID with other objects is an error, as JetStream dropped them.
func ExamplePublisher_PublishReceipt() {
	url, stop := startSandbox()
	defer stop()
	nc, err := nats.Connect(url)
	if err != nil {
		log.Fatal(err)
	}
	defer nc.Close()

	pub, err := events.NewPublisher(nc, events.PublisherConfig{})
	if err != nil {
		log.Fatal(err)
	}
	ctx := context.Background()
	ev := events.NewContentChanged("cms").AddURLs("https://www.example.com/a")
	ev.ID = "page-42-v7"
	first, err := pub.PublishReceipt(ctx, ev)
	if err != nil {
		log.Fatal(err)
	}
	again, err := pub.PublishReceipt(ctx, ev) // say, after a lost acknowledgement
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(first.Duplicate, again.Duplicate)

	other := events.NewContentChanged("cms").AddURLs("https://www.example.com/b")
	other.ID = "page-42-v7"
	_, err = pub.PublishReceipt(ctx, other)
	var dup *events.DuplicateEventError
	fmt.Println(errors.As(err, &dup), dup.ID)
	// Output:
	// false true
	// true page-42-v7
}
