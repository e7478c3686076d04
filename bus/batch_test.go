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

// TestBatchSubscribersSeeOnlyResults: a core NATS subscriber of
// purge.result.> receives exactly the results, each once, and no batch
// control message (jetstreamext's Close ends a batch with an empty
// message on a result subject; BatchPublisher commits with its last
// result instead), across batches that span several flow windows, fill
// up, and end as their publisher goes idle.
func TestBatchSubscribersSeeOnlyResults(t *testing.T) {
	r := startNATS(t)
	r.provision(t, bus.StreamsConfig{})
	sub, err := r.nc.SubscribeSync(events.SubjectResults + ".>")
	if err != nil {
		t.Fatal(err)
	}
	if err := sub.SetPendingLimits(-1, -1); err != nil {
		t.Fatal(err)
	}
	if err := r.nc.Flush(); err != nil {
		t.Fatal(err)
	}
	nc := connect(t, r.emb)
	fallback, err := bus.NewPublisher(nc, 0)
	if err != nil {
		t.Fatal(err)
	}
	bp, err := bus.NewBatchPublisher(nc, fallback, bus.BatchConfig{Prefix: events.SubjectResults + ".", Flow: 5, MaxBatch: 50})
	if err != nil {
		t.Fatal(err)
	}
	defer bp.Close()
	ctx := ctxFor(t, 30*time.Second)
	n := 0
	// One at a time: each is a batch of one, committed at once.
	for range 5 {
		publishMany(t, bp, n, 1)
		n++
	}
	// Bursts: full batches of many flow windows, and idle commits.
	for range 3 {
		publishMany(t, bp, n, 400)
		n += 400
	}
	// Pairs: a first message and an idle commit.
	for range 5 {
		var wg sync.WaitGroup
		for i := range 2 {
			id := "r" + strconv.Itoa(n+i)
			wg.Go(func() {
				if err := bp.Publish(ctx, events.ResultSubject(events.OutcomeSucceeded, id), []byte(`{"event_id":"`+id+`"}`), "result:"+id); err != nil {
					t.Errorf("Publish: %v", err)
				}
			})
		}
		wg.Wait()
		n += 2
	}
	if stored := r.streamMsgs(t, events.DefaultResultStream); stored != uint64(n) {
		t.Fatalf("%d results stored, want %d", stored, n)
	}
	seen := map[string]bool{}
	for {
		m, err := sub.NextMsg(500 * time.Millisecond)
		if err != nil {
			break
		}
		if len(m.Data) == 0 {
			t.Fatalf("an empty message on %s (reply %q) reached the results' subscriber", m.Subject, m.Reply)
		}
		if seen[m.Subject] {
			t.Fatalf("%s received twice", m.Subject)
		}
		seen[m.Subject] = true
	}
	if len(seen) != n {
		t.Fatalf("the subscriber received %d results, want %d", len(seen), n)
	}
}
