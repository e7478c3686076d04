package handler

import (
	"context"
	"fmt"
	"math"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/purgebus/purgebus/akamai"
	"github.com/purgebus/purgebus/budget"
	"github.com/purgebus/purgebus/events"
)

// Escalation lets a flood of one route's URLs be purged by the CP code or
// cache tag that covers them all: one request and one object token
// instead of thousands of URL tokens, which Akamai refills at 200 a
// second.
//
// A route escalates when its URLs waiting in the coalescer (submitted,
// deduplicated, not yet purged) would take longer than After to purge at
// the account's URL refill rate as the budget knows it now, net of the
// tokens already there; at most MaxPerHour times in any sliding hour (as
// CoalescerConfig.EscalationLedger counts them), and one covering purge
// at a time. It first gathers a flood still arriving (see gather). The
// covering purge has the URLs' action and network, waits for its tokens
// and is retried like any request.
// Once Akamai accepts it, it settles exactly the URLs that were waiting
// when it was sent; a URL submitted later is purged on its own (or by a
// later escalation), since its content may have changed after the
// covering purge went out. If the covering purge fails, nothing is
// settled: the URLs are purged one by one, as they would have been.
type Escalation struct {
	// Route names the route in logs, metrics and results
	// (routing.Route.Name); Coalescer.PurgeRoute takes it.
	Route string
	// Type is akamai.TypeCPCode or akamai.TypeTag; Object is the CP code
	// in decimal or the cache tag.
	Type   akamai.Type
	Object string
	// After is the longest tolerated wait of the route's waiting URLs.
	After time.Duration
	// MaxPerHour bounds the escalations in any sliding hour (1 when 0).
	MaxPerHour int
}

// EscalationStats describes one escalation whose covering purge Akamai
// accepted.
type EscalationStats struct {
	Route   string
	Type    akamai.Type
	Object  string
	Key     Key // the URLs' lane
	Covered int // distinct URLs the covering purge settled
	// Avoided is how long the covered URLs would have waited for their
	// tokens.
	Avoided time.Duration
	PurgeID string
}

// EscalationBudget is what is left of an escalating route's hourly
// budget.
type EscalationBudget struct {
	Route      string
	Remaining  int
	MaxPerHour int
}

// escalation is an Escalation at work in one coalescer.
type escalation struct {
	cfg Escalation
	c   *Coalescer

	mu   sync.Mutex
	busy bool // a covering purge is under way
	// spent is when the ledger last said the hour's budget is spent
	// until: no escalation is tried before.
	spent time.Time
	// arrived counts the route's submitted URLs, so that gather sees
	// whether a flood is still coming.
	arrived uint64
	// waiting are the route's submitted URLs without an outcome, by
	// lane, each with who waits for it.
	waiting map[Key]map[string][]ticket
}

// newEscalations indexes the escalations of cfg by route.
func newEscalations(c *Coalescer, cfgs []Escalation) map[string]*escalation {
	if len(cfgs) == 0 {
		return nil
	}
	m := make(map[string]*escalation, len(cfgs))
	for _, e := range cfgs {
		if e.MaxPerHour <= 0 {
			e.MaxPerHour = 1
		}
		m[e.Route] = &escalation{cfg: e, c: c, waiting: map[Key]map[string][]ticket{}}
	}
	return m
}

// PurgeRoute is Purge for the URLs of a route that may escalate (see
// Escalation): route names one of CoalescerConfig.Escalations. Objects of
// other types, and routes without an Escalation, are purged as by Purge.
func (c *Coalescer) PurgeRoute(ctx context.Context, key Key, route string, objects []string) []Outcome {
	e := c.escalations[route]
	if e == nil || key.Type != akamai.TypeURL || len(objects) == 0 {
		return c.Purge(ctx, key, objects)
	}
	w := newWaiter(objects)
	w.route, w.key = e, key
	w.settled = make([]bool, len(objects))
	e.register(key, w)
	e.consider(key)
	return c.submit(ctx, key, w)
}

// register counts w's objects as waiting.
func (e *escalation) register(key Key, w *waiter) {
	e.mu.Lock()
	defer e.mu.Unlock()
	urls := e.waiting[key]
	if urls == nil {
		urls = map[string][]ticket{}
		e.waiting[key] = urls
	}
	for i, o := range w.objects {
		urls[o] = append(urls[o], ticket{w, i})
	}
	e.arrived += uint64(len(w.objects))
}

// settled forgets the i-th object of w, which has its outcome.
func (e *escalation) settled(key Key, w *waiter, i int) {
	e.mu.Lock()
	defer e.mu.Unlock()
	urls := e.waiting[key]
	o := w.objects[i]
	ts := slices.DeleteFunc(urls[o], func(t ticket) bool { return t.w == w && t.i == i })
	if len(ts) == 0 {
		delete(urls, o)
	} else {
		urls[o] = ts
	}
}

// consider escalates the route's waiting URLs of key if they would wait
// too long and the hourly budget allows.
func (e *escalation) consider(key Key) {
	e.mu.Lock()
	n := len(e.waiting[key])
	if e.busy || n == 0 || time.Now().Before(e.spent) {
		e.mu.Unlock()
		return
	}
	tokens, rate := e.c.urlLevel()
	wait := urlWait(n, tokens, rate)
	if wait <= e.cfg.After {
		e.mu.Unlock()
		return
	}
	e.busy = true
	e.mu.Unlock()
	reason := fmt.Sprintf("%d URLs of route %s waiting would take %s at %.0f URLs/s, over the route's %s",
		n, e.cfg.Route, wait.Round(time.Second), rate, e.cfg.After)
	go func() {
		covered := e.escalate(key, reason)
		e.mu.Lock()
		e.busy = false
		e.mu.Unlock()
		if covered {
			// What came meanwhile may be a flood of its own.
			e.consider(key)
		}
	}()
}

// gather waits while the route's flood is still arriving: until no URL
// of the route has been submitted for a quiet spell (After ÷ 50, between
// 10 ms and 1 s), or for at most After ÷ 4. Sent at once, the covering
// purge would take only the flood's first slice, the next escalations
// the next slices, and the hour's budget would be spent before the flood
// is in; measured with purgeload's figure 6, four escalations then
// covered 6,000 URLs each and 25,000 went one by one. The covered URLs
// still wait well under After, which is all escalation promises them.
// It reports false if the coalescer began closing meanwhile.
func (e *escalation) gather() bool {
	quiet := min(max(e.cfg.After/50, 10*time.Millisecond), time.Second)
	deadline := time.Now().Add(e.cfg.After / 4)
	e.mu.Lock()
	last := e.arrived
	e.mu.Unlock()
	t := time.NewTimer(min(quiet, time.Until(deadline)))
	defer t.Stop()
	for {
		select {
		case <-t.C:
		case <-e.c.ctx.Done():
			return false
		}
		if e.c.isClosing() {
			return false
		}
		e.mu.Lock()
		n := e.arrived
		e.mu.Unlock()
		left := time.Until(deadline)
		if n == last || left <= 0 {
			return true
		}
		last = n
		t.Reset(min(quiet, left))
	}
}

// ledgerTimeout bounds a ledger's answer, and ledgerPause is how long
// the route does not escalate after the ledger failed to answer.
const (
	ledgerTimeout = 5 * time.Second
	ledgerPause   = 10 * time.Second
)

// spend takes one escalation from the route's hourly budget; it reports
// false when the budget is spent, or unknown because the ledger failed:
// an escalation nobody can count could exceed what the operator allowed.
func (e *escalation) spend() bool {
	ctx, cancel := context.WithTimeout(e.c.ctx, ledgerTimeout)
	defer cancel()
	now := time.Now()
	ok, next, err := e.c.cfg.EscalationLedger.Spend(ctx, e.cfg.Route, e.cfg.MaxPerHour, now)
	if err != nil {
		e.c.cfg.Logger.Warn("escalation budget unavailable; the URLs are purged one by one", "route", e.cfg.Route, "err", err)
		next = now.Add(ledgerPause)
	}
	if !ok {
		e.mu.Lock()
		e.spent = next
		e.mu.Unlock()
	}
	return ok
}

// urlWait is how long n URLs take when tokens are there and rate more
// come each second.
func urlWait(n int, tokens, rate float64) time.Duration {
	s := max(0, float64(n)-tokens) / rate
	if math.IsInf(s, 0) || math.IsNaN(s) || s > 1e6 {
		s = 1e6
	}
	return time.Duration(s * float64(time.Second))
}

// urlLevel returns the URL tokens there now and the URL refill rate, as
// the budget knows them (others' spending included); without a budget
// that reports them, none and Akamai's documented rate.
func (c *Coalescer) urlLevel() (tokens, perSecond float64) {
	if b, ok := c.cfg.Budget.(interface{ Levels() []budget.Level }); ok {
		for _, l := range b.Levels() {
			if l.Bucket == string(akamai.TypeURL) && l.PerSecond > 0 {
				return l.Tokens, l.PerSecond
			}
		}
	}
	return 0, budget.AkamaiLimits().URL.PerSecond
}

// escalate sends the covering purge for the route's URLs of key that are
// waiting when it goes out, and settles them with it once accepted; it
// reports whether Akamai accepted it.
func (e *escalation) escalate(key Key, reason string) bool {
	cfg := e.cfg
	log := e.c.cfg.Logger
	if !e.gather() || !e.spend() {
		return false // the URLs go as they are
	}
	l, ok := e.c.lane(Key{cfg.Type, key.Action, key.Network})
	if !ok {
		return false // closing: the URLs go as they are
	}
	if err := l.ready(1, false); err != nil {
		log.Warn("escalation abandoned; the URLs are purged one by one", "route", cfg.Route, "err", err)
		return false
	}
	// The covering purge covers what waits now, and nothing submitted
	// later: a URL that arrives after it went out may have changed since.
	e.mu.Lock()
	snapshot := make(map[string][]ticket, len(e.waiting[key]))
	for o, ts := range e.waiting[key] {
		snapshot[o] = slices.Clone(ts)
	}
	tokens, rate := e.c.urlLevel()
	e.mu.Unlock()
	r, err := l.try([]string{cfg.Object}, true)
	if err != nil {
		log.Warn("escalation failed; the URLs are purged one by one", "route", cfg.Route, "type", cfg.Type, "object", cfg.Object,
			"urls", len(snapshot), "err", err)
		return false
	}
	esc := &events.Escalation{Type: cfg.Type, Object: cfg.Object, Reason: reason}
	covered := 0
	for _, ts := range snapshot {
		settled := false
		for _, t := range ts {
			if t.w.cover(t.i, r, esc) {
				settled = true
			}
		}
		if settled {
			covered++
		}
	}
	if ul := e.c.existingLane(key); ul != nil {
		select {
		case ul.recheck <- struct{}{}:
		default: // a recheck is already due
		}
	}
	avoided := urlWait(covered, tokens, rate)
	log.Warn("flood escalated: URLs purged by the object that covers them", "route", cfg.Route, "type", cfg.Type, "object", cfg.Object,
		"key", key.String(), "urls_covered", covered, "urls_waiting", len(snapshot), "wait_avoided", avoided.Round(time.Millisecond), "purge_id", r.PurgeID, "reason", reason)
	if f := e.c.cfg.OnEscalation; f != nil {
		f(EscalationStats{Route: cfg.Route, Type: cfg.Type, Object: cfg.Object, Key: key, Covered: covered, Avoided: avoided, PurgeID: r.PurgeID})
	}
	return true
}

// EscalationBudgets returns what is left of each escalating route's
// hourly budget, by route; a route whose ledger does not answer is left
// out.
func (c *Coalescer) EscalationBudgets() []EscalationBudget {
	out := make([]EscalationBudget, 0, len(c.escalations))
	ctx, cancel := context.WithTimeout(c.ctx, ledgerTimeout)
	defer cancel()
	now := time.Now()
	for _, e := range c.escalations {
		used, err := c.cfg.EscalationLedger.Used(ctx, e.cfg.Route, now)
		if err != nil {
			continue // unknown: better no figure than a wrong one
		}
		out = append(out, EscalationBudget{Route: e.cfg.Route, Remaining: max(e.cfg.MaxPerHour-used, 0), MaxPerHour: e.cfg.MaxPerHour})
	}
	slices.SortFunc(out, func(a, b EscalationBudget) int { return strings.Compare(a.Route, b.Route) })
	return out
}
