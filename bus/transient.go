package bus

import (
	"context"
	"errors"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// JetStream API errors that a cluster gives while it forms, loses a node
// or elects a leader, and that go away by themselves: placement finds no
// peers while the meta leader has not heard from every server yet
// ("peer offline"), and the system is "temporarily unavailable" between
// meta leaders.
const (
	errCodeNoSuitablePeers        jetstream.ErrorCode = 10005
	errCodeTemporarilyUnavailable jetstream.ErrorCode = 10008
)

// Transient reports whether err is one that the same JetStream request
// may not give a moment later: a cluster still forming or electing a
// leader, or a request that got no answer in time.
func Transient(err error) bool {
	var apiErr *jetstream.APIError
	if errors.As(err, &apiErr) {
		return apiErr.ErrorCode == errCodeNoSuitablePeers || apiErr.ErrorCode == errCodeTemporarilyUnavailable
	}
	// A request's own timeout; RetryTransient stops anyway once its
	// caller's context ends. No responders, by contrast, means a server
	// without JetStream, and is final.
	return errors.Is(err, nats.ErrTimeout) || errors.Is(err, context.DeadlineExceeded)
}

// RetryTransient calls op until it returns nil or an error that is not
// Transient, waiting a little longer each time, for at most
// transientPatience (or until ctx ends), each attempt for at most
// transientAttempt, and returns op's last error.
// Setting up streams and buckets while a cluster starts or fails over
// then waits for it instead of failing the consumer's start.
func RetryTransient(ctx context.Context, op func(context.Context) error) error {
	return retryTransient(ctx, op, transientPatience, transientAttempt)
}

func retryTransient(ctx context.Context, op func(context.Context) error, patience, attempt time.Duration) error {
	deadline := time.Now().Add(patience)
	wait := 100 * time.Millisecond
	for {
		// Each attempt has a deadline of its own: a request that a meta
		// leader dropped while stepping down is never answered, and
		// would otherwise take all of ctx's time.
		actx, cancel := context.WithTimeout(ctx, attempt)
		err := op(actx)
		cancel()
		if err == nil || !Transient(err) || ctx.Err() != nil || time.Now().Add(wait).After(deadline) {
			return err
		}
		t := time.NewTimer(wait)
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
			return err
		}
		wait = min(2*wait, 2*time.Second)
	}
}

// transientPatience bounds RetryTransient: long enough for a leader
// election or a node's restart, short enough that a configuration that
// can never be placed (three replicas on one server) is reported.
const transientPatience = 60 * time.Second

// transientAttempt bounds one attempt of RetryTransient: JetStream answers
// an API request within milliseconds, or, while a cluster fails over, not
// at all.
const transientAttempt = 10 * time.Second

// PublishRefused reports whether a publish failed for good: the message
// is larger than the server's max_payload or the stream's largest
// message, and sending it again would fail again.
func PublishRefused(err error) bool {
	var apiErr *jetstream.APIError
	if errors.As(err, &apiErr) && apiErr.ErrorCode == jetstream.JSErrCodeStreamMessageExceedsMaximum {
		return true
	}
	return errors.Is(err, nats.ErrMaxPayload)
}
