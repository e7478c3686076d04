package routing

import (
	"fmt"
	"math"
	"sync"
	"time"

	"golang.org/x/time/rate"
)

const (
	// trackFor is how long after it may pass an event is remembered, so
	// that its redeliveries (after a transient Akamai failure, say) are not
	// charged again.
	trackFor = time.Hour
	// sweepEvery is how often sources whose buckets are full again are
	// forgotten.
	sweepEvery = time.Minute
	// fullSweepEvery bounds how often a full source table is swept when a
	// new source arrives.
	fullSweepEvery = time.Second
)

// quotaSpec is the quota of one source.
type quotaSpec struct {
	perMinute int
	burst     int
}

func (s quotaSpec) limit() rate.Limit { return rate.Limit(float64(s.perMinute) / 60) }

// admission is the quota's verdict on an event.
type admission int

const (
	admitted admission = iota
	deferred
	refused
)

type quotaResult struct {
	verdict    admission
	retryAfter time.Duration // for deferred
	msg        string        // for deferred and refused
}

// quotas keeps a token bucket per source. A source's bucket may go into
// debt: an event that must wait reserves its tokens at once, is deferred,
// and is remembered (by key), so that it passes without a second charge
// when it comes back. The debt is bounded by maxDelay.
type quotas struct {
	def        quotaSpec // perMinute 0: unlisted sources are unlimited
	listed     map[string]quotaSpec
	reject     bool
	maxDelay   time.Duration
	maxSources int
	maxTracked int

	mu            sync.Mutex
	sources       map[string]*rate.Limiter // unlisted sources, at most maxSources
	listedLims    map[string]*rate.Limiter
	overflow      *rate.Limiter // shared by unlisted sources beyond maxSources
	nextSweep     time.Time
	lastFullSweep time.Time
	tracked       map[uint64]trackedEvent
	queue         []trackedRef // tracked keys, oldest first; may hold stale refs
	head          int
	seq           uint64
}

type trackedEvent struct {
	readyAt, expires time.Time
	seq              uint64
}

type trackedRef struct{ key, seq uint64 }

// newQuotas returns the quota keeper of q (with defaults filled in), or
// nil when q limits no source.
func newQuotas(q Quotas) *quotas {
	if q.PerSourceObjectsPerMinute == 0 && len(q.Sources) == 0 {
		return nil
	}
	k := &quotas{
		def:        quotaSpec{q.PerSourceObjectsPerMinute, q.Burst},
		listed:     make(map[string]quotaSpec, len(q.Sources)),
		reject:     q.OverQuota == OverQuotaReject,
		maxDelay:   q.MaxDelay,
		maxSources: q.MaxSources,
		maxTracked: q.MaxTrackedEvents,
		sources:    map[string]*rate.Limiter{},
		listedLims: map[string]*rate.Limiter{},
		tracked:    map[uint64]trackedEvent{},
	}
	for name, s := range q.Sources {
		k.listed[name] = quotaSpec{s.ObjectsPerMinute, s.Burst}
	}
	return k
}

// admit charges n objects of the event identified by key to source's
// quota, or says how long the event must wait, or refuses it.
func (q *quotas) admit(source string, key uint64, n int, now time.Time) quotaResult {
	q.mu.Lock()
	defer q.mu.Unlock()
	spec, lim, label := q.limiter(source, now)
	if lim == nil {
		return quotaResult{}
	}
	over := func() string {
		return fmt.Sprintf("source %s is over its quota of %d objects per minute (burst %d)", label, spec.perMinute, spec.burst)
	}
	q.expire(now)
	if t, ok := q.tracked[key]; ok && now.Before(t.expires) {
		if !now.Before(t.readyAt) {
			return quotaResult{}
		}
		wait := t.readyAt.Sub(now)
		return quotaResult{deferred, wait, fmt.Sprintf("%s; the event is deferred by %s", over(), roundWait(wait))}
	}

	// Refuse, without charging, an event that would wait too long.
	if need := float64(n) - lim.TokensAt(now); need > 0 {
		wait := time.Duration(math.Ceil(need / float64(spec.limit()) * float64(time.Second)))
		switch {
		case q.reject && n > spec.burst:
			return quotaResult{verdict: refused, msg: fmt.Sprintf("%s: its %d objects are more than the burst, so it can never pass", over(), n)}
		case q.reject:
			return quotaResult{verdict: refused, msg: over()}
		case wait > q.maxDelay:
			return quotaResult{verdict: refused, msg: fmt.Sprintf("%s: its %d objects would have to wait %s, longer than max_delay %s", over(), n, roundWait(wait), q.maxDelay)}
		}
	}
	// Charge the event, in reservations of at most the burst each.
	var last *rate.Reservation
	for left := n; left > 0; left -= spec.burst {
		last = lim.ReserveN(now, min(left, spec.burst))
	}
	wait := last.DelayFrom(now)
	q.track(key, now.Add(wait), now)
	if wait <= 0 {
		return quotaResult{}
	}
	return quotaResult{deferred, wait, fmt.Sprintf("%s; the event is deferred by %s", over(), roundWait(wait))}
}

// roundWait rounds a wait for messages.
func roundWait(d time.Duration) time.Duration {
	if d < time.Second {
		return d.Round(time.Millisecond)
	}
	return d.Round(100 * time.Millisecond)
}

// limiter returns the quota and bucket of source (nil when it is not
// limited) and how to name it in messages.
func (q *quotas) limiter(source string, now time.Time) (quotaSpec, *rate.Limiter, string) {
	label := fmt.Sprintf("%q", source)
	if spec, ok := q.listed[source]; ok {
		lim := q.listedLims[source]
		if lim == nil {
			lim = rate.NewLimiter(spec.limit(), spec.burst)
			q.listedLims[source] = lim
		}
		return spec, lim, label
	}
	if q.def.perMinute == 0 {
		return quotaSpec{}, nil, label
	}
	if !now.Before(q.nextSweep) {
		q.sweep(now)
	}
	if lim := q.sources[source]; lim != nil {
		return q.def, lim, label
	}
	if len(q.sources) >= q.maxSources && now.Sub(q.lastFullSweep) >= fullSweepEvery {
		q.lastFullSweep = now
		q.sweep(now)
	}
	if len(q.sources) >= q.maxSources {
		if q.overflow == nil {
			q.overflow = rate.NewLimiter(q.def.limit(), q.def.burst)
		}
		return q.def, q.overflow, fmt.Sprintf("%s (sharing one bucket with other sources: more than %d sources are active)", label, q.maxSources)
	}
	lim := rate.NewLimiter(q.def.limit(), q.def.burst)
	q.sources[source] = lim
	return q.def, lim, label
}

// sweep forgets the unlisted sources whose buckets are full: a new full
// bucket is the same.
func (q *quotas) sweep(now time.Time) {
	q.nextSweep = now.Add(sweepEvery)
	for name, lim := range q.sources {
		if lim.TokensAt(now) >= float64(lim.Burst()) {
			delete(q.sources, name)
		}
	}
	if q.overflow != nil && q.overflow.TokensAt(now) >= float64(q.overflow.Burst()) {
		q.overflow = nil
	}
}

// track remembers that the event key may pass from readyAt on, forgetting
// the oldest events beyond maxTracked.
func (q *quotas) track(key uint64, readyAt, now time.Time) {
	q.seq++
	q.tracked[key] = trackedEvent{readyAt: readyAt, expires: readyAt.Add(trackFor), seq: q.seq}
	q.queue = append(q.queue, trackedRef{key, q.seq})
	for len(q.tracked) > q.maxTracked && q.head < len(q.queue) {
		q.pop()
	}
	if len(q.queue)-q.head > 2*q.maxTracked+64 {
		q.compact()
	}
}

// expire forgets the oldest events once they have expired.
func (q *quotas) expire(now time.Time) {
	for q.head < len(q.queue) {
		ref := q.queue[q.head]
		if t, ok := q.tracked[ref.key]; ok && t.seq == ref.seq && now.Before(t.expires) {
			break
		}
		q.pop()
	}
}

// pop drops the oldest reference, and its event if the reference is
// current.
func (q *quotas) pop() {
	ref := q.queue[q.head]
	q.queue[q.head] = trackedRef{}
	q.head++
	if t, ok := q.tracked[ref.key]; ok && t.seq == ref.seq {
		delete(q.tracked, ref.key)
	}
	if q.head == len(q.queue) {
		q.queue, q.head = q.queue[:0], 0
	} else if q.head >= 64 && q.head > len(q.queue)/2 {
		q.queue, q.head = append(q.queue[:0:0], q.queue[q.head:]...), 0
	}
}

// compact drops stale references.
func (q *quotas) compact() {
	live := make([]trackedRef, 0, len(q.tracked))
	for _, ref := range q.queue[q.head:] {
		if t, ok := q.tracked[ref.key]; ok && t.seq == ref.seq {
			live = append(live, ref)
		}
	}
	q.queue, q.head = live, 0
}
