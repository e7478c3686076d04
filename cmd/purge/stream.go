package main

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/purgebus/purgebus/bus"
)

// connect opens the NATS connection the flags describe, and makes sure
// the server has JetStream: without it every command would fail with
// nats.go's "no responders". bus redacts the URL's credentials in its
// errors. The context it returns ends as soon as the server refuses a
// request for lack of permission, which would otherwise wait for the
// whole --timeout; run then names the refused subject.
func (c *cli) connect(ctx context.Context, f *connFlags) (context.Context, *nats.Conn, jetstream.JetStream, error) {
	cc := f.config()
	cc.Permissions = &c.perms
	// The JetStream check below is optional: publishers and readers
	// have no business with the account's information (see
	// docs/nats-permissions.md), and its refusal must neither wait for
	// the timeout nor fail the command.
	c.perms.Tolerate(jsAccountInfo)
	nc, err := cc.Connect()
	if err != nil {
		return ctx, nil, nil, err
	}
	js, err := jetstream.New(nc)
	if err != nil {
		nc.Close()
		return ctx, nil, nil, fmt.Errorf("jetstream: %w", err)
	}
	err = c.perms.Guarded(ctx, func(ctx context.Context) error {
		_, err := js.AccountInfo(ctx)
		return err
	})
	if err != nil && noJetStream(err) {
		nc.Close()
		return ctx, nil, nil, fmt.Errorf("%s: %w", bus.RedactURLs(nc.ConnectedUrlRedacted()), explain(err))
	}
	// Other errors (a user without permission for the account's
	// information) are left to the command, which may not need it.
	ctx, unguard := c.perms.Guard(ctx)
	c.cleanup = append(c.cleanup, unguard)
	return ctx, nc, js, nil
}

// jsAccountInfo is the subject of JetStream's account information.
const jsAccountInfo = "$JS.API.INFO"

// noJetStream reports whether err says that the server or the account
// has no JetStream: nobody answers JetStream's API.
func noJetStream(err error) bool {
	return errors.Is(err, jetstream.ErrJetStreamNotEnabled) || errors.Is(err, jetstream.ErrJetStreamNotEnabledForAccount) ||
		errors.Is(err, nats.ErrNoResponders)
}

// explain adds what an operator most likely has to do to the JetStream
// errors a fresh set-up runs into.
func explain(err error) error {
	switch {
	case errors.Is(err, jetstream.ErrStreamNotFound), errors.Is(err, jetstream.ErrNoStreamResponse):
		return fmt.Errorf("%w (are purgebus's streams set up on this NATS? The consumer creates them: always on its embedded NATS, with --provision on another)", err)
	case noJetStream(err):
		return &noJetStreamError{err}
	}
	return err
}

// noJetStreamError says what nats.go's "no responders" means to
// purgebus: nobody answers JetStream's API.
type noJetStreamError struct{ err error }

func (e *noJetStreamError) Error() string {
	return "this NATS server has no JetStream (or not for this account), so purgebus's streams cannot be there: " +
		"the consumer's embedded server has JetStream; on another server, enable JetStream, then start the consumer with --provision"
}

func (e *noJetStreamError) Unwrap() error { return e.err }

// scanOptions selects messages of a stream.
type scanOptions struct {
	stream  string
	filters []string  // subject filters; none means the whole stream
	since   time.Time // zero: from the start, or only new messages with follow
	follow  bool      // keep going until ctx ends instead of stopping once caught up
}

// scan hands the messages of a stream that match o to fn, oldest first,
// through an ordered consumer (ephemeral, flow-controlled, nothing to
// clean up). Without follow it reads a snapshot: it stops at the last
// message stored when it started, so that messages the scan itself causes
// (a replayed event dead-lettered again) cannot keep it going forever.
// With follow it returns nil when ctx ends, as that is how a tail stops.
func scan(ctx context.Context, js jetstream.JetStream, o scanOptions, fn func(jetstream.Msg, *jetstream.MsgMetadata) error) error {
	var last uint64
	if !o.follow {
		s, err := js.Stream(ctx, o.stream)
		if err != nil {
			return fmt.Errorf("stream %s: %w", o.stream, explain(err))
		}
		if last = s.CachedInfo().State.LastSeq; last == 0 {
			return nil
		}
	}
	cfg := jetstream.OrderedConsumerConfig{FilterSubjects: o.filters}
	switch {
	case !o.since.IsZero():
		since := o.since
		cfg.DeliverPolicy = jetstream.DeliverByStartTimePolicy
		cfg.OptStartTime = &since
	case o.follow:
		cfg.DeliverPolicy = jetstream.DeliverNewPolicy
	}
	cons, err := js.OrderedConsumer(ctx, o.stream, cfg)
	if err != nil {
		return fmt.Errorf("read stream %s: %w", o.stream, explain(err))
	}
	if info := cons.CachedInfo(); !o.follow && info != nil && info.NumPending == 0 {
		return nil
	}
	it, err := cons.Messages(jetstream.PullMaxMessages(256))
	if err != nil {
		return fmt.Errorf("read stream %s: %w", o.stream, err)
	}
	defer it.Stop()
	for {
		msg, err := it.Next(jetstream.NextContext(ctx))
		if err != nil {
			if ctxErr := contextErr(ctx); ctxErr != nil {
				if o.follow {
					return nil
				}
				return fmt.Errorf("read stream %s: %w", o.stream, ctxErr)
			}
			return fmt.Errorf("read stream %s: %w", o.stream, err)
		}
		meta, err := msg.Metadata()
		if err != nil {
			return fmt.Errorf("read stream %s: %w", o.stream, err)
		}
		if !o.follow && meta.Sequence.Stream > last {
			return nil
		}
		if err := fn(msg, meta); err != nil {
			return err
		}
		if !o.follow && (meta.NumPending == 0 || meta.Sequence.Stream >= last) {
			return nil
		}
	}
}

// logfmtValue quotes v when it would not read as one key=value token.
func logfmtValue(v string) string {
	if v == "" || strings.ContainsAny(v, " \t\r\n\"=") {
		return fmt.Sprintf("%q", v)
	}
	return v
}

// contextErr is ctx.Err(), and DeadlineExceeded as soon as the deadline
// has passed, before the context's timer fires: nats.go refuses a context
// whose deadline has passed with its own error ("invalid jetstream
// option"), which must still read as the timeout it is.
func contextErr(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if dl, ok := ctx.Deadline(); ok && !time.Now().Before(dl) {
		return context.DeadlineExceeded
	}
	return nil
}
