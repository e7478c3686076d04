package bus

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/purgebus/purgebus/events"
)

// StreamsConfig names and sizes the streams and the durable consumer.
type StreamsConfig struct {
	ContentStream    string // events.DefaultContentStream when empty
	ResultStream     string // events.DefaultResultStream when empty
	DeadLetterStream string // events.DefaultDeadLetterStream when empty
	Durable          string // "purgebus" when empty
	Replicas         int    // 1 when 0
	Storage          jetstream.StorageType
	ResultMaxAge     time.Duration // 7 days when 0
	DeadLetterMaxAge time.Duration // 30 days when 0
	// Duplicates is the window in which a repeated Nats-Msg-Id is stored
	// once (2 minutes when 0).
	Duplicates time.Duration
	// MaxAckPending bounds the events in flight (1,000 when 0).
	MaxAckPending int
	// AckWait is how long an unacknowledged event waits before JetStream
	// redelivers it (30 s when 0); the subscriber extends it for events it
	// is still working on.
	AckWait time.Duration
	// MaxDeliver bounds deliveries of one event (-1, unbounded, when 0):
	// transient failures are naked with back-off, and a bound would turn
	// a long Akamai outage into lost purges.
	MaxDeliver int
	// BackOff is the redelivery delay schedule after a nak without delay
	// or an expired AckWait.
	BackOff []time.Duration
}

// Defaults returns c with every zero field set to its default.
func (c StreamsConfig) Defaults() StreamsConfig {
	if c.ContentStream == "" {
		c.ContentStream = events.DefaultContentStream
	}
	if c.ResultStream == "" {
		c.ResultStream = events.DefaultResultStream
	}
	if c.DeadLetterStream == "" {
		c.DeadLetterStream = events.DefaultDeadLetterStream
	}
	if c.Durable == "" {
		c.Durable = "purgebus"
	}
	if c.Replicas == 0 {
		c.Replicas = 1
	}
	if c.ResultMaxAge == 0 {
		c.ResultMaxAge = 7 * 24 * time.Hour
	}
	if c.DeadLetterMaxAge == 0 {
		c.DeadLetterMaxAge = 30 * 24 * time.Hour
	}
	if c.Duplicates == 0 {
		c.Duplicates = 2 * time.Minute
	}
	if c.MaxAckPending == 0 {
		c.MaxAckPending = 1000
	}
	if c.AckWait == 0 {
		c.AckWait = 30 * time.Second
	}
	if c.MaxDeliver == 0 {
		c.MaxDeliver = -1
	}
	return c
}

// Provision creates the three streams and the durable consumer when they
// are missing, and updates the durable consumer's tunables when they
// differ. A stream whose subjects overlap an existing stream is reported
// with that stream's name.
func Provision(ctx context.Context, js jetstream.JetStream, c StreamsConfig) error {
	c = c.Defaults()
	streams := []jetstream.StreamConfig{{
		Name:        c.ContentStream,
		Description: "purgebus: content-changed events",
		Subjects:    events.ContentSubjects,
		Retention:   jetstream.WorkQueuePolicy,
		Storage:     c.Storage,
		Replicas:    c.Replicas,
		Duplicates:  c.Duplicates,
	}, {
		Name:        c.ResultStream,
		Description: "purgebus: one purge result per event",
		Subjects:    []string{events.SubjectResults + ".>"},
		Storage:     c.Storage,
		Replicas:    c.Replicas,
		MaxAge:      c.ResultMaxAge,
		Duplicates:  c.Duplicates,
	}, {
		Name:        c.DeadLetterStream,
		Description: "purgebus: events that can never succeed, with the reason",
		Subjects:    []string{events.SubjectDeadLetters + ".>"},
		Storage:     c.Storage,
		Replicas:    c.Replicas,
		MaxAge:      c.DeadLetterMaxAge,
		Duplicates:  c.Duplicates,
	}}
	for _, sc := range streams {
		if err := ensureStream(ctx, js, sc); err != nil {
			return err
		}
	}
	cc := jetstream.ConsumerConfig{
		Durable:       c.Durable,
		Description:   "purgebus consumer",
		AckPolicy:     jetstream.AckExplicitPolicy,
		AckWait:       c.AckWait,
		MaxAckPending: c.MaxAckPending,
		MaxDeliver:    c.MaxDeliver,
		BackOff:       c.BackOff,
		DeliverPolicy: jetstream.DeliverAllPolicy,
		Replicas:      0,
	}
	if _, err := js.CreateOrUpdateConsumer(ctx, c.ContentStream, cc); err != nil {
		return fmt.Errorf("bus: consumer %s on %s: %w", c.Durable, c.ContentStream, err)
	}
	return nil
}

func ensureStream(ctx context.Context, js jetstream.JetStream, sc jetstream.StreamConfig) error {
	_, err := js.Stream(ctx, sc.Name)
	if err == nil {
		return nil
	}
	if !errors.Is(err, jetstream.ErrStreamNotFound) {
		return fmt.Errorf("bus: look up stream %s: %w", sc.Name, err)
	}
	if _, err := js.CreateStream(ctx, sc); err != nil {
		var apiErr *jetstream.APIError
		if errors.As(err, &apiErr) && apiErr.ErrorCode == errCodeSubjectOverlap {
			return fmt.Errorf("bus: stream %s: subjects %s overlap an existing stream (%s): %w",
				sc.Name, strings.Join(sc.Subjects, ", "), overlapping(ctx, js, sc.Subjects), err)
		}
		return fmt.Errorf("bus: create stream %s: %w", sc.Name, err)
	}
	return nil
}

// errCodeSubjectOverlap is JetStream's error code for a stream whose
// subjects overlap another's; nats.go has no constant for it.
const errCodeSubjectOverlap jetstream.ErrorCode = 10065

// overlapping names the streams that already capture any of subjects.
func overlapping(ctx context.Context, js jetstream.JetStream, subjects []string) string {
	var names []string
	for _, s := range subjects {
		l := js.StreamNames(ctx, jetstream.WithStreamListSubject(s))
		for n := range l.Name() {
			if !slices.Contains(names, n) { // a stream may match several subjects
				names = append(names, n)
			}
		}
	}
	if len(names) == 0 {
		return "unknown"
	}
	return strings.Join(names, ", ")
}
