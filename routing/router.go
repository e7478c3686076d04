package routing

import (
	"errors"
	"fmt"
	"hash/maphash"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/purgebus/purgebus/akamai"
	"github.com/purgebus/purgebus/events"
)

// Router splits events into per-account purges and refuses what the
// configuration does not allow. It is safe for concurrent use; it keeps
// the state of the per-source quotas, so one Router should serve every
// event of a process.
type Router struct {
	routes      *hostTable[hostRoute]
	tags        *tagTable[string]
	cpcodes     map[int64]string
	tagDefault  string
	codeDefault string

	allowHosts *hostTable[struct{}] // nil: every host
	allowTags  *tagTable[struct{}]  // nil: every tag
	allowCodes map[int64]struct{}   // nil: every CP code

	maxPerEvent int
	quotas      *quotas // nil: no quotas
	seed        maphash.Seed
}

// NewRouter returns a Router for cfg, after filling in its defaults, or
// cfg's problems as a *ConfigError.
func NewRouter(cfg *Config) (*Router, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	c := cfg.withDefaults()
	r := &Router{
		routes:      newHostTable[hostRoute](),
		tags:        newTagTable[string](),
		cpcodes:     map[int64]string{},
		tagDefault:  c.Tags.DefaultAccount,
		codeDefault: c.CPCodes.DefaultAccount,
		maxPerEvent: c.MaxObjectsPerEvent,
		quotas:      newQuotas(c.Quotas),
		seed:        maphash.MakeSeed(),
	}
	// Validate has checked every pattern, and that none repeats.
	for _, rt := range c.Routes {
		hr := hostRoute{account: rt.Account}
		if rt.Escalate != nil {
			hr.escalating = rt.Name()
		}
		for _, h := range rt.Hosts {
			p, _ := parseHostPattern(h)
			r.routes.add(p, hr)
		}
	}
	for _, rt := range c.Tags.Routes {
		for _, t := range rt.Tags {
			p, _ := parseTagPattern(t)
			r.tags.add(p, rt.Account)
		}
	}
	for _, rt := range c.CPCodes.Routes {
		for _, code := range rt.CPCodes {
			r.cpcodes[code] = rt.Account
		}
	}
	if c.Allow.Hosts != nil {
		r.allowHosts = newHostTable[struct{}]()
		for _, h := range c.Allow.Hosts {
			p, _ := parseHostPattern(h)
			r.allowHosts.add(p, struct{}{})
		}
	}
	if c.Allow.Tags != nil {
		r.allowTags = newTagTable[struct{}]()
		for _, t := range c.Allow.Tags {
			p, _ := parseTagPattern(t)
			r.allowTags.add(p, struct{}{})
		}
	}
	if c.Allow.CPCodes != nil {
		r.allowCodes = make(map[int64]struct{}, len(c.Allow.CPCodes))
		for _, code := range c.Allow.CPCodes {
			r.allowCodes[code] = struct{}{}
		}
	}
	return r, nil
}

// Decision is what to do with one event: the objects to purge, per
// account and type, and the objects refused, with the reason. When Retry
// is set, the event is over its source's quota and was deferred: nothing
// is to be purged or refused now, and the event should be delivered again
// after RetryAfter.
type Decision struct {
	// Action and Network are the event's.
	Action  akamai.Action
	Network akamai.Network
	// Groups are the objects to purge, one group per account and type
	// (and escalating route, for URLs), ordered by account name, then
	// route name ("" first), then as akamai.Types. Objects keep the
	// event's order, without duplicates; CP codes are in decimal.
	Groups []Group
	// Rejected are the objects that will not be purged, in the event's
	// order (URLs, tags, CP codes), without duplicates. Rejections are
	// final: the caller reports them as failures of the event's result
	// (see Failures) and does not deliver the event again for them.
	Rejected []Rejection
	// Retry reports a deferred event; see Decision.
	Retry bool
	// RetryAfter is how long a deferred event should wait.
	RetryAfter time.Duration

	retryMsg string
}

// Group is objects of one type that one account purges.
type Group struct {
	Account string
	Type    akamai.Type
	Objects []string
	// Route is set for the URLs of a route with escalate: its name (see
	// Route.Name). Each such route's URLs make a group of their own.
	Route string
}

// hostRoute is what a host pattern routes to.
type hostRoute struct {
	account    string
	escalating string // the route's name when it escalates, else ""
}

// Rejection is an object that will not be purged.
type Rejection struct {
	Type    akamai.Type
	Object  string
	Reason  Reason
	Message string
}

// Objects returns how many objects are to be purged.
func (d Decision) Objects() int {
	n := 0
	for _, g := range d.Groups {
		n += len(g.Objects)
	}
	return n
}

// Failures returns the rejections as the failures of a result: one per
// type, reason and message, with the reason's title (such as "no route")
// as Title and the message as Detail.
func (d Decision) Failures() []events.Failure {
	gs := d.rejectionGroups()
	out := make([]events.Failure, len(gs))
	for i, g := range gs {
		out[i] = events.Failure{Type: g.Type, Action: d.Action, Network: d.Network, Objects: g.Objects, Title: g.Reason.Title(), Detail: g.Message}
	}
	return out
}

// Err returns nil when every object is to be purged. For a deferred event
// it returns an *Error with a positive RetryAfter; otherwise it joins one
// *Error per type, reason and message of the rejections. errors.Is(err,
// routing.NoRoute) and the like tell the reasons apart.
func (d Decision) Err() error {
	if d.Retry {
		return &Error{Reason: QuotaExceeded, Message: d.retryMsg, RetryAfter: d.RetryAfter}
	}
	gs := d.rejectionGroups()
	switch len(gs) {
	case 0:
		return nil
	case 1:
		return gs[0]
	}
	errs := make([]error, len(gs))
	for i, g := range gs {
		errs[i] = g
	}
	return errors.Join(errs...)
}

// rejectionGroups groups the rejections by type, reason and message, in
// the order of their first object.
func (d Decision) rejectionGroups() []*Error {
	var out []*Error
	at := map[[3]string]int{}
	for _, r := range d.Rejected {
		k := [3]string{string(r.Type), string(r.Reason), r.Message}
		i, ok := at[k]
		if !ok {
			i = len(out)
			at[k] = i
			out = append(out, &Error{Reason: r.Reason, Type: r.Type, Message: r.Message})
		}
		out[i].Objects = append(out[i].Objects, r.Object)
	}
	return out
}

// Route decides what becomes of ev, which must be normalized (see
// events.Decode). It is RouteKeyed with a key derived from the event
// itself: its ID, occurred_at, source and objects. Callers that know the
// stored message's identity should prefer RouteKeyed: with the derived key,
// copies of an event identical in all of those are charged to the quota
// only once per hour.
func (r *Router) Route(ev events.ContentChanged, now time.Time) Decision {
	var h maphash.Hash
	h.SetSeed(r.seed)
	field := func(s string) {
		h.WriteString(strconv.Itoa(len(s)))
		h.WriteByte(':')
		h.WriteString(s)
	}
	field(ev.ID)
	field(ev.OccurredAt.UTC().Format(time.RFC3339Nano))
	field(string(ev.Action))
	field(string(ev.Network))
	for _, u := range ev.URLs {
		field(u)
	}
	h.WriteByte('|')
	for _, t := range ev.Tags {
		field(t)
	}
	h.WriteByte('|')
	for _, c := range ev.CPCodes {
		field(strconv.FormatInt(c, 10))
	}
	return r.route(ev, h.Sum64(), now)
}

// RouteKeyed decides what becomes of ev, which must be normalized (see
// events.Decode), at time now. key identifies the stored message across
// its deliveries, such as its stream sequence: the quota charges each key
// once, so that a deferred event, or one delivered again after a
// transient failure, is not charged twice. An empty key means Route's.
//
// In order, RouteKeyed
//   - refuses the whole event (TooManyObjects) if it names more than
//     max_objects_per_event objects;
//   - refuses each object that is not allow-listed (NotAllowed), then each
//     that no route gives an account (NoRoute);
//   - charges the remaining objects to the source's quota; if the source is
//     over quota, the event is deferred (Retry) while it could pass within
//     max_delay, and its remaining objects are refused (QuotaExceeded)
//     otherwise, or at once when over_quota is reject.
func (r *Router) RouteKeyed(ev events.ContentChanged, key string, now time.Time) Decision {
	if key == "" {
		return r.Route(ev, now)
	}
	var h maphash.Hash
	h.SetSeed(r.seed)
	h.WriteString(key)
	return r.route(ev, h.Sum64(), now)
}

// route routes ev; key identifies it for the quota, together with its
// source.
func (r *Router) route(ev events.ContentChanged, key uint64, now time.Time) Decision {
	d := Decision{Action: ev.Action, Network: ev.Network}
	if r.maxPerEvent > 0 && ev.Objects() > r.maxPerEvent {
		msg := fmt.Sprintf("the event names %d objects; at most %d are allowed per event", ev.Objects(), r.maxPerEvent)
		r.each(ev, func(t akamai.Type, obj string) {
			d.Rejected = append(d.Rejected, Rejection{Type: t, Object: obj, Reason: TooManyObjects, Message: msg})
		})
		return d
	}

	type verdict struct {
		Rejection
		to groupKey // when Reason is ""
	}
	var vs []verdict
	n := 0
	r.each(ev, func(t akamai.Type, obj string) {
		to, reason, msg := r.decide(t, obj)
		vs = append(vs, verdict{Rejection{Type: t, Object: obj, Reason: reason, Message: msg}, to})
		if reason == "" {
			n++
		}
	})

	if n > 0 && r.quotas != nil {
		var h maphash.Hash
		h.SetSeed(r.seed)
		h.WriteString(ev.Source)
		h.WriteByte(0)
		h.WriteString(strconv.FormatUint(key, 16))
		switch res := r.quotas.admit(ev.Source, h.Sum64(), n, now); res.verdict {
		case deferred:
			return Decision{Action: ev.Action, Network: ev.Network, Retry: true, RetryAfter: res.retryAfter, retryMsg: res.msg}
		case refused:
			for i := range vs {
				if vs[i].Reason == "" {
					vs[i].Reason, vs[i].Message = QuotaExceeded, res.msg
				}
			}
		}
	}

	byKey := map[groupKey]*[3][]string{} // by index in akamai.Types
	var keys []groupKey
	for _, v := range vs {
		if v.Reason != "" {
			d.Rejected = append(d.Rejected, v.Rejection)
			continue
		}
		g := byKey[v.to]
		if g == nil {
			g = new([3][]string)
			byKey[v.to] = g
			keys = append(keys, v.to)
		}
		i := slices.Index(akamai.Types, v.Type)
		g[i] = append(g[i], v.Object)
	}
	slices.SortFunc(keys, func(a, b groupKey) int {
		if a.account != b.account {
			return strings.Compare(a.account, b.account)
		}
		return strings.Compare(a.route, b.route)
	})
	for _, k := range keys {
		for i, objs := range byKey[k] {
			if len(objs) > 0 {
				d.Groups = append(d.Groups, Group{Account: k.account, Type: akamai.Types[i], Objects: objs, Route: k.route})
			}
		}
	}
	return d
}

// groupKey is the account, and the escalating route if any, of a Group.
type groupKey struct{ account, route string }

// each calls f for every distinct object of ev, in the event's order:
// URLs, tags, then CP codes.
func (r *Router) each(ev events.ContentChanged, f func(akamai.Type, string)) {
	seen := make(map[string]struct{}, ev.Objects())
	do := func(t akamai.Type, obj string) {
		k := string(t) + "\x00" + obj
		if _, dup := seen[k]; dup {
			return
		}
		seen[k] = struct{}{}
		f(t, obj)
	}
	for _, u := range ev.URLs {
		do(akamai.TypeURL, u)
	}
	for _, t := range ev.Tags {
		do(akamai.TypeTag, t)
	}
	for _, c := range ev.CPCodes {
		do(akamai.TypeCPCode, strconv.FormatInt(c, 10))
	}
}

// decide returns the account that purges obj, with the escalating route
// of a URL, or why none does.
func (r *Router) decide(t akamai.Type, obj string) (to groupKey, reason Reason, msg string) {
	switch t {
	case akamai.TypeURL:
		host, raw, valid := urlHost(obj)
		name := host
		if !valid {
			name = raw
		}
		if r.allowHosts != nil {
			if _, ok := r.allowHosts.lookup(host, valid); !ok {
				return to, NotAllowed, fmt.Sprintf("host %q is not allowed", name)
			}
		}
		if hr, ok := r.routes.lookup(host, valid); ok {
			return groupKey{hr.account, hr.escalating}, "", ""
		}
		return to, NoRoute, fmt.Sprintf("no route for host %q", name)
	case akamai.TypeTag:
		if r.allowTags != nil {
			if _, ok := r.allowTags.lookup(obj); !ok {
				return to, NotAllowed, fmt.Sprintf("tag %q is not allowed", obj)
			}
		}
		if a, ok := r.tags.lookup(obj); ok {
			return groupKey{account: a}, "", ""
		}
		if r.tagDefault != "" {
			return groupKey{account: r.tagDefault}, "", ""
		}
		return to, NoRoute, fmt.Sprintf("no route for tag %q", obj)
	default:
		code, _ := strconv.ParseInt(obj, 10, 64)
		if r.allowCodes != nil {
			if _, ok := r.allowCodes[code]; !ok {
				return to, NotAllowed, fmt.Sprintf("CP code %s is not allowed", obj)
			}
		}
		if a, ok := r.cpcodes[code]; ok {
			return groupKey{account: a}, "", ""
		}
		if r.codeDefault != "" {
			return groupKey{account: r.codeDefault}, "", ""
		}
		return to, NoRoute, fmt.Sprintf("no route for CP code %s", obj)
	}
}
