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
	// rival estimates what other clients of the account spend, per
	// bucket (requests, then objects by index), so that purgebus leaves
	// it to them instead of meeting 429s.
	rival [4]rivalRate
}

// rivalRate is an estimate of the tokens per second that other clients
// take from a bucket, from the gaps between our levels and Akamai's.
type rivalRate struct {
	nominal float64   // the bucket's refill rate, before headroom
	perSec  float64   // smoothed estimate of the others' spending
	since   time.Time // start of the current window; zero before the first report
	excess  float64   // tokens the others spent since then
}

// rivalWindow is the shortest time over which others' spending is turned
// into a rate. A gap between our level and Akamai's is also jitter: a
// response that waited for a busy CPU makes Akamai's level look older,
// so lower, than it is. Divided by the few milliseconds between two
// responses of concurrent requests, tens of tokens of jitter read as
// thousands per second, and throttled purgebus to a twentieth of the
// refill for seconds. Over a window, jitter is small against the refill
// and cancels out: the next report, made without the delay, shows the
// level higher again.
const rivalWindow = time.Second

// update folds in that others spent excess tokens since the last report
// and returns the refill rate left for purgebus.
func (r *rivalRate) update(now time.Time, excess, headroom float64) float64 {
	switch dt := now.Sub(r.since); {
	case r.since.IsZero():
		r.since = now
	case dt >= rivalWindow:
		// Our bucket already refills slower by the estimate, so the
		// excess measures the estimate's error: half of it is corrected
		// at each window, and a rival that stops is forgotten as fast.
		// Our own requests that Akamai has not counted yet make the
		// excess look smaller, never larger.
		r.perSec = max(0, r.perSec+0.5*(r.excess+excess)/dt.Seconds())
		r.since, r.excess = now, 0
	default:
		r.excess += excess
	}
	// Never below a twentieth of the bucket: purgebus must go on.
	return max(r.nominal*(1-headroom)-r.perSec, r.nominal/20)
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
	b.rival[0].nominal = lim.Requests.PerSecond
	for i, t := range []akamai.Type{akamai.TypeURL, akamai.TypeCPCode, akamai.TypeTag} {
		b.objects[i] = newLimiter(lim.Objects(t))
		b.rival[i+1].nominal = lim.Objects(t).PerSecond
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
	adopt := func(lim *rate.Limiter, r *rivalRate, capacity int, perSecond float64, fields akamai.RateLimitFields, capField, rateField akamai.RateLimitFields) {
		if fields&capField != 0 && capacity > 0 && capacity != lim.Burst() {
			lim.SetBurstAt(now, capacity)
		}
		if fields&rateField != 0 && perSecond > 0 {
			r.nominal = perSecond
		}
	}
	// lower brings our level down to Akamai's, and our refill rate down
	// by what others seem to spend.
	lower := func(lim *rate.Limiter, r *rivalRate, remaining int, has bool) {
		excess := 0.0
		if has {
			if excess = lim.TokensAt(now) - float64(remaining); excess >= 1 {
				lim.ReserveN(now, int(excess))
			}
		}
		want := rate.Limit(r.update(now, excess, b.headroom))
		if math.Abs(float64(want-lim.Limit())) > 0.001*float64(want) {
			lim.SetLimitAt(now, want)
		}
	}
	i := index(t)
	obj := b.objects[i]
	adopt(b.requests, &b.rival[0], rl.Limit, rl.LimitPerSecond, rl.Fields, akamai.FieldLimit, akamai.FieldLimitPerSecond)
	adopt(obj, &b.rival[i+1], rl.LimitObjects, rl.LimitPerSecondObjects, rl.Fields, akamai.FieldLimitObjects, akamai.FieldLimitPerSecondObjects)
	lower(b.requests, &b.rival[0], rl.Remaining, rl.Has(akamai.FieldRemaining))
	lower(obj, &b.rival[i+1], rl.RemainingObjects, rl.Has(akamai.FieldRemainingObjects))
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
