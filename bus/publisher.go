package bus

import (
	"context"
	"fmt"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// Publisher publishes to JetStream asynchronously, within a bounded window
// of unacknowledged messages, while each caller still waits for its own
// acknowledgement: many handlers publishing at once share the round trips
// instead of paying one each.
type Publisher struct {
	js jetstream.JetStream
	// stall is the option of a publish without a deadline, made once:
	// options are closures, allocated anew by each With call.
	stall jetstream.PublishOpt
}

// NewPublisher returns a Publisher on nc whose window holds at most window
// unacknowledged messages (1,000 when 0). nc should be its own connection:
// closing a subscriber drains its connection.
func NewPublisher(nc *nats.Conn, window int) (*Publisher, error) {
	if window <= 0 {
		window = 1000
	}
	js, err := jetstream.New(nc, jetstream.WithPublishAsyncMaxPending(window))
	if err != nil {
		return nil, fmt.Errorf("bus: %w", err)
	}
	return &Publisher{js: js, stall: jetstream.WithStallWait(maxStallWait)}, nil
}

// Publish stores data on subject and returns once JetStream acknowledged
// it. msgID deduplicates: a second message with the same ID within the
// stream's duplicate window is not stored again.
func (p *Publisher) Publish(ctx context.Context, subject string, data []byte, msgID string) error {
	msg := &nats.Msg{Subject: subject, Data: data}
	if msgID != "" {
		// What jetstream.WithMsgID sets, without a closure to allocate
		// and apply.
		msg.Header = nats.Header{jetstream.MsgIDHeader: {msgID}}
	}
	// A full window waits for room rather than failing: a full window
	// means the server is slow, not that the result cannot be stored.
	stall := p.stall
	if _, ok := ctx.Deadline(); ok {
		stall = jetstream.WithStallWait(stallWait(ctx))
	}
	fut, err := p.js.PublishMsgAsync(msg, stall)
	if err != nil {
		return fmt.Errorf("bus: publish %s: %w", subject, err)
	}
	select {
	case <-fut.Ok():
		return nil
	case err := <-fut.Err():
		return fmt.Errorf("bus: publish %s: %w", subject, err)
	case <-ctx.Done():
		return fmt.Errorf("bus: publish %s: %w", subject, ctx.Err())
	}
}

// maxStallWait is how long a publish without a deadline may wait for room
// in the window.
const maxStallWait = 30 * time.Second

// stallWait is how long a publish may wait for room in the window: until
// ctx ends, or maxStallWait.
func stallWait(ctx context.Context) time.Duration {
	if dl, ok := ctx.Deadline(); ok {
		return max(time.Until(dl), time.Millisecond)
	}
	return maxStallWait
}
