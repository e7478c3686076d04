package bus

import (
	"context"
	"crypto/sha1"
	"errors"
	"fmt"
	"log/slog"
	"slices"
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
	// MetaNakDelay may be set by the handler on a message it nacks, as a
	// time.Duration string, to choose the redelivery delay (a deferral
	// until a quota allows) instead of NakDelay's back-off.
	MetaNakDelay = "nak_delay"
	// MetaLastDelivery is set ("true") on the delivery of an event that
	// the durable's MaxDeliver allows no more of: if this one ends
	// without an ack, JetStream keeps the event without delivering it.
	MetaLastDelivery = "nats_last_delivery"
)

// CorrelationIDHeader is the NATS header a publisher may set to follow an
// event through the consumer's logs to its result; without it the event ID
// serves.
const CorrelationIDHeader = "Correlation-Id"

// eventNamespace seeds the UUIDs of events published without any ID, so a
// redelivered event keeps its ID.
var eventNamespace = uuid.MustParse("6f1d9a52-3c55-4f43-9a4f-0c7f1e0b9d8e")

// PositionID returns the stable UUID of the message at seq in stream: the
// name-based (SHA-1, version 5) UUID of "stream:seq" in eventNamespace, as
// uuid.NewSHA1 makes it, computed without its allocations.
func PositionID(stream string, seq uint64) string {
	var buf [96]byte
	b := append(buf[:0], eventNamespace[:]...)
	b = append(b, stream...)
	b = append(b, ':')
	b = strconv.AppendUint(b, seq, 10)
	sum := sha1.Sum(b)
	var id uuid.UUID
	copy(id[:], sum[:])
	id[6] = id[6]&0x0f | 5<<4 // version 5
	id[8] = id[8]&0x3f | 0x80 // RFC 4122 variant
	return id.String()
}

// SubscriberConfig configures a Subscriber.
type SubscriberConfig struct {
	Stream  string // the content stream
	Durable string // the durable consumer, created beforehand by Provision
	// AckWait is the durable's AckWait, used only if the durable's own
	// cannot be read: while an event waits, InProgress is sent at least
	// every third of it (or of the shortest of the durable's BackOff).
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
	// ConfirmAcks makes each ack wait, at most AckTimeout (5 s when 0),
	// for the server's confirmation, so that an ack lost on the way is
	// logged. Either way an ack that did not arrive means the event is
	// redelivered after AckWait (and its result deduplicated); nothing is
	// lost. Off by default: it costs about a quarter of the throughput
	// over TCP and, over an in-process connection, it made the pull
	// consumer stall for 30 s now and then (BenchmarkSubscriberAck).
	ConfirmAcks bool
	AckTimeout  time.Duration
	// StuckAfter is how long an event may stay unacknowledged (handled,
	// or nacked and redelivered, since this process first took it)
	// before it is logged, once, as stuck (DefaultStuckAfter when 0).
	// OldestUnacked reports the oldest such event at any time.
	StuckAfter time.Duration
	Logger     *slog.Logger
}

// DefaultStuckAfter is SubscriberConfig.StuckAfter by default: far beyond
// an event's usual seconds, and beyond the minutes that a burst paced by
// Akamai's buckets may make an event wait.
const DefaultStuckAfter = 10 * time.Minute

// Subscriber is a watermill message.Subscriber over a durable JetStream
// pull consumer that keeps many messages in flight. Pause and Resume stop
// and restart taking new messages.
type Subscriber struct {
	js  jetstream.JetStream
	cfg SubscriberConfig
	log *slog.Logger

	// pauseMu serialises Subscribe, Pause and Resume, so that a
	// subscription starts or stops consuming in one place at a time.
	pauseMu sync.Mutex

	mu       sync.Mutex
	handoff  *sync.Cond    // broadcast (with mu) when a hand-off ends
	closed   bool          // Close was called
	paused   bool          // Pause was called and Resume not yet
	pausing  chan struct{} // closed by Pause; a new one on Resume
	closing  chan struct{} // closed by Close
	subs     []*subscription
	inflight sync.WaitGroup // messages handed to the router, not yet acked or nacked
	// draining counts the Pause, Close and watch calls waiting for a
	// consumption they drained to stop; meanwhile messages to give back
	// wait in returns (see giveBack).
	draining int
	returns  []jetstream.Msg

	unacked   *unacked
	watchOnce sync.Once // starts watchStuck
}

// drainWait bounds how long Pause, and a subscription whose context
// ended, wait for the drained consumption to stop before giving back
// what it delivered.
const drainWait = 2 * time.Second

// subscription is one Subscribe call: its channel and its consumption.
type subscription struct {
	ctx        context.Context
	cons       jetstream.Consumer
	out        chan *message.Message
	ackWait    time.Duration
	maxDeliver int        // the durable's MaxDeliver; 0 or less: no bound
	beats      *heartbeat // keeps the messages handed over alive

	// Guarded by Subscriber.mu.
	cc      jetstream.ConsumeContext // nil while paused or stopped
	stopped bool                     // out is closing: no more hand-offs
	handing int                      // callbacks past the check, before the hand-off ends
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
	if cfg.AckTimeout <= 0 {
		cfg.AckTimeout = 5 * time.Second
	}
	if cfg.StuckAfter <= 0 {
		cfg.StuckAfter = DefaultStuckAfter
	}
	if cfg.PullBatch <= 0 || cfg.PullBatch > 500 {
		cfg.PullBatch = 500
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	s := &Subscriber{js: js, cfg: cfg, log: log, pausing: make(chan struct{}), closing: make(chan struct{}),
		// A nacked event is back within its delay and an ack wait,
		// unless another replica took it.
		unacked: newUnacked(cfg.AckWait + 30*time.Second)}
	s.handoff = sync.NewCond(&s.mu)
	return s, nil
}

// DefaultNakDelay doubles from 1 s per failed delivery, capped at 2 min.
func DefaultNakDelay(n uint64) time.Duration {
	d := time.Second
	for i := uint64(1); i < n && d < 2*time.Minute; i++ {
		d *= 2
	}
	return min(d, 2*time.Minute)
}

// Subscribe starts consuming (unless the subscriber is paused: then at
// Resume); topic is informational (the durable decides what is
// delivered). The channel is closed when the subscriber closes or ctx
// ends.
func (s *Subscriber) Subscribe(ctx context.Context, topic string) (<-chan *message.Message, error) {
	s.pauseMu.Lock()
	defer s.pauseMu.Unlock()
	errClosed := errors.New("bus: subscriber closed")
	if s.isClosed() {
		return nil, errClosed
	}
	cons, err := s.js.Consumer(ctx, s.cfg.Stream, s.cfg.Durable)
	if err != nil {
		return nil, fmt.Errorf("bus: durable %s on %s: %w", s.cfg.Durable, s.cfg.Stream, err)
	}
	sub := &subscription{ctx: ctx, cons: cons, out: make(chan *message.Message), ackWait: s.cfg.AckWait}
	if info := cons.CachedInfo(); info != nil {
		sub.ackWait = progressInterval(info.Config, s.cfg.AckWait)
		sub.maxDeliver = info.Config.MaxDeliver
	}
	s.watchOnce.Do(func() { go s.watchStuck() })
	sub.beats = newHeartbeat(max(sub.ackWait/3, time.Millisecond))
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil, errClosed
	}
	paused := s.paused
	s.subs = append(s.subs, sub)
	s.mu.Unlock()
	if !paused {
		if err := s.consume(sub); err != nil {
			s.mu.Lock()
			s.subs = slices.DeleteFunc(s.subs, func(x *subscription) bool { return x == sub })
			s.mu.Unlock()
			return nil, err
		}
	}
	go s.watch(sub)
	return sub.out, nil
}

// progressInterval is the ack wait that InProgress must beat: the
// durable's AckWait, or the shortest step of its BackOff, which replaces
// AckWait for redeliveries.
func progressInterval(cc jetstream.ConsumerConfig, fallback time.Duration) time.Duration {
	w := cc.AckWait
	if w <= 0 {
		w = fallback
	}
	for _, b := range cc.BackOff {
		if b > 0 && b < w {
			w = b
		}
	}
	return w
}

func (s *Subscriber) isClosed() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.closed
}

// consume starts pulling for sub, unless it should not pull (any more).
func (s *Subscriber) consume(sub *subscription) error {
	cc, err := sub.cons.Consume(func(m jetstream.Msg) { s.handle(sub, m) },
		jetstream.PullMaxMessages(s.cfg.PullBatch),
		jetstream.ConsumeErrHandler(func(_ jetstream.ConsumeContext, err error) {
			s.log.Debug("jetstream consume", "err", err)
		}))
	if err != nil {
		return fmt.Errorf("bus: consume %s: %w", s.cfg.Durable, err)
	}
	s.mu.Lock()
	if s.closed || s.paused || sub.stopped || sub.cc != nil {
		s.mu.Unlock()
		cc.Drain()
		return nil
	}
	sub.cc = cc
	s.mu.Unlock()
	return nil
}

// watch closes sub's channel once the subscriber closes or sub's context
// ends, after the last hand-off.
func (s *Subscriber) watch(sub *subscription) {
	select {
	case <-s.closing:
	case <-sub.ctx.Done():
	}
	s.mu.Lock()
	sub.stopped = true
	var ccs []jetstream.ConsumeContext
	if sub.cc != nil {
		ccs = append(ccs, sub.cc)
		sub.cc = nil
	}
	s.draining++
	s.mu.Unlock()
	drain(ccs)
	s.mu.Lock()
	for sub.handing > 0 {
		s.handoff.Wait()
	}
	s.subs = slices.DeleteFunc(s.subs, func(x *subscription) bool { return x == sub })
	s.mu.Unlock()
	close(sub.out)
	timeout := time.NewTimer(drainWait)
	defer timeout.Stop()
	s.awaitDrained(ccs, timeout.C)
}

// takeConsumes takes every subscription's consumption, to drain it. s.mu
// must be held.
func (s *Subscriber) takeConsumes() []jetstream.ConsumeContext {
	var ccs []jetstream.ConsumeContext
	for _, sub := range s.subs {
		if sub.cc != nil {
			ccs = append(ccs, sub.cc)
			sub.cc = nil
		}
	}
	return ccs
}

// drain stops pulling. Drain rather than Stop: messages already buffered
// client-side come to the callback, which gives them back, instead of
// being dropped and redelivered only after AckWait.
func drain(ccs []jetstream.ConsumeContext) {
	for _, cc := range ccs {
		cc.Drain()
	}
}

// giveBack naks a message that was pulled but not handed to the router,
// so that JetStream redelivers it now, to another replica or after
// Resume. While a drain is under way the nak waits: the drained pull
// request may still be open on the server, which would redeliver the
// message straight into it, to a subscription that is going away.
func (s *Subscriber) giveBack(m jetstream.Msg) {
	s.mu.Lock()
	if s.draining > 0 {
		s.returns = append(s.returns, m)
		s.mu.Unlock()
		return
	}
	s.mu.Unlock()
	_ = m.Nak()
}

// awaitDrained waits until the drained ccs have stopped, or timeout, and
// then, unless another drain is still under way, gives back the messages
// that waited. It reports whether every cc stopped in time.
func (s *Subscriber) awaitDrained(ccs []jetstream.ConsumeContext, timeout <-chan time.Time) bool {
	stopped := true
wait:
	for _, cc := range ccs {
		select {
		case <-cc.Closed():
		case <-timeout:
			stopped = false
			break wait
		}
	}
	s.mu.Lock()
	s.draining--
	var back []jetstream.Msg
	if s.draining == 0 {
		back, s.returns = s.returns, nil
	}
	s.mu.Unlock()
	for _, m := range back {
		_ = m.Nak()
	}
	return stopped
}

// handle is the Consume callback: it hands m to the router, or gives it
// back (giveBack) if the subscriber is paused or stopping. It returns
// once the router took m.
func (s *Subscriber) handle(sub *subscription, m jetstream.Msg) {
	meta, err := m.Metadata()
	if err != nil {
		s.log.Error("jetstream message without metadata", "subject", m.Subject(), "err", err)
		_ = m.Term()
		return
	}
	// Counted under mu: Pause, Close and watch set their flag under mu
	// and then wait for the hand-offs counted so far; none starts after.
	s.mu.Lock()
	if s.closed || s.paused || sub.stopped {
		s.mu.Unlock()
		s.giveBack(m)
		return
	}
	sub.handing++
	s.inflight.Add(1)
	pausing := s.pausing
	s.mu.Unlock()
	handed := s.deliver(sub, m, meta, pausing)
	if !handed {
		s.giveBack(m)
		s.inflight.Done()
	}
	s.mu.Lock()
	sub.handing--
	s.handoff.Broadcast()
	s.mu.Unlock()
}

// deliver hands m to the router and starts the goroutine that waits for
// its ack or nack. It returns false, having handed nothing, if the
// subscriber pauses or stops first.
func (s *Subscriber) deliver(sub *subscription, m jetstream.Msg, meta *jetstream.MsgMetadata, pausing <-chan struct{}) bool {
	msgID, corrID := "", ""
	if h := m.Headers(); h != nil {
		msgID = h.Get(jetstream.MsgIDHeader)
		corrID = h.Get(CorrelationIDHeader)
	}
	wm := message.NewMessage(PositionID(meta.Stream, meta.Sequence.Stream), m.Data())
	now := time.Now()
	wm.Metadata.Set(MetaSubject, m.Subject())
	wm.Metadata.Set(MetaStream, meta.Stream)
	wm.Metadata.Set(MetaStreamSeq, strconv.FormatUint(meta.Sequence.Stream, 10))
	wm.Metadata.Set(MetaNumDelivered, strconv.FormatUint(meta.NumDelivered, 10))
	wm.Metadata.Set(MetaMsgID, msgID)
	wm.Metadata.Set(MetaReceivedAt, now.UTC().Format(time.RFC3339Nano))
	last := sub.maxDeliver > 0 && meta.NumDelivered >= uint64(sub.maxDeliver)
	if last {
		wm.Metadata.Set(MetaLastDelivery, "true")
	}
	if corrID != "" {
		middleware.SetCorrelationID(corrID, wm)
	}
	msgCtx, cancel := context.WithCancel(sub.ctx)
	wm.SetContext(msgCtx)
	select {
	case sub.out <- wm:
	case <-pausing:
		cancel()
		return false
	case <-s.closing:
		cancel()
		return false
	case <-sub.ctx.Done():
		cancel()
		return false
	}
	f := &inflightMsg{m: m, wm: wm, seq: meta.Sequence.Stream, delivered: meta.NumDelivered, lastDelivery: last, cancel: cancel, last: now}
	s.unacked.handed(f, now)
	sub.beats.add(f)
	go s.settle(sub, f)
	return true
}

// inflightMsg is a message handed to the router and not yet acked or
// nacked.
type inflightMsg struct {
	m         jetstream.Msg
	wm        *message.Message
	seq       uint64 // stream sequence
	delivered uint64 // deliveries so far
	// lastDelivery is set when the durable's MaxDeliver allows no more.
	lastDelivery bool
	cancel       context.CancelFunc
	// Guarded by heartbeat.mu: when the message last had a sign of life
	// (its hand-off, or rather just before it; then its last
	// InProgress), and its neighbours in the heartbeat's list.
	last       time.Time
	prev, next *inflightMsg
}

// settle waits for the router's ack or nack of f and passes it on to
// JetStream: an ack, or a nak with the delay the handler chose
// (MetaNakDelay) or else NakDelay's. Meanwhile the subscription's
// heartbeat keeps f alive.
func (s *Subscriber) settle(sub *subscription, f *inflightMsg) {
	defer s.inflight.Done()
	defer f.cancel()
	select {
	case <-f.wm.Acked():
		sub.beats.remove(f)
		s.unacked.acked(f)
		if err := s.ack(f.m); err != nil {
			s.log.Warn("ack failed; the event will be redelivered", "stream_seq", f.seq, "err", err)
		}
	case <-f.wm.Nacked():
		sub.beats.remove(f)
		delay := s.cfg.NakDelay(f.delivered)
		if d, err := time.ParseDuration(f.wm.Metadata.Get(MetaNakDelay)); err == nil && d > 0 {
			delay = d
		}
		s.unacked.nacked(f, delay, f.lastDelivery, time.Now())
		_ = f.m.NakWithDelay(delay)
	}
}

// heartbeat sends InProgress for the messages of a subscription that wait
// long, so that JetStream does not redeliver them after AckWait. One timer
// serves them all, instead of a ticker each: it fires every quarter of the
// interval, while any message is in flight, and then sends InProgress to
// each message that had no sign of life for three quarters of it. So a
// message has its first InProgress at most one interval after its
// hand-off, as with a ticker per message, and the next ones every three
// quarters of an interval.
type heartbeat struct {
	every time.Duration // a quarter of the interval
	due   time.Duration // three quarters

	mu         sync.Mutex
	head, tail *inflightMsg
	timer      *time.Timer // nil until first armed
	armed      bool        // timer is set to fire
}

func newHeartbeat(interval time.Duration) *heartbeat {
	return &heartbeat{every: max(interval/4, 1), due: max(interval-interval/4, 1)}
}

// add lists f, and sets the timer unless it is set.
func (h *heartbeat) add(f *inflightMsg) {
	h.mu.Lock()
	h.pushLocked(f)
	if !h.armed {
		h.armed = true
		if h.timer == nil {
			h.timer = time.AfterFunc(h.every, h.beat)
		} else {
			h.timer.Reset(h.every)
		}
	}
	h.mu.Unlock()
}

// remove unlists f. Once it returns, no InProgress is sent for f: a beat
// sends with mu held, so that an InProgress never follows the ack or nak
// (an InProgress after a nak would replace its delay with AckWait).
func (h *heartbeat) remove(f *inflightMsg) {
	h.mu.Lock()
	h.unlinkLocked(f)
	h.mu.Unlock()
}

func (h *heartbeat) pushLocked(f *inflightMsg) {
	f.prev, f.next = h.tail, nil
	if h.tail != nil {
		h.tail.next = f
	} else {
		h.head = f
	}
	h.tail = f
}

func (h *heartbeat) unlinkLocked(f *inflightMsg) {
	if f.prev != nil {
		f.prev.next = f.next
	} else {
		h.head = f.next
	}
	if f.next != nil {
		f.next.prev = f.prev
	} else {
		h.tail = f.prev
	}
	f.prev, f.next = nil, nil
}

// beat sends InProgress for the messages due, and sets the timer again
// while any message is listed.
func (h *heartbeat) beat() {
	h.mu.Lock()
	defer h.mu.Unlock()
	now := time.Now()
	for f := h.head; f != nil; f = f.next {
		if now.Sub(f.last) >= h.due {
			_ = f.m.InProgress()
			f.last = now
		}
	}
	if h.head == nil {
		h.armed = false
		return
	}
	h.timer.Reset(h.every)
}

// ack acks m, and waits for the server's confirmation if so configured.
func (s *Subscriber) ack(m jetstream.Msg) error {
	if !s.cfg.ConfirmAcks {
		return m.Ack()
	}
	ctx, cancel := context.WithTimeout(context.Background(), s.cfg.AckTimeout)
	defer cancel()
	return m.DoubleAck(ctx)
}

// Pause stops taking new messages: no message is handed to the router
// once Pause returns, and no more are pulled from JetStream. Messages
// already handed over are acked or nacked as usual (and kept alive with
// InProgress meanwhile); those pulled but not yet handed over are given
// back with a nak, once the pull has stopped, so that another replica
// (or this one after Resume) takes them. Pause returns when the pull has
// stopped, normally within a round trip to the server, at most after 2 s.
// It is idempotent and safe to call concurrently with everything else;
// it does nothing once the subscriber is closed.
func (s *Subscriber) Pause() {
	s.pauseMu.Lock()
	defer s.pauseMu.Unlock()
	s.pause()
}

// pause is Pause with pauseMu held.
func (s *Subscriber) pause() {
	s.mu.Lock()
	if s.paused || s.closed {
		s.mu.Unlock()
		return
	}
	s.paused = true
	close(s.pausing)
	ccs := s.takeConsumes()
	s.draining++
	s.mu.Unlock()
	drain(ccs)
	s.mu.Lock()
	for s.handingLocked() > 0 {
		s.handoff.Wait()
	}
	s.mu.Unlock()
	timeout := time.NewTimer(drainWait)
	defer timeout.Stop()
	s.awaitDrained(ccs, timeout.C)
}

func (s *Subscriber) handingLocked() int {
	n := 0
	for _, sub := range s.subs {
		n += sub.handing
	}
	return n
}

// Resume takes messages again after Pause. It is idempotent; it does
// nothing unless paused. If consuming cannot restart (the connection is
// closed), the subscriber stays paused and Resume returns the error;
// Resume can be tried again.
func (s *Subscriber) Resume() error {
	s.pauseMu.Lock()
	defer s.pauseMu.Unlock()
	s.mu.Lock()
	if !s.paused || s.closed {
		s.mu.Unlock()
		return nil
	}
	s.paused = false
	s.pausing = make(chan struct{})
	subs := slices.Clone(s.subs)
	s.mu.Unlock()
	var errs []error
	for _, sub := range subs {
		if err := s.consume(sub); err != nil {
			errs = append(errs, err)
		}
	}
	if len(errs) > 0 {
		s.pause()
		return fmt.Errorf("bus: resume: %w", errors.Join(errs...))
	}
	return nil
}

// Paused reports whether the subscriber is paused.
func (s *Subscriber) Paused() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.paused
}

// Close stops pulling new messages and waits, at most CloseTimeout, until
// every message already handed to the router is acked or nacked. Messages
// pulled but not handed over are given back with a nak.
func (s *Subscriber) Close() error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	s.closed = true
	close(s.closing)
	ccs := s.takeConsumes()
	s.draining++
	s.mu.Unlock()
	drain(ccs)
	timeout := time.NewTimer(s.cfg.CloseTimeout)
	defer timeout.Stop()
	if !s.awaitDrained(ccs, timeout.C) {
		return errors.New("bus: JetStream consumption did not stop within the close timeout")
	}
	done := make(chan struct{})
	go func() { s.inflight.Wait(); close(done) }()
	select {
	case <-done:
		return nil
	case <-timeout.C:
		return errors.New("bus: messages still in flight at close; they will be redelivered")
	}
}

// OldestUnacked returns the event unacknowledged for the longest time
// among those this subscriber took, if any (see SubscriberConfig.StuckAfter).
func (s *Subscriber) OldestUnacked() (UnackedEvent, bool) {
	oldest, ok, _ := s.unacked.scan(time.Now(), 0)
	return oldest, ok
}

// watchStuck logs, once each, the events unacknowledged for longer than
// StuckAfter, until the subscriber closes.
func (s *Subscriber) watchStuck() {
	t := time.NewTicker(max(min(s.cfg.StuckAfter/4, 30*time.Second), 10*time.Millisecond))
	defer t.Stop()
	for {
		select {
		case <-s.closing:
			return
		case now := <-t.C:
			_, _, stuck := s.unacked.scan(now, s.cfg.StuckAfter)
			for _, e := range stuck {
				s.log.Warn("event stuck: unacknowledged for longer than the stuck threshold",
					"event_id", e.EventID, "stream_seq", e.StreamSeq, "deliveries", e.Delivered,
					"age", now.Sub(e.Since).Round(time.Millisecond), "threshold", s.cfg.StuckAfter)
			}
		}
	}
}
