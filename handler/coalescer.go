package handler

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/purgebus/purgebus/akamai"
	"github.com/purgebus/purgebus/budget"
	"github.com/purgebus/purgebus/events"
)

// Key is what objects must share to travel in one Fast Purge request.
type Key struct {
	Type    akamai.Type
	Action  akamai.Action
	Network akamai.Network
}

func (k Key) String() string {
	return string(k.Action) + "/" + string(k.Type) + "/" + string(k.Network)
}

// Purger sends one Fast Purge request; *akamai.Client is one.
type Purger interface {
	Purge(ctx context.Context, req akamai.Request) (*akamai.Result, error)
}

// Outcome is what became of one object.
type Outcome struct {
	Object string
	// Result is Akamai's acceptance of the request that carried the
	// object, when it was purged.
	Result *akamai.Result
	// Err is why the object was not purged. Permanent(Err) tells whether
	// retrying could ever help.
	Err error
	// Escalation is set when Result is the purge of a CP code or tag that
	// covered the object (see Escalation).
	Escalation *events.Escalation
}

// ErrTransient marks failures that a later retry may overcome: Akamai's
// 429/5xx, timeouts, connection trouble, shutdown.
var ErrTransient = errors.New("transient purge failure")

// Permanent reports whether err means the objects can never be purged as
// they are (Akamai answered 400, 403, 404, 413 for a single object, ...).
func Permanent(err error) bool {
	return err != nil && !errors.Is(err, ErrTransient)
}

// CoalescerConfig configures a Coalescer.
type CoalescerConfig struct {
	// Linger is how long the first object of a batch waits for company
	// before the batch is sent (50 ms when 0).
	Linger time.Duration
	// FlushAt, when positive, is a number of submissions waiting at once
	// at which batches go without lingering further: the consumer sets
	// it to its in-flight limit, since once that many events wait no
	// other event can arrive to share their batch, and lingering would
	// only stall the pipeline.
	FlushAt int
	// MaxObjects caps objects per request by type (akamai.DefaultMaxObjects
	// when nil or missing).
	MaxObjects map[akamai.Type]int
	// MaxInFlight is how many requests one key may have under way
	// (4 when 0). While they are, new objects keep merging.
	MaxInFlight int
	// MaxAttempts bounds the tries of one request on transient errors
	// (5 when 0); then its objects fail with ErrTransient and their
	// events are redelivered later.
	MaxAttempts int
	// Backoff returns the wait before try n+1 (n from 1); nil means
	// exponential from 200 ms, capped at 10 s, with full jitter.
	Backoff func(n int) time.Duration
	// RequestTimeout bounds one HTTP request (30 s when 0).
	RequestTimeout time.Duration
	Logger         *slog.Logger
	// Observe, when set, is told about every request sent.
	Observe func(RequestStats)
	// OnSubmit, when set, is told about every submission of n objects,
	// before deduplication: with Observe it gives the coalescing ratio.
	OnSubmit func(key Key, n int)
	// Budget paces requests to the account's token buckets: a request
	// goes out only when its tokens are there, and while a lane waits for
	// them its batch keeps merging new objects. Nil sends as fast as
	// MaxInFlight allows.
	Budget budget.Budget
	// Circuit, when set, is tripped when Akamai refuses the credentials
	// and holds every request until it closes.
	Circuit *Circuit
	// Escalations are the routes whose floods of URLs may be purged by a
	// covering CP code or tag (see Escalation and PurgeRoute).
	Escalations []Escalation
	// EscalationLedger keeps the escalations' hourly budgets, by route
	// name (a budget.LocalLedger of this coalescer when nil); replicas
	// sharing one (budget.KVLedger) share each route's MaxPerHour.
	EscalationLedger budget.Ledger
	// OnEscalation, when set, is told about every escalation Akamai
	// accepted.
	OnEscalation func(EscalationStats)
}

// RequestStats describes one Fast Purge request, for logs and metrics.
type RequestStats struct {
	Key       Key
	Objects   int
	Bytes     int
	Status    int
	PurgeID   string
	SupportID string
	Latency   time.Duration
	Attempt   int
	Err       error
}

func (c CoalescerConfig) withDefaults() CoalescerConfig {
	if c.Linger <= 0 {
		c.Linger = 50 * time.Millisecond
	}
	if c.MaxInFlight <= 0 {
		c.MaxInFlight = 4
	}
	if c.MaxAttempts <= 0 {
		c.MaxAttempts = 5
	}
	if c.EscalationLedger == nil {
		c.EscalationLedger = budget.NewLocalLedger()
	}
	if c.Backoff == nil {
		c.Backoff = func(n int) time.Duration {
			d := 200 * time.Millisecond << min(n-1, 6)
			d = min(d, 10*time.Second)
			return d/2 + rand.N(d/2+1)
		}
	}
	if c.RequestTimeout <= 0 {
		c.RequestTimeout = 30 * time.Second
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	return c
}

// Coalescer merges the objects of many events into few Fast Purge
// requests. Each key (type, action, network) has a lane of its own, so a
// slow or failing key never holds up another. Within a lane, objects are
// deduplicated while they wait, and a batch is sent as soon as it is full
// or has lingered long enough.
type Coalescer struct {
	purger Purger
	cfg    CoalescerConfig

	ctx    context.Context // cancelled to abandon requests under way
	cancel context.CancelFunc

	waiting atomic.Int64 // submissions waiting for their outcomes

	escalations map[string]*escalation // by route; read-only

	mu      sync.Mutex
	lanes   map[Key]*lane
	closing bool
	wg      sync.WaitGroup
}

// NewCoalescer returns a Coalescer sending requests through p.
func NewCoalescer(p Purger, cfg CoalescerConfig) *Coalescer {
	ctx, cancel := context.WithCancel(context.Background())
	c := &Coalescer{purger: p, cfg: cfg.withDefaults(), ctx: ctx, cancel: cancel, lanes: map[Key]*lane{}}
	c.escalations = newEscalations(c, c.cfg.Escalations)
	return c
}

// ErrClosed is returned for objects submitted after Close began.
var ErrClosed = fmt.Errorf("coalescer closed: %w", ErrTransient)

// Purge submits normalized objects under key and waits until each has an
// outcome. The outcomes are in the order of objects. If ctx ends first,
// the objects still get purged but Purge returns their outcomes as
// transient failures.
func (c *Coalescer) Purge(ctx context.Context, key Key, objects []string) []Outcome {
	w := newWaiter(objects)
	if len(objects) == 0 {
		return nil
	}
	return c.submit(ctx, key, w)
}

// submit hands w to the lane of key and waits for its outcomes.
func (c *Coalescer) submit(ctx context.Context, key Key, w *waiter) []Outcome {
	objects := w.objects
	if c.cfg.OnSubmit != nil {
		c.cfg.OnSubmit(key, len(objects))
	}
	l, ok := c.lane(key)
	if !ok {
		w.failAll(ErrClosed)
		return w.outcomes
	}
	c.waiting.Add(1)
	defer c.waiting.Add(-1)
	select {
	case l.in <- w:
	case <-w.done:
		// An escalation covered every object while the lane was busy.
		return w.outcomes
	case <-l.exited:
		w.failAll(ErrClosed)
		return w.outcomes
	case <-ctx.Done():
		w.failAll(fmt.Errorf("%w: %w", ErrTransient, ctx.Err()))
		return w.outcomes
	}
	select {
	case <-w.done:
		return w.outcomes
	case <-ctx.Done():
		out := make([]Outcome, len(objects))
		for i, o := range objects {
			out[i] = Outcome{Object: o, Err: fmt.Errorf("%w: %w", ErrTransient, ctx.Err())}
		}
		return out
	}
}

func (c *Coalescer) lane(key Key) (*lane, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closing {
		return nil, false
	}
	l := c.lanes[key]
	if l == nil {
		maxObjects := c.cfg.MaxObjects[key.Type]
		if maxObjects <= 0 {
			maxObjects = akamai.DefaultMaxObjects[key.Type]
		}
		if c.cfg.Budget != nil {
			// A batch the bucket can never hold would wait forever.
			maxObjects = min(maxObjects, c.cfg.Budget.Capacity(key.Type))
		}
		l = &lane{
			c:          c,
			key:        key,
			maxObjects: maxObjects,
			in:         make(chan *waiter),
			recheck:    make(chan struct{}, 1),
			finished:   make(chan struct{}, c.cfg.MaxInFlight),
			stop:       make(chan struct{}),
			exited:     make(chan struct{}),
		}
		c.lanes[key] = l
		c.wg.Add(1)
		go l.run()
	}
	return l, true
}

// isClosing reports whether Close began.
func (c *Coalescer) isClosing() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.closing
}

// existingLane returns the lane of key, if it was ever used.
func (c *Coalescer) existingLane(key Key) *lane {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.lanes[key]
}

// Close sends everything pending at once, without lingering, and waits
// for the requests under way until ctx ends; then it abandons them, and
// their objects fail with ErrTransient.
func (c *Coalescer) Close(ctx context.Context) error {
	c.mu.Lock()
	if !c.closing {
		c.closing = true
		for _, l := range c.lanes {
			close(l.stop)
		}
	}
	c.mu.Unlock()
	done := make(chan struct{})
	go func() { c.wg.Wait(); close(done) }()
	select {
	case <-done:
		c.cancel()
		return nil
	case <-ctx.Done():
		c.cancel()
		<-done
		return fmt.Errorf("coalescer: requests abandoned at close: %w", ctx.Err())
	}
}

// waiter collects the outcomes of one submission.
type waiter struct {
	objects  []string
	outcomes []Outcome
	mu       sync.Mutex
	left     int
	done     chan struct{}
	// route is set for a submission of an escalating route, whose
	// objects a covering purge may settle outside the lane: settled then
	// makes each object's outcome final once, and route is told.
	route   *escalation
	key     Key
	settled []bool
}

func newWaiter(objects []string) *waiter {
	w := &waiter{objects: objects, outcomes: make([]Outcome, len(objects)), left: len(objects), done: make(chan struct{})}
	for i, o := range objects {
		w.outcomes[i].Object = o
	}
	return w
}

func (w *waiter) set(i int, r *akamai.Result, err error) {
	w.settle(i, r, err, nil)
}

// cover settles the i-th object as covered by the escalation's purge r,
// unless it has its outcome already; it reports whether it had not.
func (w *waiter) cover(i int, r *akamai.Result, esc *events.Escalation) bool {
	return w.settle(i, r, nil, esc)
}

func (w *waiter) settle(i int, r *akamai.Result, err error, esc *events.Escalation) bool {
	w.mu.Lock()
	if w.settled != nil {
		if w.settled[i] {
			w.mu.Unlock()
			return false
		}
		w.settled[i] = true
	}
	w.outcomes[i].Result, w.outcomes[i].Err, w.outcomes[i].Escalation = r, err, esc
	w.left--
	if w.left == 0 {
		close(w.done)
	}
	w.mu.Unlock()
	if w.route != nil {
		w.route.settled(w.key, w, i)
	}
	return true
}

// pending reports whether the i-th object still waits for its outcome;
// only a submission of an escalating route can tell.
func (w *waiter) pending(i int) bool {
	if w.settled == nil {
		return true
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	return !w.settled[i]
}

func (w *waiter) failAll(err error) {
	if w.settled != nil {
		for i := range w.objects {
			w.set(i, nil, err)
		}
		return
	}
	for i := range w.outcomes {
		w.outcomes[i].Err = err
	}
	if w.left > 0 {
		w.left = 0
		close(w.done)
	}
}

// ticket is a waiter's claim on the outcome of one object.
type ticket struct {
	w *waiter
	i int
}

// pending is a batch being filled, with who waits for each object.
type pending struct {
	batch   *akamai.Batch
	tickets map[string][]ticket
	since   time.Time
}

type lane struct {
	c          *Coalescer
	key        Key
	maxObjects int
	in         chan *waiter
	recheck    chan struct{} // an escalation covered some objects
	finished   chan struct{} // a request finished; its slot is free
	stop       chan struct{}
	exited     chan struct{}
}

func (l *lane) newPending() *pending {
	return &pending{batch: akamai.NewBatch(l.key.Type, l.maxObjects), tickets: map[string][]ticket{}}
}

// run merges submissions into batches and sends them. A batch goes when
// it is full, or has lingered, and a request slot is free, and the budget
// grants its tokens; until then arriving objects keep merging into it,
// deduplicated.
func (l *lane) run() {
	defer l.c.wg.Done()
	defer close(l.exited)
	var (
		cur      = l.newPending()
		held     *waiter // a submission that did not fit entirely
		heldFrom int
		stopping bool
		lingered bool
		inflight int
		timer    = time.NewTimer(time.Hour)
		// pacing is set while the batch waits for tokens; paceMin is
		// how many objects it waits for, which is all it had when the
		// wait began: objects that merge in meanwhile go when their
		// tokens are there, never sooner.
		pacing    bool
		paceMin   int
		paceTimer = time.NewTimer(time.Hour)
		abandon   = l.c.ctx.Done()
	)
	timer.Stop()
	paceTimer.Stop()

	// add merges w's objects from index from on, and holds w when the
	// batch fills up before all of them are in.
	add := func(w *waiter, from int) {
		for i := from; i < len(w.objects); i++ {
			if w.settled != nil && !w.pending(i) {
				continue // covered by an escalation
			}
			o := w.objects[i]
			if t, ok := cur.tickets[o]; ok {
				cur.tickets[o] = append(t, ticket{w, i})
				continue
			}
			if !cur.batch.Add(o) {
				if cur.batch.Len() == 0 {
					// Normalized objects always fit an empty batch;
					// fail one that does not rather than loop.
					w.set(i, nil, &akamai.InvalidObjectError{Type: l.key.Type, Object: o, Reason: "does not fit a request"})
					continue
				}
				held, heldFrom = w, i
				return
			}
			cur.tickets[o] = []ticket{{w, i}}
			if cur.batch.Len() == 1 {
				cur.since = time.Now()
				lingered = false
				timer.Reset(l.c.cfg.Linger)
			}
		}
		held = nil
	}

	for {
		full := held != nil || cur.batch.Full()
		due := cur.batch.Len() > 0 && (full || lingered || stopping)
		if due && inflight < l.c.cfg.MaxInFlight && !pacing {
			send := cur
			if b := l.c.cfg.Budget; b != nil {
				n := cur.batch.Len()
				if paceMin == 0 {
					paceMin = n
				}
				got, wait := b.Take(l.key.Type, min(paceMin, n), n)
				if got == 0 {
					pacing = true
					paceTimer.Reset(wait)
					goto wait
				}
				paceMin = 0
				if got < n {
					send, cur = l.split(cur, got)
				} else {
					cur = l.newPending()
				}
			} else {
				cur = l.newPending()
			}
			if cur.batch.Len() == 0 {
				timer.Stop()
				lingered = false
			}
			inflight++
			go func() {
				l.send(send, l.c.cfg.Budget != nil)
				l.finished <- struct{}{}
			}()
			if held != nil {
				add(held, heldFrom)
			}
			continue
		}
		if stopping && inflight == 0 && cur.batch.Len() == 0 && held == nil {
			select {
			case w := <-l.in: // a submission that raced with Close
				add(w, 0)
				continue
			default:
				return
			}
		}
	wait:
		in := l.in
		if full {
			in = nil // back-pressure until a slot takes the full batch
		}
		select {
		case w := <-in:
			add(w, 0)
			if f := l.c.cfg.FlushAt; f > 0 && cur.batch.Len() > 0 && l.c.waiting.Load() >= int64(f) {
				lingered = true
			}
		case <-timer.C:
			lingered = true
		case <-paceTimer.C:
			pacing = false
		case <-l.recheck:
			// An escalation settled objects: they need no tokens.
			cur = l.unsettled(cur)
			if cur.batch.Len() == 0 {
				timer.Stop()
				lingered = false
			}
			pacing, paceMin = false, 0
			paceTimer.Stop()
			if held != nil {
				add(held, heldFrom)
			}
		case <-l.stop:
			stopping = true
			l.stop = nil
		case <-l.finished:
			inflight--
		case <-abandon:
			// Close gave up waiting: what still waits for tokens fails
			// as transient, so its events are redelivered later.
			abandon = nil
			pacing = false
			l.fail(cur, ErrClosed)
			cur = l.newPending()
			if held != nil {
				for i := heldFrom; i < len(held.objects); i++ {
					held.set(i, nil, ErrClosed)
				}
				held = nil
			}
		}
	}
}

// split returns a pending batch of the first n objects of p and one of
// the rest, which keeps p's age.
func (l *lane) split(p *pending, n int) (head, tail *pending) {
	head, tail = l.newPending(), l.newPending()
	head.since, tail.since = p.since, p.since
	for i, o := range p.batch.Objects() {
		dst := tail
		if i < n {
			dst = head
		}
		dst.batch.Add(o)
		dst.tickets[o] = p.tickets[o]
	}
	return head, tail
}

// unsettled returns p without the objects that have their outcomes,
// keeping p's age.
func (l *lane) unsettled(p *pending) *pending {
	q := l.newPending()
	q.since = p.since
	for _, o := range p.batch.Objects() {
		ts := slices.DeleteFunc(p.tickets[o], func(t ticket) bool { return !t.w.pending(t.i) })
		if len(ts) > 0 {
			q.batch.Add(o)
			q.tickets[o] = ts
		}
	}
	return q
}

// fail settles every object of p with err.
func (l *lane) fail(p *pending, err error) {
	for _, ts := range p.tickets {
		for _, t := range ts {
			t.w.set(t.i, nil, err)
		}
	}
}
