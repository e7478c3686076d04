package bus

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"sync"
	"time"

	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/ThreeDotsLabs/watermill/message/router/middleware"
	"github.com/google/uuid"
	"github.com/nats-io/nats.go/jetstream"
)

// Metadata keys the Subscriber sets on every message.
const (
	MetaSubject      = "nats_subject"
	MetaStream       = "nats_stream"
	MetaStreamSeq    = "nats_stream_seq"
	MetaNumDelivered = "nats_num_delivered"
	MetaMsgID        = "nats_msg_id"
	MetaReceivedAt   = "received_at"
)

// CorrelationIDHeader is the NATS header a publisher may set to follow an
// event through the consumer's logs to its result; without it the event ID
// serves.
const CorrelationIDHeader = "Correlation-Id"

// eventNamespace seeds the UUIDs of events published without any ID, so a
// redelivered event keeps its ID.
var eventNamespace = uuid.MustParse("6f1d9a52-3c55-4f43-9a4f-0c7f1e0b9d8e")

// PositionID returns the stable UUID of the message at seq in stream.
func PositionID(stream string, seq uint64) string {
	return uuid.NewSHA1(eventNamespace, []byte(stream+":"+strconv.FormatUint(seq, 10))).String()
}

// SubscriberConfig configures a Subscriber.
type SubscriberConfig struct {
	Stream  string // the content stream
	Durable string // the durable consumer, created beforehand by Provision
	// AckWait must equal the durable's AckWait: InProgress is sent every
	// third of it while an event waits.
	AckWait time.Duration
	// NakDelay returns the redelivery delay of an event that failed for
	// the n-th time (n from 1); nil means a capped exponential back-off
	// from 1 s to 2 min.
	NakDelay func(n uint64) time.Duration
	// PullBatch is how many messages one pull request asks for (≤ 500).
	PullBatch int
	// CloseTimeout bounds how long Close waits for messages in flight
	// (30 s when 0); those not finished by then are redelivered later.
	CloseTimeout time.Duration
	Logger       *slog.Logger
}

// Subscriber is a watermill message.Subscriber over a durable JetStream
// pull consumer that keeps many messages in flight.
type Subscriber struct {
	js  jetstream.JetStream
	cfg SubscriberConfig
	log *slog.Logger

	mu       sync.Mutex
	closed   bool
	closing  chan struct{}
	consumes []jetstream.ConsumeContext
	inflight sync.WaitGroup
}

var _ message.Subscriber = (*Subscriber)(nil)

// NewSubscriber returns a Subscriber that reads cfg.Durable on cfg.Stream.
func NewSubscriber(js jetstream.JetStream, cfg SubscriberConfig) (*Subscriber, error) {
	if cfg.Stream == "" || cfg.Durable == "" {
		return nil, errors.New("bus: subscriber needs a stream and a durable consumer")
	}
	if cfg.AckWait <= 0 {
		cfg.AckWait = 30 * time.Second
	}
	if cfg.NakDelay == nil {
		cfg.NakDelay = DefaultNakDelay
	}
	if cfg.CloseTimeout <= 0 {
		cfg.CloseTimeout = 30 * time.Second
	}
	if cfg.PullBatch <= 0 || cfg.PullBatch > 500 {
		cfg.PullBatch = 500
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Subscriber{js: js, cfg: cfg, log: log, closing: make(chan struct{})}, nil
}

// DefaultNakDelay doubles from 1 s per failed delivery, capped at 2 min.
func DefaultNakDelay(n uint64) time.Duration {
	d := time.Second
	for i := uint64(1); i < n && d < 2*time.Minute; i++ {
		d *= 2
	}
	return min(d, 2*time.Minute)
}

// Subscribe starts consuming; topic is informational (the durable decides
// what is delivered). The channel is closed when the subscriber closes.
func (s *Subscriber) Subscribe(ctx context.Context, topic string) (<-chan *message.Message, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil, errors.New("bus: subscriber closed")
	}
	cons, err := s.js.Consumer(ctx, s.cfg.Stream, s.cfg.Durable)
	if err != nil {
		return nil, fmt.Errorf("bus: durable %s on %s: %w", s.cfg.Durable, s.cfg.Stream, err)
	}
	out := make(chan *message.Message)
	// handoff counts the callbacks under way. Closed() can report the
	// consumption stopped while a callback is still starting, so a
	// callback counts itself only while stopped is unset: the Wait below
	// then cannot miss one and close out under its feet.
	var (
		handoffMu sync.Mutex
		stopped   bool
		handoff   sync.WaitGroup
	)
	cc, err := cons.Consume(func(m jetstream.Msg) {
		handoffMu.Lock()
		if stopped {
			handoffMu.Unlock()
			_ = m.Nak()
			return
		}
		handoff.Add(1)
		handoffMu.Unlock()
		defer handoff.Done()
		s.deliver(ctx, m, out)
	}, jetstream.PullMaxMessages(s.cfg.PullBatch), jetstream.ConsumeErrHandler(func(_ jetstream.ConsumeContext, err error) {
		s.log.Debug("jetstream consume", "err", err)
	}))
	if err != nil {
		return nil, fmt.Errorf("bus: consume %s: %w", s.cfg.Durable, err)
	}
	s.consumes = append(s.consumes, cc)
	go func() {
		select {
		case <-s.closing:
		case <-ctx.Done():
			cc.Stop()
		}
		<-cc.Closed()
		handoffMu.Lock()
		stopped = true
		handoffMu.Unlock()
		handoff.Wait()
		close(out)
	}()
	return out, nil
}

func (s *Subscriber) deliver(ctx context.Context, m jetstream.Msg, out chan<- *message.Message) {
	meta, err := m.Metadata()
	if err != nil {
		s.log.Error("jetstream message without metadata", "subject", m.Subject(), "err", err)
		_ = m.Term()
		return
	}
	msgID, corrID := "", ""
	if h := m.Headers(); h != nil {
		msgID = h.Get(jetstream.MsgIDHeader)
		corrID = h.Get(CorrelationIDHeader)
	}
	wm := message.NewMessage(PositionID(meta.Stream, meta.Sequence.Stream), m.Data())
	wm.Metadata.Set(MetaSubject, m.Subject())
	wm.Metadata.Set(MetaStream, meta.Stream)
	wm.Metadata.Set(MetaStreamSeq, strconv.FormatUint(meta.Sequence.Stream, 10))
	wm.Metadata.Set(MetaNumDelivered, strconv.FormatUint(meta.NumDelivered, 10))
	wm.Metadata.Set(MetaMsgID, msgID)
	wm.Metadata.Set(MetaReceivedAt, time.Now().UTC().Format(time.RFC3339Nano))
	if corrID != "" {
		middleware.SetCorrelationID(corrID, wm)
	}
	msgCtx, cancel := context.WithCancel(ctx)
	wm.SetContext(msgCtx)

	// Counted before the hand-off and under mu, so that no Add races
	// with the Wait in Close, which sets closed first.
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		cancel()
		_ = m.Nak()
		return
	}
	s.inflight.Add(1)
	s.mu.Unlock()
	select {
	case out <- wm:
	case <-s.closing:
		cancel()
		// Hand it straight back, so another replica takes it now rather
		// than after AckWait.
		_ = m.Nak()
		s.inflight.Done()
		return
	case <-ctx.Done():
		cancel()
		_ = m.Nak()
		s.inflight.Done()
		return
	}
	go func() {
		defer s.inflight.Done()
		defer cancel()
		tick := time.NewTicker(s.cfg.AckWait / 3)
		defer tick.Stop()
		for {
			select {
			case <-wm.Acked():
				if err := m.Ack(); err != nil {
					s.log.Warn("ack failed; the event will be redelivered", "stream_seq", meta.Sequence.Stream, "err", err)
				}
				return
			case <-wm.Nacked():
				_ = m.NakWithDelay(s.cfg.NakDelay(meta.NumDelivered))
				return
			case <-tick.C:
				_ = m.InProgress()
			}
		}
	}()
}

// Close stops pulling new messages and waits, at most CloseTimeout, until
// every message already handed to the router is acked or nacked.
func (s *Subscriber) Close() error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	s.closed = true
	close(s.closing)
	consumes := s.consumes
	s.mu.Unlock()
	for _, cc := range consumes {
		cc.Stop()
	}
	for _, cc := range consumes {
		<-cc.Closed()
	}
	done := make(chan struct{})
	go func() { s.inflight.Wait(); close(done) }()
	select {
	case <-done:
		return nil
	case <-time.After(s.cfg.CloseTimeout):
		return errors.New("bus: messages still in flight at close; they will be redelivered")
	}
}
