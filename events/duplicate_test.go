package events_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/purgebus/purgebus/bus"
	"github.com/purgebus/purgebus/events"
)

// dupRig is a real NATS with purgebus's streams and no consumer: what a
// consumer does to a stored event (purge it, store its result, ack it
// away) the tests do by hand.
type dupRig struct {
	js  jetstream.JetStream
	pub *events.Publisher
}

func newDupRig(t *testing.T) *dupRig {
	t.Helper()
	srv, err := bus.StartEmbedded(bus.EmbeddedConfig{Listen: "127.0.0.1:0", DataDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(srv.Shutdown)
	nc, err := nats.Connect(srv.ClientURL())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := bus.Provision(ctx, js, bus.StreamsConfig{}); err != nil {
		t.Fatal(err)
	}
	pub, err := events.NewPublisher(nc, events.PublisherConfig{Subject: "content.changed.test"})
	if err != nil {
		t.Fatal(err)
	}
	return &dupRig{js: js, pub: pub}
}

// consume does what the consumer does once an event is purged: stores
// its result and removes it from the work queue.
func (r *dupRig) consume(t *testing.T, rc events.Receipt, res events.PurgeResult) {
	t.Helper()
	ctx := context.Background()
	data, err := res.Encode()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := r.js.Publish(ctx, events.ResultSubject(res.Outcome, res.EventID), data); err != nil {
		t.Fatal(err)
	}
	s, err := r.js.Stream(ctx, rc.Stream)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.DeleteMsg(ctx, rc.Sequence); err != nil {
		t.Fatal(err)
	}
}

func TestPublishDuplicateID(t *testing.T) {
	first := func() *events.ContentChanged {
		return events.NewContentChanged("cms").AddURLs("https://www.example.com/a", "https://www.example.com/b").AddTags("news")
	}
	resultOf := func(id string) events.PurgeResult {
		return events.PurgeResult{EventID: id, Outcome: events.OutcomePartial,
			Purges:   []events.Purge{{PurgeID: "p1", Type: "url", Action: "invalidate", Network: "production", Objects: []string{"https://www.example.com/b", "https://www.example.com/a"}}},
			Failures: []events.Failure{{Type: "tag", Action: "invalidate", Network: "production", Objects: []string{"news"}, Title: "forbidden"}}}
	}
	for _, tc := range []struct {
		name     string
		consumed bool                               // the first event was purged and acked before the retry
		result   func(id string) events.PurgeResult // its result, when consumed
		retry    *events.ContentChanged
		want     string // "" a harmless retry, else in the error
	}{
		{"same content, waiting", false, nil, first(), ""},
		{"same content in another order, with another source and time", false, nil,
			events.NewContentChanged("other").AddTags("news").AddURLs("https://www.example.com/b", "HTTPS://www.example.com/a"), ""},
		{"other objects, waiting", false, nil, events.NewContentChanged("cms").AddURLs("https://www.example.com/c"), "the new event also has url invalidate production https://www.example.com/c"},
		{"fewer objects, waiting", false, nil, events.NewContentChanged("cms").AddURLs("https://www.example.com/a"), "the stored one also has"},
		{"other action, waiting", false, nil, first().WithAction("delete"), "url delete production"},
		{"other metadata, waiting", false, nil, first().WithMetadata("page", "1"), "metadata"},
		{"same content, purged", true, resultOf, first(), ""},
		{"other objects, purged", true, resultOf, events.NewContentChanged("cms").AddURLs("https://www.example.com/c"), "https://www.example.com/c"},
		{"purged, result gone", true, nil, first(), "its result is gone"},
		{"purged, refused as a whole", true, func(id string) events.PurgeResult {
			return events.PurgeResult{EventID: id, Outcome: events.OutcomeFailed, Failures: []events.Failure{{Title: "invalid event"}}}
		}, first(), "cannot be compared"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := newDupRig(t)
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			e := first()
			e.ID = "dup-1"
			rc, err := r.pub.PublishReceipt(ctx, e)
			if err != nil || rc.Duplicate {
				t.Fatalf("first publish: %+v, %v", rc, err)
			}
			if tc.consumed {
				if tc.result != nil {
					r.consume(t, rc, tc.result(e.ID))
				} else {
					s, _ := r.js.Stream(ctx, rc.Stream)
					if err := s.DeleteMsg(ctx, rc.Sequence); err != nil {
						t.Fatal(err)
					}
				}
			}
			tc.retry.ID = "dup-1"
			again, err := r.pub.PublishReceipt(ctx, tc.retry)
			if tc.want == "" {
				if err != nil || !again.Duplicate || again.Sequence != rc.Sequence {
					t.Errorf("retry: %+v, %v; want a harmless duplicate of sequence %d", again, err, rc.Sequence)
				}
				return
			}
			var de *events.DuplicateEventError
			if !errors.As(err, &de) {
				t.Fatalf("retry: %+v, %v; want a *DuplicateEventError", again, err)
			}
			if de.ID != "dup-1" || de.Sequence != rc.Sequence || !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), "NOT stored") {
				t.Errorf("error %v (%+v), want it to name dup-1 and say %q", err, de, tc.want)
			}
			if err := r.pub.Publish(ctx, tc.retry); !errors.As(err, &de) {
				t.Errorf("Publish: %v, want the same error", err)
			}
		})
	}
}
