package budget

import (
	"math"
	"sync"
	"time"

	"golang.org/x/time/rate"

	"github.com/purgebus/purgebus/akamai"
)

// Config configures a Local budget.
type Config struct {
	// Limits are the account's buckets (AkamaiLimits when zero). Akamai's
	// headers override them when they report other sizes.
	Limits Limits
	// Headroom is the fraction of each refill rate left unused, a margin
	// for the jitter between when we take tokens and when Akamai does
	// (0.005 when 0; negative means none).
	Headroom float64
	// Now is the clock; nil means time.Now.
	Now func() time.Time
}

// Local is a Budget for one process: four golang.org/x/time/rate
// limiters mirroring Akamai's buckets.
type Local struct {
	mu       sync.Mutex
	headroom float64
	now      func() time.Time
	requests *rate.Limiter
	objects  [3]*rate.Limiter // by index(type)
}

var bucketNames = [...]string{"url", "cpcode", "tag"}

func index(t akamai.Type) int {
	switch t {
	case akamai.TypeCPCode:
		return 1
	case akamai.TypeTag:
		return 2
	}
	return 0
}

// NewLocal returns a Local budget with full buckets.
func NewLocal(cfg Config) (*Local, error) {
	lim := cfg.Limits.WithDefaults()
	if err := lim.Validate(); err != nil {
		return nil, err
	}
	b := &Local{headroom: cfg.Headroom, now: cfg.Now}
	switch {
	case b.headroom == 0:
		b.headroom = 0.005
	case b.headroom < 0:
		b.headroom = 0
	}
	if b.now == nil {
		b.now = time.Now
	}
	newLimiter := func(bk Bucket) *rate.Limiter {
		return rate.NewLimiter(rate.Limit(bk.PerSecond*(1-b.headroom)), bk.Capacity)
	}
	b.requests = newLimiter(lim.Requests)
	for i, t := range []akamai.Type{akamai.TypeURL, akamai.TypeCPCode, akamai.TypeTag} {
		b.objects[i] = newLimiter(lim.Objects(t))
	}
	return b, nil
}

// Take implements Budget.
func (b *Local) Take(t akamai.Type, minN, maxN int) (int, time.Duration) {
	b.mu.Lock()
	defer b.mu.Unlock()
	now := b.now()
	obj := b.objects[index(t)]
	minN = min(max(minN, 1), obj.Burst())
	maxN = min(max(maxN, minN), obj.Burst())
	req, have := b.requests.TokensAt(now), obj.TokensAt(now)
	if req >= 1 && have >= float64(minN) {
		n := min(maxN, int(math.Floor(have)))
		b.requests.ReserveN(now, 1)
		obj.ReserveN(now, n)
		return n, 0
	}
	wait := max(until(b.requests, req, 1), until(obj, have, minN))
	return 0, wait
}

// until is how long lim takes to go from have to need tokens, rounded up
// to the millisecond so that a timer never fires a hair too early.
func until(lim *rate.Limiter, have float64, need int) time.Duration {
	deficit := float64(need) - have
	if deficit <= 0 {
		return 0
	}
	s := deficit / float64(lim.Limit())
	return time.Duration(math.Ceil(s*1000)) * time.Millisecond
}

// Observe implements Budget. Our levels only ever go down to Akamai's:
// requests of ours that Akamai has not counted yet make its levels look
// higher than ours, while a level lower than ours means someone else
// spent the account's tokens.
func (b *Local) Observe(t akamai.Type, rl akamai.RateLimit) {
	if !rl.Present() {
		return
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	now := b.now()
	adopt := func(lim *rate.Limiter, capacity int, perSecond float64, fields akamai.RateLimitFields, capField, rateField akamai.RateLimitFields) {
		if fields&capField != 0 && capacity > 0 && capacity != lim.Burst() {
			lim.SetBurstAt(now, capacity)
		}
		if fields&rateField != 0 && perSecond > 0 {
			want := rate.Limit(perSecond * (1 - b.headroom))
			if math.Abs(float64(want-lim.Limit())) > 0.001*float64(want) {
				lim.SetLimitAt(now, want)
			}
		}
	}
	lower := func(lim *rate.Limiter, remaining int) {
		if excess := lim.TokensAt(now) - float64(remaining); excess >= 1 {
			lim.ReserveN(now, int(excess))
		}
	}
	obj := b.objects[index(t)]
	adopt(b.requests, rl.Limit, rl.LimitPerSecond, rl.Fields, akamai.FieldLimit, akamai.FieldLimitPerSecond)
	adopt(obj, rl.LimitObjects, rl.LimitPerSecondObjects, rl.Fields, akamai.FieldLimitObjects, akamai.FieldLimitPerSecondObjects)
	if rl.Has(akamai.FieldRemaining) {
		lower(b.requests, rl.Remaining)
	}
	if rl.Has(akamai.FieldRemainingObjects) {
		lower(obj, rl.RemainingObjects)
	}
}

// Capacity implements Budget.
func (b *Local) Capacity(t akamai.Type) int {
	return b.objects[index(t)].Burst()
}

// Levels returns the state of the four buckets.
func (b *Local) Levels() []Level {
	b.mu.Lock()
	defer b.mu.Unlock()
	now := b.now()
	level := func(name string, lim *rate.Limiter) Level {
		return Level{Bucket: name, Tokens: lim.TokensAt(now), Capacity: lim.Burst(), PerSecond: float64(lim.Limit())}
	}
	out := []Level{level("requests", b.requests)}
	for i, lim := range b.objects {
		out = append(out, level(bucketNames[i], lim))
	}
	return out
}
