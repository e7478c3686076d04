package events

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/google/uuid"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// Publisher publishes content-changed events to NATS JetStream.
type Publisher struct {
	js       jetstream.JetStream
	subject  string
	results  string
	maxBytes int
}

// PublisherConfig configures a Publisher.
type PublisherConfig struct {
	// Subject is where events go: SubjectContentChanged (the default) or a
	// subject below it, such as "content.changed.blog".
	Subject string
	// ResultStream is the stream PurgeAndWait reads results from
	// (DefaultResultStream when empty).
	ResultStream string
	// MaxEventBytes refuses larger events before they are published
	// (DefaultMaxEventBytes, the consumer's default, when 0): the
	// consumer would dead-letter them.
	MaxEventBytes int
}

// NewPublisher returns a Publisher that uses the connection nc.
func NewPublisher(nc *nats.Conn, cfg PublisherConfig) (*Publisher, error) {
	if cfg.Subject == "" {
		cfg.Subject = SubjectContentChanged
	}
	if cfg.ResultStream == "" {
		cfg.ResultStream = DefaultResultStream
	}
	if cfg.Subject != SubjectContentChanged && !hasPrefixToken(cfg.Subject, SubjectContentChanged) {
		return nil, fmt.Errorf("events: subject %q is not %s or below it", cfg.Subject, SubjectContentChanged)
	}
	js, err := jetstream.New(nc)
	if err != nil {
		return nil, fmt.Errorf("events: %w", err)
	}
	if cfg.MaxEventBytes <= 0 {
		cfg.MaxEventBytes = DefaultMaxEventBytes
	}
	return &Publisher{js: js, subject: cfg.Subject, results: cfg.ResultStream, maxBytes: cfg.MaxEventBytes}, nil
}

func hasPrefixToken(s, prefix string) bool {
	return len(s) > len(prefix)+1 && s[:len(prefix)] == prefix && s[len(prefix)] == '.'
}

// Publish is the queued form: it assigns the event an ID when it has none,
// and returns once JetStream has stored the event. The ID doubles as the
// Nats-Msg-Id, so a retried Publish of the same event is stored once. An
// ID that JetStream stored before (within its duplicates window) with
// other content is an error, a *DuplicateEventError: the new content was
// not stored.
func (p *Publisher) Publish(ctx context.Context, e *ContentChanged) error {
	_, err := p.PublishReceipt(ctx, e)
	return err
}

// PublishReceipt is Publish, and also returns what JetStream stored:
// Receipt.Duplicate tells a harmless retry (the same content under an ID
// already stored) from a first publish.
func (p *Publisher) PublishReceipt(ctx context.Context, e *ContentChanged) (Receipt, error) {
	r, _, err := p.publish(ctx, e, nil)
	return r, err
}

// publish is PublishReceipt; waiting is PurgeAndWait's consumer of the
// event's results (nil for Publish), and res the result that the check of
// a duplicate awaited (nil when it did not).
func (p *Publisher) publish(ctx context.Context, e *ContentChanged, waiting jetstream.Consumer) (_ Receipt, res *PurgeResult, _ error) {
	if e.ID == "" {
		e.ID = uuid.NewString()
	}
	data, err := encodeForPublish(e, p.maxBytes)
	if err != nil {
		return Receipt{}, nil, err
	}
	msg := nats.NewMsg(p.subject)
	msg.Data = data
	msg.Header.Set(jetstream.MsgIDHeader, e.ID)
	ack, err := p.js.PublishMsg(ctx, msg)
	if err != nil {
		return Receipt{}, nil, fmt.Errorf("events: publish %s: %w", e.ID, err)
	}
	r := Receipt{ID: e.ID, Stream: ack.Stream, Sequence: ack.Sequence, Duplicate: ack.Duplicate}
	if ack.Duplicate {
		res, err = p.checkDuplicate(ctx, e, r, waiting)
	}
	return r, res, err
}

// encodeForPublish refuses, before anything is published, what the
// consumer would refuse: an invalid ID, an event that Normalize refuses,
// an event larger than maxBytes. e itself is sent as it is, not
// normalized: the consumer normalizes.
func encodeForPublish(e *ContentChanged, maxBytes int) ([]byte, error) {
	if !ValidID(e.ID) {
		return nil, fmt.Errorf("events: event ID %q is not a valid subject token", e.ID)
	}
	check := *e
	check.URLs = append([]string(nil), e.URLs...)
	check.Tags = append([]string(nil), e.Tags...)
	if err := check.Normalize(); err != nil {
		return nil, fmt.Errorf("events: %w", err)
	}
	data, err := e.Encode()
	if err != nil {
		return nil, fmt.Errorf("events: encode: %w", err)
	}
	if len(data) > maxBytes {
		return nil, fmt.Errorf("events: %w", &InvalidEventError{Reason: fmt.Sprintf("event is %d bytes; the limit is %d", len(data), maxBytes)})
	}
	return data, nil
}

// PurgeAndWait is the immediate form: it publishes e like Publish and
// waits for its result, or for ctx to end. A result that is already in
// the result stream (the event was published before) is found too; an ID
// published before with other content is a *DuplicateEventError, at once.
func (p *Publisher) PurgeAndWait(ctx context.Context, e *ContentChanged) (PurgeResult, error) {
	res, _, err := p.PurgeAndWaitReceipt(ctx, e)
	return res, err
}

// PurgeAndWaitReceipt is PurgeAndWait, and also returns what JetStream
// stored, as PublishReceipt does.
func (p *Publisher) PurgeAndWaitReceipt(ctx context.Context, e *ContentChanged) (PurgeResult, Receipt, error) {
	if e.ID == "" {
		e.ID = uuid.NewString()
	}
	if !ValidID(e.ID) {
		return PurgeResult{}, Receipt{}, fmt.Errorf("events: event ID %q is not a valid subject token", e.ID)
	}
	// Subscribe before publishing, so a fast result cannot be missed.
	cons, err := p.js.OrderedConsumer(ctx, p.results, jetstream.OrderedConsumerConfig{
		FilterSubjects: []string{ResultFilter(e.ID)},
	})
	if err != nil {
		return PurgeResult{}, Receipt{}, fmt.Errorf("events: watch results: %w", err)
	}
	r, awaited, err := p.publish(ctx, e, cons)
	if err != nil {
		return PurgeResult{}, r, err
	}
	if awaited != nil {
		return *awaited, r, nil
	}
	res, err := WaitResult(ctx, cons)
	return res, r, err
}

// WaitResult returns the first result delivered by cons, or ctx's error;
// it skips control messages (IsControl).
// It pulls with one continuous Messages iterator rather than a Next per
// wait: on an ordered consumer each Next after the first deletes the
// server's consumer and creates another, which needs a permission
// ($JS.API.CONSUMER.DELETE) a publisher waiting for its result should
// not have.
func WaitResult(ctx context.Context, cons jetstream.Consumer) (PurgeResult, error) {
	it, err := cons.Messages()
	if err != nil {
		return PurgeResult{}, fmt.Errorf("events: waiting for result: %w", err)
	}
	defer it.Stop()
	for {
		msg, err := it.Next(jetstream.NextContext(ctx))
		if err != nil {
			if ctxErr := ctx.Err(); ctxErr != nil {
				return PurgeResult{}, fmt.Errorf("events: waiting for result: %w", ctxErr)
			}
			// nats.go refuses a deadline that has passed before ctx's own
			// timer fired; that is a timeout all the same.
			if dl, ok := ctx.Deadline(); ok && !time.Now().Before(dl) {
				return PurgeResult{}, fmt.Errorf("events: waiting for result: %w", context.DeadlineExceeded)
			}
			if errors.Is(err, nats.ErrTimeout) || errors.Is(err, jetstream.ErrNoMessages) {
				continue
			}
			return PurgeResult{}, fmt.Errorf("events: waiting for result: %w", err)
		}
		if IsControl(msg.Data()) {
			continue
		}
		r, err := DecodeResult(msg.Data())
		if err != nil {
			return PurgeResult{}, fmt.Errorf("events: decode result: %w", err)
		}
		return r, nil
	}
}
