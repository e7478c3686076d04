package main

import (
	"context"
	"fmt"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/purgebus/purgebus/events"
)

// drainPoll is how often a drainWatch looks at the streams: short against
// a drain of seconds, long enough that its requests cost the server next
// to nothing.
const drainPoll = 10 * time.Millisecond

// drainWatch tells when the consumer has drained a backlog by polling the
// streams' state instead of subscribing to the results. A subscriber in
// this process would receive every result and so compete with the
// consumer for the same two cores, charging the consumer for work that is
// the harness's; a bare consumer pays no such tax.
type drainWatch struct {
	content, results jetstream.Stream
	fromSeq          uint64 // the results stream's last sequence before the run
	want             int
}

// watchDrain prepares to watch the rig's streams for want results beyond
// those already stored.
func watchDrain(ctx context.Context, r *natsRig, want int) (*drainWatch, error) {
	content, err := r.js.Stream(ctx, events.DefaultContentStream)
	if err != nil {
		return nil, err
	}
	results, err := r.js.Stream(ctx, events.DefaultResultStream)
	if err != nil {
		return nil, err
	}
	si, err := results.Info(ctx)
	if err != nil {
		return nil, err
	}
	return &drainWatch{content: content, results: results, fromSeq: si.State.LastSeq, want: want}, nil
}

// wait returns when the work queue is empty (every event acked) and the
// results stream holds want more results, at most drainPoll late; it gives
// up when the work queue did not shrink, nor the results grow, for stall.
func (w *drainWatch) wait(ctx context.Context, stall time.Duration) (time.Time, error) {
	tick := time.NewTicker(drainPoll)
	defer tick.Stop()
	var last struct{ left, stored uint64 }
	lastAt := time.Now()
	for {
		select {
		case <-ctx.Done():
			return time.Time{}, ctx.Err()
		case <-tick.C:
		}
		ci, err := w.content.Info(ctx)
		if err != nil {
			return time.Time{}, err
		}
		left, stored := ci.State.Msgs, last.stored
		if left == 0 {
			// Only now, as each request costs the server (and so the
			// consumer) a little.
			ri, err := w.results.Info(ctx)
			if err != nil {
				return time.Time{}, err
			}
			stored = ri.State.LastSeq - w.fromSeq
		}
		now := time.Now()
		if left == 0 && stored >= uint64(w.want) {
			return now, nil
		}
		if left != last.left || stored != last.stored {
			last.left, last.stored, lastAt = left, stored, now
		} else if now.Sub(lastAt) > stall {
			return time.Time{}, fmt.Errorf("stalled: %d events left, %d of %d results stored, no change for %v", left, stored, w.want, stall)
		}
	}
}

// tally reads back every result stored since watchDrain, once the clock
// has stopped, into a resultCounter, so that outcomes and duplicates are
// checked as strictly as with a live subscription.
func (w *drainWatch) tally(ctx context.Context, js jetstream.JetStream) (*resultCounter, error) {
	ri, err := w.results.Info(ctx)
	if err != nil {
		return nil, err
	}
	rc := newResultCounter(w.want)
	if ri.State.LastSeq <= w.fromSeq {
		return rc, nil
	}
	oc, err := js.OrderedConsumer(ctx, events.DefaultResultStream, jetstream.OrderedConsumerConfig{
		DeliverPolicy: jetstream.DeliverByStartSequencePolicy,
		OptStartSeq:   w.fromSeq + 1,
	})
	if err != nil {
		return nil, err
	}
	it, err := oc.Messages()
	if err != nil {
		return nil, err
	}
	defer it.Stop()
	for n := ri.State.LastSeq - w.fromSeq; n > 0; n-- {
		m, err := it.Next()
		if err != nil {
			return nil, fmt.Errorf("reading results back: %w", err)
		}
		rc.record(m.Subject(), time.Now())
	}
	return rc, nil
}
