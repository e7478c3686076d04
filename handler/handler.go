package handler

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strconv"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/ThreeDotsLabs/watermill/message/router/middleware"

	"github.com/purgebus/purgebus/akamai"
	"github.com/purgebus/purgebus/bus"
	"github.com/purgebus/purgebus/events"
	"github.com/purgebus/purgebus/routing"
)

// Publisher stores a message on a subject and returns once it is stored;
// *bus.Publisher is one.
type Publisher interface {
	Publish(ctx context.Context, subject string, data []byte, msgID string) error
}

// Config configures a Handler.
type Config struct {
	// MaxEventBytes is the size limit of one event
	// (events.DefaultMaxEventBytes when 0).
	MaxEventBytes int
	// PoisonAfter is how many deliveries of an event that crashes the
	// handler are tried before it is dead-lettered (3 when 0).
	PoisonAfter int
	Logger      *slog.Logger
	// Now is the clock; nil means time.Now.
	Now func() time.Time
	// Router, when set, splits each event's objects among Akamai
	// accounts and refuses what the configuration does not allow (see
	// package routing); Accounts holds each account's coalescer. Without
	// a Router every object goes to the Coalescer given to New.
	Router   *routing.Router
	Accounts map[string]*Coalescer
}

// Handler handles content-changed events; see the package documentation.
type Handler struct {
	cfg       Config
	coalescer *Coalescer
	pub       Publisher
	log       *slog.Logger
}

// New returns a Handler that purges through c and publishes results and
// dead letters through pub.
func New(c *Coalescer, pub Publisher, cfg Config) *Handler {
	if cfg.MaxEventBytes <= 0 {
		cfg.MaxEventBytes = events.DefaultMaxEventBytes
	}
	if cfg.PoisonAfter <= 0 {
		cfg.PoisonAfter = 3
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Handler{cfg: cfg, coalescer: c, pub: pub, log: log}
}

// delivery is what the handler knows of one message before decoding it.
type delivery struct {
	id         string
	subject    string
	seq        string
	delivered  int
	receivedAt time.Time
	corrID     string
}

func (h *Handler) delivery(msg *message.Message) delivery {
	d := delivery{
		subject: msg.Metadata.Get(bus.MetaSubject),
		seq:     msg.Metadata.Get(bus.MetaStreamSeq),
		corrID:  middleware.MessageCorrelationID(msg),
	}
	d.delivered, _ = strconv.Atoi(msg.Metadata.Get(bus.MetaNumDelivered))
	if t, err := time.Parse(time.RFC3339Nano, msg.Metadata.Get(bus.MetaReceivedAt)); err == nil {
		d.receivedAt = t
	} else {
		d.receivedAt = h.cfg.Now().UTC()
	}
	// The event's own id wins; then Nats-Msg-Id; then the message's
	// position-derived UUID, stable across redeliveries.
	d.id = msg.UUID
	if id := msg.Metadata.Get(bus.MetaMsgID); events.ValidID(id) {
		d.id = id
	}
	return d
}

// Handle is the watermill handler function. It returns nil once the
// event's result is stored (the router then acks it), or an error when
// the outcome is not final yet (the router nacks it, and it is redelivered
// after a delay).
//
// Watermill runs each message on a goroutine of its own, which starts
// with a small stack: a deeper call copies it to a larger one, for every
// event. So the usual event's result is published from Handle's own small
// frame, and the decoding, purging and summarizing that precede it,
// whose frames are larger, have returned by then; the rare paths
// (refusals, routing, errors) live in functions of their own.
func (h *Handler) Handle(msg *message.Message) error {
	var r reply
	if err := h.handle(msg, &r); err != nil || r.res.Outcome == "" {
		return err
	}
	return h.publishResult(msg.Context(), &r)
}

// handle does what Handle does up to the result of an event that the
// coalescers purged, which it leaves in r for Handle to publish. Results
// of events that it refuses it publishes itself, leaving r as it is.
func (h *Handler) handle(msg *message.Message, r *reply) error {
	d := h.delivery(msg)
	ev, err := events.Decode(msg.Payload, h.cfg.MaxEventBytes)
	if ev.ID != "" {
		if events.ValidID(ev.ID) {
			d.id = ev.ID
		} else if err == nil {
			err = invalidID(ev.ID)
		}
	}
	if d.corrID == "" {
		d.corrID = d.id
	}
	if err != nil {
		return h.refuse(msg, &d, &ev, err)
	}
	if h.cfg.Router != nil {
		return h.handleRouted(msg, &d, &ev, r)
	}
	return h.finish(msg, &d, &ev, h.purge(msg.Context(), h.groups(&ev)), nil, r)
}

func invalidID(id string) error {
	return &events.InvalidEventError{Reason: fmt.Sprintf("id %q is not 1-%d characters from letters, digits and -_:=+", id, events.MaxIDLength)}
}

// refuse answers an event that can never succeed: a failed result naming
// its invalid objects, and a dead letter.
func (h *Handler) refuse(msg *message.Message, d *delivery, ev *events.ContentChanged, err error) error {
	res := h.newResult(d, ev)
	if events.CheckMetadata(ev.Metadata) != nil {
		// Refused for its metadata: not echoed, it may be huge.
		res.Metadata = nil
	}
	var ie *events.InvalidEventError
	if errors.As(err, &ie) {
		for _, o := range ie.Objects {
			res.Failures = append(res.Failures, events.Failure{
				Type: o.Type, Action: ev.Action, Network: ev.Network,
				Objects: []string{o.Object}, Title: "invalid object", Detail: o.Reason,
			})
		}
	}
	return h.deadLetter(msg.Context(), msg, *d, &res, err.Error())
}

// newResult starts the result of the event ev of d, with ev's labels.
func (h *Handler) newResult(d *delivery, ev *events.ContentChanged) events.PurgeResult {
	return events.PurgeResult{
		EventID:       d.id,
		Source:        ev.Source,
		ReceivedAt:    d.receivedAt,
		Subject:       d.subject,
		CorrelationID: d.corrID,
		Metadata:      ev.Metadata,
	}
}

// handleRouted is Handle for an event that h.cfg.Router splits among
// accounts and may refuse in part.
func (h *Handler) handleRouted(msg *message.Message, d *delivery, ev *events.ContentChanged, r *reply) error {
	groups, rejected, err := h.route(msg, *d, ev)
	if err != nil {
		return err
	}
	return h.finish(msg, d, ev, h.purge(msg.Context(), groups), &rejected, r)
}

// finish puts in r the result of an event whose objects have their
// outcomes, and what routing refused (nil: nothing), unless an outcome is
// transient: then it returns an error, and the event is redelivered.
func (h *Handler) finish(msg *message.Message, d *delivery, ev *events.ContentChanged, outcomes []groupOutcomes, rejected *routing.Decision, r *reply) error {
	if err := firstTransient(outcomes); err != nil {
		return h.notFinished(d, err)
	}
	res := &r.res
	*res = h.newResult(d, ev)
	var purged, failed int
	res.Purges, res.Failures, purged, failed = summarize(outcomes)
	if rejected != nil && rejected.Err() != nil {
		// Refused by the routing configuration: a result that says why,
		// and a dead letter to replay once the configuration allows it.
		if err := h.refuseRouted(msg, d, res, ev.Source, rejected); err != nil {
			return err
		}
		failed += len(rejected.Rejected)
	}
	res.Outcome = events.OutcomeOf(purged, failed)
	res.CompletedAt = h.cfg.Now().UTC()
	res.EstimatedCompleteAt = estimatedCompleteAt(res.Purges)
	r.d = *d
	return nil
}

// refuseRouted adds what routing refused to res, and dead-letters the
// event.
func (h *Handler) refuseRouted(msg *message.Message, d *delivery, res *events.PurgeResult, source string, rejected *routing.Decision) error {
	res.Failures = append(res.Failures, rejected.Failures()...)
	return h.publishDeadLetter(msg.Context(), msg, *d, source, rejected.Err().Error())
}

// firstTransient returns the first error among outcomes that a retry may
// overcome, or nil.
func firstTransient(outcomes []groupOutcomes) error {
	for _, g := range outcomes {
		for _, o := range g.outcomes {
			if o.Err != nil && !Permanent(o.Err) {
				return o.Err
			}
		}
	}
	return nil
}

func (h *Handler) notFinished(d *delivery, err error) error {
	h.log.Debug("event not finished; it will be redelivered", "event_id", d.id, "correlation_id", d.corrID, "err", err)
	return fmt.Errorf("event %s: %w", d.id, err)
}

// group is objects of one key going to one account's coalescer.
type group struct {
	account string
	key     Key
	objs    []string
	c       *Coalescer
	route   string // an escalating route's name, for its URLs
}

// purge submits g's objects to its coalescer and waits for their
// outcomes.
func (g *group) purge(ctx context.Context) []Outcome {
	if g.route != "" {
		return g.c.PurgeRoute(ctx, g.key, g.route, g.objs)
	}
	return g.c.Purge(ctx, g.key, g.objs)
}

// groups splits the event's objects into groups by type, for h's one
// coalescer: only the types the event names, since purge skips empty
// groups.
func (h *Handler) groups(ev *events.ContentChanged) []group {
	n := 0
	for _, objs := range [...]int{len(ev.URLs), len(ev.Tags), len(ev.CPCodes)} {
		if objs > 0 {
			n++
		}
	}
	groups := make([]group, 0, n)
	if len(ev.URLs) > 0 {
		groups = append(groups, group{key: Key{akamai.TypeURL, ev.Action, ev.Network}, objs: dedupe(ev.URLs), c: h.coalescer})
	}
	if len(ev.Tags) > 0 {
		groups = append(groups, group{key: Key{akamai.TypeTag, ev.Action, ev.Network}, objs: dedupe(ev.Tags), c: h.coalescer})
	}
	if len(ev.CPCodes) > 0 {
		groups = append(groups, group{key: Key{akamai.TypeCPCode, ev.Action, ev.Network}, objs: dedupe(akamai.CPCodes(ev.CPCodes...)), c: h.coalescer})
	}
	return groups
}

// route splits the event's objects into groups, one per account and key,
// as h.cfg.Router decides. An event over its source's quota is deferred:
// route returns an error, and asks the subscriber to redeliver it when
// the quota allows.
func (h *Handler) route(msg *message.Message, d delivery, ev *events.ContentChanged) ([]group, routing.Decision, error) {
	dec := h.cfg.Router.RouteKeyed(*ev, msg.Metadata.Get(bus.MetaStream)+":"+d.seq, h.cfg.Now())
	if dec.Retry {
		msg.Metadata.Set(bus.MetaNakDelay, dec.RetryAfter.String())
		h.log.Info("event over its source's quota; deferred", "event_id", d.id, "source", ev.Source, "retry_after", dec.RetryAfter)
		return nil, dec, fmt.Errorf("event %s: %w", d.id, dec.Err())
	}
	groups := make([]group, 0, len(dec.Groups))
	for _, g := range dec.Groups {
		c := h.cfg.Accounts[g.Account]
		if c == nil {
			// NewHandler's caller built a coalescer per configured
			// account; a missing one is a wiring bug, never an event's.
			return nil, dec, fmt.Errorf("event %s: no coalescer for account %q", d.id, g.Account)
		}
		groups = append(groups, group{account: g.Account, key: Key{g.Type, dec.Action, dec.Network}, objs: dedupe(g.Objects), c: c, route: g.Route})
	}
	return groups, dec, nil
}

// groupOutcomes are the outcomes of a group's objects, in their order,
// with the account and key they were purged under.
type groupOutcomes struct {
	Key
	account  string
	outcomes []Outcome
}

// purge hands the groups to their coalescers, all at once, and waits for
// every outcome. The usual event has one group: it is purged from this
// goroutine, without starting another. Groups without objects have no
// outcomes.
func (h *Handler) purge(ctx context.Context, groups []group) []groupOutcomes {
	results := make([]groupOutcomes, len(groups))
	busy, only := 0, -1
	for i, g := range groups {
		results[i].Key, results[i].account = g.key, g.account
		if len(g.objs) > 0 {
			busy++
			only = i
		}
	}
	if busy == 1 {
		results[only].outcomes = groups[only].purge(ctx)
	} else {
		var wg sync.WaitGroup
		for i, g := range groups {
			if len(g.objs) == 0 {
				continue
			}
			wg.Go(func() { results[i].outcomes = g.purge(ctx) })
		}
		wg.Wait()
	}
	return results
}

// dedupe returns objs without repeats, in their order: objs itself (its
// capacity clipped) when it has none, else a new slice.
func dedupe(objs []string) []string {
	if len(objs) < 2 {
		return objs
	}
	if len(objs) <= 16 {
		// A few: comparing is cheaper than a map.
		for i := 1; i < len(objs); i++ {
			if slices.Contains(objs[:i], objs[i]) {
				return dedupeMap(objs)
			}
		}
		return objs[:len(objs):len(objs)]
	}
	return dedupeMap(objs)
}

func dedupeMap(objs []string) []string {
	seen := make(map[string]struct{}, len(objs))
	out := objs[:0:0]
	for _, o := range objs {
		if _, ok := seen[o]; !ok {
			seen[o] = struct{}{}
			out = append(out, o)
		}
	}
	return out
}

// deadLetter answers an event that can never succeed: a failed result
// and a copy of the event with the reason on the dead-letter subject.
func (h *Handler) deadLetter(ctx context.Context, msg *message.Message, d delivery, res *events.PurgeResult, reason string) error {
	if err := h.publishDeadLetter(ctx, msg, d, res.Source, reason); err != nil {
		return err
	}
	res.Outcome = events.OutcomeFailed
	if len(res.Failures) == 0 {
		res.Failures = []events.Failure{{Title: "invalid event", Detail: reason}}
	}
	res.CompletedAt = h.cfg.Now().UTC()
	return h.publishResult(ctx, &reply{d: d, res: *res})
}

// publishDeadLetter stores a copy of the event with the reason on the
// dead-letter subject.
func (h *Handler) publishDeadLetter(ctx context.Context, msg *message.Message, d delivery, source, reason string) error {
	dl := events.DeadLetter{
		EventID:    d.id,
		Reason:     reason,
		Source:     source,
		Subject:    d.subject,
		ReceivedAt: d.receivedAt,
		DeadAt:     h.cfg.Now().UTC(),
	}
	if id := middleware.MessageCorrelationID(msg); id != "" {
		// Kept so that a replay is followed under the same ID.
		dl.Headers = map[string][]string{bus.CorrelationIDHeader: {id}}
	}
	// A URL's credentials are refused as an invalid object, and must not
	// be kept either.
	payload := events.RedactPayload(msg.Payload)
	if utf8.Valid(payload) {
		dl.Payload = string(payload)
	} else {
		dl.PayloadBase64 = payload
	}
	data, err := dl.Encode()
	if err != nil {
		return fmt.Errorf("encode dead letter: %w", err)
	}
	if err := h.pub.Publish(ctx, events.DeadLetterSubject(d.id), data, h.msgID("deadletter", &d)); err != nil {
		return fmt.Errorf("publish dead letter %s: %w", d.id, err)
	}
	h.log.Warn("event dead-lettered", "event_id", d.id, "correlation_id", d.corrID, "subject", d.subject, "source", source, "reason", reason)
	return nil
}

// msgID deduplicates what a redelivery of the same stream message
// publishes again.
func (h *Handler) msgID(kind string, d *delivery) string {
	return kind + ":" + d.id + ":" + d.seq
}

// reply is the result of an event, and what publishing it needs.
type reply struct {
	d   delivery
	res events.PurgeResult
}

// publishResult encodes and publishes the result of the event of d.
func (h *Handler) publishResult(ctx context.Context, r *reply) error {
	data, err := r.res.Encode()
	if err != nil {
		return fmt.Errorf("encode result: %w", err)
	}
	if err := h.pub.Publish(ctx, events.ResultSubject(r.res.Outcome, r.d.id), data, h.msgID("result", &r.d)); err != nil {
		return fmt.Errorf("publish result %s: %w", r.d.id, err)
	}
	h.log.Debug("event done", "event_id", r.d.id, "correlation_id", r.d.corrID, "outcome", r.res.Outcome)
	return nil
}

// PoisonMiddleware dead-letters an event whose handling panicked on
// PoisonAfter deliveries, so one poisonous event cannot loop forever.
// Earlier panics become errors, and the event is redelivered.
func (h *Handler) PoisonMiddleware(next message.HandlerFunc) message.HandlerFunc {
	return func(msg *message.Message) (out []*message.Message, err error) {
		defer func() {
			r := recover()
			if r == nil {
				return
			}
			d := h.delivery(msg)
			h.log.Error("handler panicked", "event_id", d.id, "delivery", d.delivered, "panic", fmt.Sprint(r))
			if d.delivered < h.cfg.PoisonAfter {
				out, err = nil, fmt.Errorf("handler panicked: %v", r)
				return
			}
			res := events.PurgeResult{EventID: d.id, ReceivedAt: d.receivedAt, Subject: d.subject, CorrelationID: d.corrID}
			out, err = nil, h.deadLetter(msg.Context(), msg, d, &res, fmt.Sprintf("handler panicked on %d deliveries: %v", d.delivered, r))
		}()
		return next(msg)
	}
}
