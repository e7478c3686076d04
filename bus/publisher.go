package bus

import (
	"context"
	"errors"
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
	stall     jetstream.PublishOpt
	retryWait time.Duration // before the second attempt; twice as long before the third
	perms     *Permissions  // see FailOnRefusal; nil: none
}

// FailOnRefusal makes every publish waiting for its acknowledgement fail
// with the *PermissionError as soon as perms records one (the publisher's
// connection should report to perms): a refused publish is dropped by the
// server and would otherwise wait for its acknowledgement's timeout, three
// times. Call it before publishing.
func (p *Publisher) FailOnRefusal(perms *Permissions) { p.perms = perms }

// NewPublisher returns a Publisher on nc whose window holds at most window
// unacknowledged messages (1,000 when 0). nc should be its own connection:
// closing a subscriber drains its connection.
func NewPublisher(nc *nats.Conn, window int) (*Publisher, error) {
	return newPublisher(nc, window, publishAckTimeout, publishRetryWait)
}

func newPublisher(nc *nats.Conn, window int, ackTimeout, retryWait time.Duration) (*Publisher, error) {
	if window <= 0 {
		window = 1000
	}
	js, err := jetstream.New(nc, jetstream.WithPublishAsyncMaxPending(window), jetstream.WithPublishAsyncTimeout(ackTimeout))
	if err != nil {
		return nil, fmt.Errorf("bus: %w", err)
	}
	return &Publisher{js: js, stall: jetstream.WithStallWait(maxStallWait), retryWait: retryWait}, nil
}

// An acknowledgement can be lost for good: a stream leader that stops or
// steps down drops the proposals it had not answered, and a reconnect
// loses the answers on their way. Without a timeout such a publish waits
// forever, and its event with it (kept alive by InProgress), so a publish
// gives up waiting after publishAckTimeout and is sent again, with the
// same message ID so that a message stored after all is not stored twice,
// publishAttempts times in all before the caller gets the error (and the
// event is redelivered later).
const (
	publishAckTimeout = 10 * time.Second
	publishRetryWait  = time.Second
	publishAttempts   = 3
)

// Publish stores data on subject and returns once JetStream acknowledged
// it. msgID deduplicates: a second message with the same ID within the
// stream's duplicate window is not stored again. An acknowledgement that
// does not come in time, or a stream without a leader, is retried a few
// times before Publish returns the error.
func (p *Publisher) Publish(ctx context.Context, subject string, data []byte, msgID string) error {
	var err error
	for attempt := 1; ; attempt++ {
		if err = p.publish(ctx, subject, data, msgID); err == nil || attempt == publishAttempts || !retryable(err) {
			return err
		}
		t := time.NewTimer(p.retryWait * time.Duration(attempt))
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
			return err
		}
	}
}

// retryable reports whether a publish that failed with err may succeed if
// sent again.
func retryable(err error) bool {
	return errors.Is(err, jetstream.ErrAsyncPublishTimeout) ||
		errors.Is(err, jetstream.ErrNoStreamResponse) ||
		errors.Is(err, nats.ErrNoResponders) ||
		errors.Is(err, jetstream.ErrTooManyStalledMsgs)
}

func (p *Publisher) publish(ctx context.Context, subject string, data []byte, msgID string) error {
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
	var refused <-chan struct{} // nil blocks forever
	if p.perms != nil {
		refused = p.perms.Done()
	}
	select {
	case <-fut.Ok():
		return nil
	case err := <-fut.Err():
		return fmt.Errorf("bus: publish %s: %w", subject, err)
	case <-ctx.Done():
		return fmt.Errorf("bus: publish %s: %w", subject, ctx.Err())
	case <-refused:
		return fmt.Errorf("bus: publish %s: %w", subject, p.perms.Err())
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
