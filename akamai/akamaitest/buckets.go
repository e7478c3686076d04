package akamaitest

import (
	"math"
	"sync"
	"time"

	"golang.org/x/time/rate"

	"github.com/purgebus/purgebus/akamai"
)

// Bucket is the size of one token bucket.
type Bucket struct {
	Capacity  int     // burst: the most tokens the bucket holds; it starts full
	PerSecond float64 // nominal refill rate in tokens per second, before Options.TimeScale
}

// BucketConfig sizes the four token buckets that every account has. A zero
// Capacity or PerSecond takes Akamai's value from [DefaultBuckets].
type BucketConfig struct {
	// Disabled turns rate limiting off: no request is refused with 429 and
	// the X-Ratelimit-* headers report full buckets.
	Disabled bool

	Requests Bucket // one token per purge request
	URL      Bucket // one token per URL or ARL
	CPCode   Bucket // one token per CP code
	Tag      Bucket // one token per cache tag
}

// DefaultBuckets returns Akamai's documented bucket sizes: requests 100
// burst / 50 per second, URLs 10,000 / 200 per second, CP codes 300 / 30
// per minute, cache tags 5,000 / 500 per minute.
func DefaultBuckets() BucketConfig {
	return BucketConfig{
		Requests: Bucket{Capacity: 100, PerSecond: 50},
		URL:      Bucket{Capacity: 10000, PerSecond: 200},
		CPCode:   Bucket{Capacity: 300, PerSecond: 30.0 / 60},
		Tag:      Bucket{Capacity: 5000, PerSecond: 500.0 / 60},
	}
}

// withDefaults fills zero fields from DefaultBuckets.
func (c BucketConfig) withDefaults() BucketConfig {
	d := DefaultBuckets()
	fill := func(b *Bucket, def Bucket) {
		if b.Capacity <= 0 {
			b.Capacity = def.Capacity
		}
		if !(b.PerSecond > 0) {
			b.PerSecond = def.PerSecond
		}
	}
	fill(&c.Requests, d.Requests)
	fill(&c.URL, d.URL)
	fill(&c.CPCode, d.CPCode)
	fill(&c.Tag, d.Tag)
	return c
}

// objectBucket returns the configuration of type t's object bucket.
func (c BucketConfig) objectBucket(t akamai.Type) Bucket {
	switch t {
	case akamai.TypeCPCode:
		return c.CPCode
	case akamai.TypeTag:
		return c.Tag
	}
	return c.URL
}

// Tokens is the content of an account's four buckets at one moment.
type Tokens struct {
	Requests, URL, CPCode, Tag float64
}

// typeIndex numbers the object types for arrays.
func typeIndex(t akamai.Type) int {
	switch t {
	case akamai.TypeCPCode:
		return 1
	case akamai.TypeTag:
		return 2
	}
	return 0
}

// bucket is one token bucket. Its limiter is only used under the owning
// account's mutex, so that a decision over two buckets is atomic.
type bucket struct {
	lim       *rate.Limiter // nil when limits are disabled
	capacity  int
	perSecond float64 // effective rate: nominal × TimeScale
}

func newBucket(b Bucket, scale float64, disabled bool) bucket {
	nb := bucket{capacity: b.Capacity, perSecond: b.PerSecond * scale}
	if !disabled {
		nb.lim = rate.NewLimiter(rate.Limit(nb.perSecond), b.Capacity)
	}
	return nb
}

// tokens returns the bucket's content at t; a disabled bucket is full.
func (b *bucket) tokens(t time.Time) float64 {
	if b.lim == nil {
		return float64(b.capacity)
	}
	return b.lim.TokensAt(t)
}

// take removes n tokens at t. The caller has checked that tokens(t) >= n
// under the same lock, so the limiter, which computes the same content,
// cannot refuse.
func (b *bucket) take(t time.Time, n int) {
	if b.lim != nil && n > 0 {
		b.lim.AllowN(t, n)
	}
}

// spend removes up to n whole tokens at t, as another client of the
// account would, and never more than the bucket holds.
func (b *bucket) spend(t time.Time, n int) {
	if b.lim == nil || n <= 0 {
		return
	}
	if have := int(math.Floor(b.lim.TokensAt(t))); n > have {
		n = have
	}
	b.take(t, n)
}

// secondsUntil returns the seconds from t until the bucket, holding have
// tokens, holds need tokens (at most its capacity, the most it ever holds).
func (b *bucket) secondsUntil(have float64, need int) float64 {
	if b.lim == nil {
		return 0
	}
	need = min(max(need, 1), b.capacity)
	if deficit := float64(need) - have; deficit > 0 {
		return deficit / b.perSecond
	}
	return 0
}

// account holds the buckets of one account, shared by every client that
// uses it.
type account struct {
	mu  sync.Mutex
	req bucket
	obj [3]bucket // by typeIndex
}

func newAccount(c *BucketConfig, scale float64) *account {
	return &account{
		req: newBucket(c.Requests, scale, c.Disabled),
		obj: [3]bucket{
			newBucket(c.URL, scale, c.Disabled),
			newBucket(c.CPCode, scale, c.Disabled),
			newBucket(c.Tag, scale, c.Disabled),
		},
	}
}

// refusal says which bucket refused a request.
type refusal int

const (
	accepted refusal = iota
	refusedRequests
	refusedObjects
)

// admission is the outcome of one look at an account's buckets: the
// decision and the numbers the response reports.
type admission struct {
	refused   refusal
	reqTokens float64 // request tokens after the decision (unchanged when refused)
	objTokens float64 // object tokens after the decision (unchanged when refused)
	reqBucket *bucket
	objBucket *bucket // nil when the type is unknown
	need      int     // object tokens the request needs
}

// admit decides whether a request of type t (empty: none) with n objects
// may pass: it needs one request token and n object tokens, takes both when
// both are there and takes none otherwise. With consume false it only
// looks. The clock is read under the lock, so that decisions are made in
// time order.
func (a *account) admit(clock func() time.Time, t akamai.Type, n int, consume bool) admission {
	a.mu.Lock()
	defer a.mu.Unlock()
	now := clock()
	ad := admission{reqBucket: &a.req, need: n}
	ad.reqTokens = a.req.tokens(now)
	if t != "" {
		ad.objBucket = &a.obj[typeIndex(t)]
		ad.objTokens = ad.objBucket.tokens(now)
	}
	if !consume {
		return ad
	}
	switch {
	case a.req.lim == nil:
		// Limits disabled: everything passes, the buckets stay full.
	case ad.reqTokens < 1:
		ad.refused = refusedRequests
	case ad.objTokens < float64(n):
		ad.refused = refusedObjects
	default:
		a.req.take(now, 1)
		ad.objBucket.take(now, n)
		ad.reqTokens = a.req.tokens(now)
		ad.objTokens = ad.objBucket.tokens(now)
	}
	return ad
}

// rateLimit returns the X-Ratelimit-* values the response carries.
func (ad *admission) rateLimit() akamai.RateLimit {
	rl := akamai.RateLimit{
		Limit:            ad.reqBucket.capacity,
		Remaining:        wholeTokens(ad.reqTokens),
		LimitPerSecond:   ad.reqBucket.perSecond,
		SecondsToRefresh: ceilHundredth(ad.reqBucket.secondsUntil(ad.reqTokens, 1)),
		Fields: akamai.FieldLimit | akamai.FieldRemaining | akamai.FieldLimitPerSecond |
			akamai.FieldSecondsToRefresh,
	}
	if b := ad.objBucket; b != nil {
		rl.LimitObjects = b.capacity
		rl.RemainingObjects = wholeTokens(ad.objTokens)
		rl.LimitPerSecondObjects = b.perSecond
		rl.SecondsToRefreshObjects = ceilHundredth(b.secondsUntil(ad.objTokens, ad.need))
		rl.Fields |= akamai.FieldLimitObjects | akamai.FieldRemainingObjects |
			akamai.FieldLimitPerSecondObjects | akamai.FieldSecondsToRefreshObjects
	}
	return rl
}

// wholeTokens is the number of whole tokens in a bucket holding x: as
// many objects as a request may carry.
func wholeTokens(x float64) int {
	if x <= 0 {
		return 0
	}
	return int(math.Floor(x))
}

// ceilHundredth rounds seconds up to the hundredth that the headers show,
// so that a client waiting that long finds the tokens there.
func ceilHundredth(s float64) float64 {
	if s <= 0 {
		return 0
	}
	return math.Ceil(s*100) / 100
}
