package integration

import (
	"context"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/purgebus/purgebus/bus"
	"github.com/purgebus/purgebus/events"
)

// TestBatchPublisherLeaderFailover: results stored in fast batches on a
// 3-node cluster survive the abrupt loss of the node leading the result
// stream in the middle of the batches. Every Publish returns, none waits
// forever, each one that returned nil is stored, and none is stored twice
// (the messages of a failed batch are sent again with their IDs).
func TestBatchPublisherLeaderFailover(t *testing.T) {
	if testing.Short() {
		t.Skip("a 3-node cluster and a failover")
	}
	c := startCluster(t, 3)
	nc, js := c.connect()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	if err := bus.Provision(ctx, js, bus.StreamsConfig{Replicas: 3}); err != nil {
		t.Fatal(err)
	}
	if ok, err := bus.BatchPublishAllowed(ctx, js, events.DefaultResultStream); err != nil || !ok {
		t.Fatalf("BatchPublishAllowed on the cluster = %v, %v", ok, err)
	}
	node := max(c.streamLeader(events.DefaultResultStream), 0)
	if !c.moveStreamLeader(nc, events.DefaultResultStream, node) {
		t.Fatalf("no leader for %s", events.DefaultResultStream)
	}
	pubNC, _ := c.connect()
	fallback, err := bus.NewPublisher(pubNC, 0)
	if err != nil {
		t.Fatal(err)
	}
	bp, err := bus.NewBatchPublisher(pubNC, fallback, bus.BatchConfig{Prefix: events.SubjectResults + "."})
	if err != nil {
		t.Fatal(err)
	}
	defer bp.Close()

	const n = 3000
	var sent, failed atomic.Int64
	next := make(chan int)
	var wg sync.WaitGroup
	for range 100 {
		wg.Go(func() {
			for i := range next {
				id := "f" + strconv.Itoa(i)
				if err := bp.Publish(ctx, events.ResultSubject(events.OutcomeSucceeded, id), []byte(`{"event_id":"`+id+`"}`), "result:"+id); err != nil {
					failed.Add(1)
					t.Errorf("Publish %s: %v", id, err)
				}
				sent.Add(1)
			}
		})
	}
	go func() {
		defer close(next)
		for i := range n {
			if i == n/3 {
				t.Logf("%d results published: node %d, leader of %s, shuts down", sent.Load(), node, events.DefaultResultStream)
				c.shutdown(node)
			}
			select {
			case next <- i:
			case <-ctx.Done():
				return
			}
		}
	}()
	wg.Wait()
	if failed.Load() > 0 || sent.Load() != n {
		t.Fatalf("%d of %d published, %d failed", sent.Load(), n, failed.Load())
	}
	// Each result once: none lost (a Publish that returned nil for a
	// result not stored), none stored twice.
	var subjects map[string]uint64
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		s, err := js.Stream(ctx, events.DefaultResultStream)
		if err == nil {
			var info *jetstream.StreamInfo
			if info, err = s.Info(ctx, jetstream.WithSubjectFilter(events.SubjectResults+".>")); err == nil {
				if subjects = info.State.Subjects; len(subjects) >= n {
					break
				}
			}
		}
		time.Sleep(100 * time.Millisecond)
	}
	var missing, twice []string
	for i := range n {
		id := "f" + strconv.Itoa(i)
		switch subjects[events.ResultSubject(events.OutcomeSucceeded, id)] {
		case 1:
		case 0:
			missing = append(missing, id)
		default:
			twice = append(twice, id)
		}
	}
	if len(missing) > 0 || len(twice) > 0 || len(subjects) != n {
		t.Fatalf("%d subjects stored for %d results; missing: %v; stored twice: %v", len(subjects), n, missing, twice)
	}
}
