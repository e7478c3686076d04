package bus

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
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
	// PayloadBucket is the object store bucket of the events too large
	// for their dead letter (DefaultPayloadBucket when empty); it has the
	// dead-letter stream's age and size limits.
	PayloadBucket string
	// Replicas is the number of copies of each stream (1 when 0); more
	// than 1 needs a NATS cluster.
	Replicas         int
	Storage          jetstream.StorageType
	ResultMaxAge     time.Duration // 7 days when 0
	DeadLetterMaxAge time.Duration // 30 days when 0
	// ResultMaxBytes and DeadLetterMaxBytes bound the result and
	// dead-letter streams' size; the oldest messages go first. 0 (or less)
	// means no limit but MaxAge; see DefaultEmbeddedResultMaxBytes.
	ResultMaxBytes, DeadLetterMaxBytes int64
	// Duplicates is the content stream's window in which a repeated
	// Nats-Msg-Id (events.Publisher sets the event's ID) is stored once,
	// for publishers that retry (2 minutes when 0).
	Duplicates time.Duration
	// ResultDuplicates is the result and dead-letter streams' window
	// (Duplicates when 0, at most their MaxAge): a result or dead letter
	// published again for the same delivery of an event (Nats-Msg-Id
	// result:<id>:<seq>, deadletter:<id>:<seq>) within it is stored once.
	// nats-server holds every ID of the window in memory, some 150 bytes
	// each: the window costs results per second × window. See
	// DefaultEmbeddedResultDuplicates. JetStream's least window is 100 ms.
	ResultDuplicates time.Duration
	// MaxAckPending bounds the events in flight (1,000 when 0).
	MaxAckPending int
	// AckWait is how long an unacknowledged event waits before JetStream
	// redelivers it (30 s when 0); the subscriber extends it for events it
	// is still working on.
	AckWait time.Duration
	// MaxDeliver bounds deliveries of one event (DefaultMaxDeliver when
	// 0; -1 means no bound). The subscriber marks an event's last
	// delivery (MetaLastDelivery), on which the handler ends it with a
	// dead letter whatever happens, so that no event loops forever.
	MaxDeliver int
	// BackOff is the redelivery delay schedule after a nak without delay
	// or an expired AckWait.
	BackOff []time.Duration
}

// DefaultMaxDeliver is the durable's MaxDeliver by default. A transient
// failure is nacked with DefaultNakDelay's back-off, capped at 2 minutes,
// so 1,000 deliveries outlast some 33 hours of Akamai trouble before the
// event is dead-lettered (and can be replayed); anything that retrying
// cannot cure ends sooner on its own (see package handler).
const DefaultMaxDeliver = 1000

// DefaultEmbeddedResultDuplicates is the result duplicate window that
// EmbeddedDefaults sets. A result is published again for one delivery of
// an event in three cases. Two deliveries overlap (AckWait ran out while
// the first was still being handled): both publish at about the same
// time. A publish failed on the consumer's side although the server
// stored it: the event is nacked and redelivered after DefaultNakDelay's
// 1 s. The ack was lost (a NATS connection lost, or the process killed
// between the publish and the ack): the event is redelivered after
// AckWait, 30 s. The window covers the first two when the redelivery is
// handled at once; the third would need more than AckWait, and the
// window costs memory in proportion to the result rate: some 150 bytes
// per ID, and a backlog drains at thousands of results a second (figure
// 5 of cmd/purgeload, unpaced, 5,000 to 11,000: 15 s already broke its
// flat-memory goal, 45 s took its peak from 100 to 116 MiB). With the
// embedded server an ack is lost only when the process dies, which
// strands the few events between their publish and their ack; each then
// gets a second result (results are at least once). On a cluster, where
// acks are lost on reconnects, Duplicates' 2 minutes apply by default.
const DefaultEmbeddedResultDuplicates = 5 * time.Second

// DefaultEmbeddedResultMaxBytes is the result stream's size bound that
// EmbeddedDefaults sets. Every result has a subject of its own, and
// nats-server keeps an index entry in memory per subject stored (some
// 200 bytes each), so a result stream bounded by age only holds memory
// in proportion to a week of results: 1,000,000 results cost 200 to
// 350 MiB. Results are notifications, consumed as they are published;
// 8 MiB keeps the last 9,000 or so (about 950 bytes stored for a result
// of 3 URLs; at Akamai's 200 URLs a second, two minutes of such events)
// for about 2 MiB of memory. Bounds under 32 MiB also give the stream
// 4 MiB blocks instead of 8 MiB ones, each buffered whole while written
// or trimmed.
const DefaultEmbeddedResultMaxBytes = 8 << 20

// EmbeddedDefaults returns c with the defaults for a consumer's embedded
// server where c leaves them zero: the result stream bounded to
// DefaultEmbeddedResultMaxBytes (a negative ResultMaxBytes means no
// bound) and its duplicate window DefaultEmbeddedResultDuplicates. Such a
// server's memory is the consumer's.
func (c StreamsConfig) EmbeddedDefaults() StreamsConfig {
	if c.ResultMaxBytes == 0 {
		c.ResultMaxBytes = DefaultEmbeddedResultMaxBytes
	}
	if c.ResultDuplicates == 0 {
		c.ResultDuplicates = DefaultEmbeddedResultDuplicates
	}
	return c
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
	if c.ResultDuplicates == 0 {
		c.ResultDuplicates = c.Duplicates
	}
	if c.MaxAckPending == 0 {
		c.MaxAckPending = 1000
	}
	if c.AckWait == 0 {
		c.AckWait = 30 * time.Second
	}
	if c.MaxDeliver == 0 {
		c.MaxDeliver = DefaultMaxDeliver
	}
	if c.PayloadBucket == "" {
		c.PayloadBucket = DefaultPayloadBucket
	}
	return c
}

// Provision creates the three streams and the durable consumer when they
// are missing and updates them when they differ from c: the streams'
// subjects (ours are added to an existing stream's), replicas, retention
// limits and duplicate window, and the durable's tunables. What cannot be
// updated in place (the content stream's retention, the durable's ack
// policy) is an error naming it. A stream whose subjects overlap another
// stream is reported with that stream's name. Provision ends with Verify.
// A cluster that is still forming or electing a leader is waited for (see
// RetryTransient).
func Provision(ctx context.Context, js jetstream.JetStream, c StreamsConfig) error {
	c = c.Defaults()
	return RetryTransient(ctx, func(ctx context.Context) error { return provision(ctx, js, c) })
}

func provision(ctx context.Context, js jetstream.JetStream, c StreamsConfig) error {
	var content jetstream.StreamConfig
	for i, sc := range c.streamConfigs() {
		got, err := ensureStream(ctx, js, sc)
		if err != nil {
			return err
		}
		if i == 0 {
			content = got
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
	// A content stream that also captures other subjects (an existing
	// stream shared with other work) gets a durable that takes content
	// events only: the handler would dead-letter anything else.
	for _, s := range content.Subjects {
		if !coveredBy(s, events.ContentSubjects) {
			cc.FilterSubjects = slices.Clone(events.ContentSubjects)
			break
		}
	}
	if cons, err := js.Consumer(ctx, c.ContentStream, c.Durable); err == nil {
		// Where the durable starts cannot change; keep it.
		old := cons.CachedInfo().Config
		cc.DeliverPolicy, cc.OptStartSeq, cc.OptStartTime = old.DeliverPolicy, old.OptStartSeq, old.OptStartTime
		cc.Description = old.Description
	} else if errors.Is(err, jetstream.ErrNotPullConsumer) {
		return fmt.Errorf("bus: consumer %s on %s %s", c.Durable, c.ContentStream, pushProblem)
	} else if !errors.Is(err, jetstream.ErrConsumerNotFound) {
		return fmt.Errorf("bus: look up consumer %s on %s: %w", c.Durable, c.ContentStream, err)
	}
	if _, err := js.CreateOrUpdateConsumer(ctx, c.ContentStream, cc); err != nil {
		return fmt.Errorf("bus: consumer %s on %s: %w", c.Durable, c.ContentStream, err)
	}
	if _, err := js.CreateOrUpdateObjectStore(ctx, c.payloadStoreConfig()); err != nil {
		return fmt.Errorf("bus: object store bucket %s: %w", c.PayloadBucket, err)
	}
	return Verify(ctx, js, c)
}

// streamConfigs returns the content, result and dead-letter streams as c
// wants them.
func (c StreamsConfig) streamConfigs() []jetstream.StreamConfig {
	return []jetstream.StreamConfig{{
		Name:        c.ContentStream,
		Description: "purgebus: content-changed events",
		Subjects:    slices.Clone(events.ContentSubjects),
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
		MaxBytes:    orUnlimited(c.ResultMaxBytes),
		Duplicates:  min(c.ResultDuplicates, c.ResultMaxAge),
		// Results may be stored in fast batches (BatchPublisher); a
		// server without batch publishing ignores the setting.
		AllowBatchPublish: true,
	}, {
		Name:        c.DeadLetterStream,
		Description: "purgebus: events that can never succeed, with the reason",
		Subjects:    []string{events.SubjectDeadLetters + ".>"},
		Storage:     c.Storage,
		Replicas:    c.Replicas,
		MaxAge:      c.DeadLetterMaxAge,
		MaxBytes:    orUnlimited(c.DeadLetterMaxBytes),
		Duplicates:  min(c.ResultDuplicates, c.DeadLetterMaxAge),
	}}
}

// orUnlimited maps 0 to JetStream's "no limit", -1.
func orUnlimited(n int64) int64 {
	if n <= 0 {
		return -1
	}
	return n
}

// ensureStream creates sc, or updates the existing stream of that name
// where it differs from sc, and returns the stream's configuration.
func ensureStream(ctx context.Context, js jetstream.JetStream, sc jetstream.StreamConfig) (jetstream.StreamConfig, error) {
	s, err := js.Stream(ctx, sc.Name)
	if errors.Is(err, jetstream.ErrStreamNotFound) {
		if _, err := js.CreateStream(ctx, sc); err != nil {
			return sc, streamError(ctx, js, "create", sc, err)
		}
		return sc, nil
	}
	if err != nil {
		return sc, fmt.Errorf("bus: look up stream %s: %w", sc.Name, err)
	}
	old := s.CachedInfo().Config
	if sc.Retention == jetstream.WorkQueuePolicy && old.Retention != jetstream.WorkQueuePolicy {
		return old, fmt.Errorf("bus: stream %s exists with %s retention and JetStream cannot change it to work queue: "+
			"delete the stream, or name another with the stream's flag, and provision again", sc.Name, old.Retention)
	}
	want := old
	for _, subj := range sc.Subjects {
		if !coveredBy(subj, want.Subjects) {
			// JetStream refuses a stream's own subjects overlapping:
			// ours replace those it covers.
			want.Subjects = append(slices.DeleteFunc(slices.Clone(want.Subjects), func(s string) bool {
				return subjectCovers(subj, s)
			}), subj)
		}
	}
	want.Replicas, want.Duplicates = sc.Replicas, sc.Duplicates
	if sc.MaxAge != 0 { // the content stream's limits are the operator's
		want.MaxAge = sc.MaxAge
	}
	if sc.MaxBytes != 0 {
		want.MaxBytes = sc.MaxBytes
	}
	want.AllowBatchPublish = want.AllowBatchPublish || sc.AllowBatchPublish
	if want.Replicas == old.Replicas && want.MaxAge == old.MaxAge && want.Duplicates == old.Duplicates &&
		want.MaxBytes == old.MaxBytes && slices.Equal(want.Subjects, old.Subjects) &&
		(want.AllowBatchPublish == old.AllowBatchPublish || !batchPublishKnown(old)) {
		return old, nil
	}
	if _, err := js.UpdateStream(ctx, want); err != nil {
		return old, streamError(ctx, js, "update", want, err)
	}
	return want, nil
}

// batchPublishKnown reports whether the server that returned old knows
// fast batch publishing: one that does not drops AllowBatchPublish, and
// updating it would be tried, in vain, at every start. The server's
// JetStream API level, in the metadata it returns, tells: fast batches
// came with level 4 (nats-server 2.14).
func batchPublishKnown(old jetstream.StreamConfig) bool {
	lvl, err := strconv.Atoi(old.Metadata["_nats.level"])
	return err == nil && lvl >= 4
}

// streamError explains a failed create or update of sc, naming the
// stream that already captures its subjects if that was the trouble.
func streamError(ctx context.Context, js jetstream.JetStream, op string, sc jetstream.StreamConfig, err error) error {
	var apiErr *jetstream.APIError
	if errors.As(err, &apiErr) && apiErr.ErrorCode == errCodeSubjectOverlap {
		others := overlapping(ctx, js, sc.Subjects, sc.Name)
		if others == "" {
			others = "unknown"
		}
		return fmt.Errorf("bus: stream %s: subjects %s overlap an existing stream (%s): %w",
			sc.Name, strings.Join(sc.Subjects, ", "), others, err)
	}
	return fmt.Errorf("bus: %s stream %s: %w", op, sc.Name, err)
}

// errCodeSubjectOverlap is JetStream's error code for a stream whose
// subjects overlap another's; nats.go has no constant for it.
const errCodeSubjectOverlap jetstream.ErrorCode = 10065

// overlapping names the streams other than self that already capture any
// of subjects, or returns "".
func overlapping(ctx context.Context, js jetstream.JetStream, subjects []string, self string) string {
	var names []string
	for _, s := range subjects {
		l := js.StreamNames(ctx, jetstream.WithStreamListSubject(s))
		for n := range l.Name() {
			if n != self && !slices.Contains(names, n) { // a stream may match several subjects
				names = append(names, n)
			}
		}
	}
	return strings.Join(names, ", ")
}
