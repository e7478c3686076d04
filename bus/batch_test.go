package bus_test

import (
	"context"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/purgebus/purgebus/bus"
	"github.com/purgebus/purgebus/events"
)

// publishMany publishes n results through pub from 50 goroutines, the
// i-th with ID r<i>, and fails on any error.
func publishMany(t *testing.T, pub interface {
	Publish(context.Context, string, []byte, string) error
}, from, n int) {
	t.Helper()
	ctx := ctxFor(t, 30*time.Second)
	var wg sync.WaitGroup
	errs := make(chan error, n)
	next := make(chan int)
	for range 50 {
		wg.Go(func() {
			for i := range next {
				id := "r" + strconv.Itoa(i)
				errs <- pub.Publish(ctx, events.ResultSubject(events.OutcomeSucceeded, id), []byte(`{"event_id":"`+id+`"}`), "result:"+id)
			}
		})
	}
	for i := from; i < from+n; i++ {
		next <- i
	}
	close(next)
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatalf("Publish: %v", err)
		}
	}
}

func TestBatchPublisherStoresEachOnce(t *testing.T) {
	r := startNATS(t)
	r.provision(t, bus.StreamsConfig{})
	ctx := ctxFor(t, 10*time.Second)
	ok, err := bus.BatchPublishAllowed(ctx, r.js, events.DefaultResultStream)
	if err != nil || !ok {
		t.Fatalf("BatchPublishAllowed on a provisioned result stream = %v, %v; want true", ok, err)
	}
	nc := connect(t, r.emb)
	fallback, err := bus.NewPublisher(nc, 0)
	if err != nil {
		t.Fatal(err)
	}
	bp, err := bus.NewBatchPublisher(nc, fallback, bus.BatchConfig{Prefix: events.SubjectResults + ".", Flow: 10, MaxBatch: 100})
	if err != nil {
		t.Fatal(err)
	}
	defer bp.Close()
	publishMany(t, bp, 0, 2000)
	if n := r.streamMsgs(t, events.DefaultResultStream); n != 2000 {
		t.Fatalf("%d results stored, want 2000", n)
	}
	// Published again (a redelivered event's result): stored once.
	publishMany(t, bp, 1500, 1000)
	if n := r.streamMsgs(t, events.DefaultResultStream); n != 2500 {
		t.Fatalf("%d results stored after 500 repeats and 500 new, want 2500", n)
	}
	// Other subjects, on another stream, go one by one.
	if err := bp.Publish(ctx, events.DeadLetterSubject("d1"), []byte(`{}`), "deadletter:d1"); err != nil {
		t.Fatalf("dead letter: %v", err)
	}
	if n := r.streamMsgs(t, events.DefaultDeadLetterStream); n != 1 {
		t.Fatalf("%d dead letters stored, want 1", n)
	}
	// After Close, through the fallback.
	bp.Close()
	publishMany(t, bp, 2500, 10)
	if n := r.streamMsgs(t, events.DefaultResultStream); n != 2510 {
		t.Fatalf("%d results stored after Close, want 2510", n)
	}
}

// TestBatchPublisherFallsBack: on a result stream that refuses batches
// every batch fails, and each message is stored through the fallback.
func TestBatchPublisherFallsBack(t *testing.T) {
	r := startNATS(t)
	r.provision(t, bus.StreamsConfig{})
	ctx := ctxFor(t, 10*time.Second)
	s, err := r.js.Stream(ctx, events.DefaultResultStream)
	if err != nil {
		t.Fatal(err)
	}
	cfg := s.CachedInfo().Config
	cfg.AllowBatchPublish = false
	if _, err := r.js.UpdateStream(ctx, cfg); err != nil {
		t.Fatal(err)
	}
	if ok, err := bus.BatchPublishAllowed(ctx, r.js, events.DefaultResultStream); err != nil || ok {
		t.Fatalf("BatchPublishAllowed = %v, %v; want false", ok, err)
	}
	nc := connect(t, r.emb)
	fallback, err := bus.NewPublisher(nc, 0)
	if err != nil {
		t.Fatal(err)
	}
	bp, err := bus.NewBatchPublisher(nc, fallback, bus.BatchConfig{Prefix: events.SubjectResults + "."})
	if err != nil {
		t.Fatal(err)
	}
	defer bp.Close()
	publishMany(t, bp, 0, 300)
	if n := r.streamMsgs(t, events.DefaultResultStream); n != 300 {
		t.Fatalf("%d results stored, want 300", n)
	}
}

// TestProvisionAllowsBatches: Provision turns batch publishing on for an
// existing result stream, and leaves it on.
func TestProvisionAllowsBatches(t *testing.T) {
	r := startNATS(t)
	ctx := ctxFor(t, 10*time.Second)
	if _, err := r.js.CreateStream(ctx, jetstream.StreamConfig{Name: events.DefaultResultStream, Subjects: []string{events.SubjectResults + ".>"}}); err != nil {
		t.Fatal(err)
	}
	for range 2 {
		r.provision(t, bus.StreamsConfig{})
		if ok, err := bus.BatchPublishAllowed(ctx, r.js, events.DefaultResultStream); err != nil || !ok {
			t.Fatalf("BatchPublishAllowed after Provision = %v, %v; want true", ok, err)
		}
	}
}

// TestBatchControlMessagesReachSubscribers records why batches are not
// the consumer's default: jetstreamext v0.3.2 ends a batch (and pings for
// lost acks) with an empty message on the subject of one of its results,
// which a core NATS subscriber of purge.result.> receives as if it were
// a result.
func TestBatchControlMessagesReachSubscribers(t *testing.T) {
	r := startNATS(t)
	r.provision(t, bus.StreamsConfig{})
	sub, err := r.nc.SubscribeSync(events.SubjectResults + ".>")
	if err != nil {
		t.Fatal(err)
	}
	nc := connect(t, r.emb)
	fallback, err := bus.NewPublisher(nc, 0)
	if err != nil {
		t.Fatal(err)
	}
	bp, err := bus.NewBatchPublisher(nc, fallback, bus.BatchConfig{Prefix: events.SubjectResults + "."})
	if err != nil {
		t.Fatal(err)
	}
	defer bp.Close()
	publishMany(t, bp, 0, 3)
	empty := 0
	for {
		m, err := sub.NextMsg(500 * time.Millisecond)
		if err != nil {
			break
		}
		if len(m.Data) == 0 {
			empty++
		}
	}
	if empty == 0 {
		t.Fatal("no empty message reached the results' subscriber: jetstreamext no longer publishes batch control messages " +
			"on result subjects, and consumer.Config.BatchPublish could be on by default")
	}
}
