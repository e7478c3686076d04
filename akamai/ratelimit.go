package akamai

import (
	"math"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// The rate-limit headers Akamai sends on every Fast Purge response. The
// plain ones describe the account's request bucket, the -Objects ones the
// object bucket of the request's type.
const (
	HeaderLimit                   = "X-Ratelimit-Limit"
	HeaderRemaining               = "X-Ratelimit-Remaining"
	HeaderLimitPerSecond          = "X-Ratelimit-Limit-Per-Second"
	HeaderLimitObjects            = "X-Ratelimit-Limit-Objects"
	HeaderRemainingObjects        = "X-Ratelimit-Remaining-Objects"
	HeaderLimitPerSecondObjects   = "X-Ratelimit-Limit-Per-Second-Objects"
	HeaderSecondsToRefresh        = "X-Ratelimit-Seconds-To-Refresh-Limit"
	HeaderSecondsToRefreshObjects = "X-Ratelimit-Seconds-To-Refresh-Limit-Objects"
)

// RateLimitFields is a set of RateLimit fields, one bit per rate-limit
// header.
type RateLimitFields uint16

// The fields of a RateLimit, each set when its header was present and
// valid.
const (
	FieldLimit RateLimitFields = 1 << iota
	FieldRemaining
	FieldLimitPerSecond
	FieldLimitObjects
	FieldRemainingObjects
	FieldLimitPerSecondObjects
	FieldSecondsToRefresh
	FieldSecondsToRefreshObjects
)

// RateLimit is the state of the account's token buckets as reported by the
// X-Ratelimit-* headers of one response. A field whose header was absent or
// unparsable is zero and missing from Fields, so that an absent
// X-Ratelimit-Remaining is not mistaken for an empty bucket.
type RateLimit struct {
	Limit          int     // capacity of the request bucket
	Remaining      int     // request tokens left
	LimitPerSecond float64 // request-bucket refill rate

	LimitObjects          int     // capacity of the object bucket of the request's type
	RemainingObjects      int     // object tokens left
	LimitPerSecondObjects float64 // object-bucket refill rate

	SecondsToRefresh        float64 // time until the request bucket is refilled
	SecondsToRefreshObjects float64 // time until the object bucket is refilled

	Fields RateLimitFields // which of the above were present
}

// Has reports whether every field in f was present.
func (r RateLimit) Has(f RateLimitFields) bool { return f != 0 && r.Fields&f == f }

// Present reports whether any rate-limit header was present.
func (r RateLimit) Present() bool { return r.Fields != 0 }

// ParseRateLimit reads the X-Ratelimit-* headers of h. Absent, negative,
// non-finite and otherwise garbage values are ignored.
func ParseRateLimit(h http.Header) RateLimit {
	var r RateLimit
	parseInt := func(name string, f RateLimitFields, dst *int) {
		v := strings.TrimSpace(h.Get(name))
		if v == "" {
			return
		}
		n, err := strconv.Atoi(v)
		if err != nil {
			// Tolerate "100.00" where an integer is documented.
			x, ferr := strconv.ParseFloat(v, 64)
			if ferr != nil || x != math.Trunc(x) || x > math.MaxInt32 {
				return
			}
			n = int(x)
		}
		if n < 0 {
			return
		}
		*dst = n
		r.Fields |= f
	}
	parseFloat := func(name string, f RateLimitFields, dst *float64) {
		v := strings.TrimSpace(h.Get(name))
		if v == "" {
			return
		}
		x, err := strconv.ParseFloat(v, 64)
		if err != nil || x < 0 || math.IsInf(x, 0) || math.IsNaN(x) {
			return
		}
		*dst = x
		r.Fields |= f
	}
	parseInt(HeaderLimit, FieldLimit, &r.Limit)
	parseInt(HeaderRemaining, FieldRemaining, &r.Remaining)
	parseFloat(HeaderLimitPerSecond, FieldLimitPerSecond, &r.LimitPerSecond)
	parseInt(HeaderLimitObjects, FieldLimitObjects, &r.LimitObjects)
	parseInt(HeaderRemainingObjects, FieldRemainingObjects, &r.RemainingObjects)
	parseFloat(HeaderLimitPerSecondObjects, FieldLimitPerSecondObjects, &r.LimitPerSecondObjects)
	parseFloat(HeaderSecondsToRefresh, FieldSecondsToRefresh, &r.SecondsToRefresh)
	parseFloat(HeaderSecondsToRefreshObjects, FieldSecondsToRefreshObjects, &r.SecondsToRefreshObjects)
	return r
}

// SetHeader sets on h the X-Ratelimit-* headers of the fields in r.Fields;
// it is the inverse of ParseRateLimit, for servers that answer like Akamai.
func (r RateLimit) SetHeader(h http.Header) {
	setInt := func(name string, f RateLimitFields, v int) {
		if r.Has(f) {
			h.Set(name, strconv.Itoa(v))
		}
	}
	setFloat := func(name string, f RateLimitFields, v float64) {
		if r.Has(f) {
			h.Set(name, strconv.FormatFloat(v, 'f', 2, 64))
		}
	}
	setInt(HeaderLimit, FieldLimit, r.Limit)
	setInt(HeaderRemaining, FieldRemaining, r.Remaining)
	setFloat(HeaderLimitPerSecond, FieldLimitPerSecond, r.LimitPerSecond)
	setInt(HeaderLimitObjects, FieldLimitObjects, r.LimitObjects)
	setInt(HeaderRemainingObjects, FieldRemainingObjects, r.RemainingObjects)
	setFloat(HeaderLimitPerSecondObjects, FieldLimitPerSecondObjects, r.LimitPerSecondObjects)
	setFloat(HeaderSecondsToRefresh, FieldSecondsToRefresh, r.SecondsToRefresh)
	setFloat(HeaderSecondsToRefreshObjects, FieldSecondsToRefreshObjects, r.SecondsToRefreshObjects)
}

// RefreshIn returns the longest of the reported times until a bucket is
// refilled, or 0 when neither X-Ratelimit-Seconds-To-Refresh header was
// present.
func (r RateLimit) RefreshIn() time.Duration {
	var s float64
	if r.Has(FieldSecondsToRefresh) {
		s = r.SecondsToRefresh
	}
	if r.Has(FieldSecondsToRefreshObjects) {
		s = max(s, r.SecondsToRefreshObjects)
	}
	return secondsToDuration(s)
}

// secondsToDuration converts non-negative seconds to a Duration, rounding
// up to the millisecond and capping at one hour so that a silly header
// cannot stall a caller forever.
func secondsToDuration(s float64) time.Duration {
	const maxWait = time.Hour
	if !(s > 0) {
		return 0
	}
	if s >= maxWait.Seconds() {
		return maxWait
	}
	// The epsilon keeps 1/50 s at 20 ms despite float rounding.
	return time.Duration(math.Ceil(s*1000-1e-6)) * time.Millisecond
}

// After returns the levels r reported as they will be d later: refilled
// at the reported rates and capped at the reported capacities. Akamai
// counts a request when it handles it, about half a round trip before
// the answer arrives; comparing its levels with ours at arrival without
// this would mistake our own refill for another client's spending.
func (r RateLimit) After(d time.Duration) RateLimit {
	if d <= 0 {
		return r
	}
	refill := func(level int, perSecond float64, limit int, has bool) int {
		if !has || perSecond <= 0 {
			return level
		}
		level += int(perSecond * d.Seconds())
		if limit > 0 {
			level = min(level, limit)
		}
		return level
	}
	if r.Has(FieldRemaining) {
		r.Remaining = refill(r.Remaining, r.LimitPerSecond, r.Limit, r.Has(FieldLimitPerSecond))
	}
	if r.Has(FieldRemainingObjects) {
		r.RemainingObjects = refill(r.RemainingObjects, r.LimitPerSecondObjects, r.LimitObjects, r.Has(FieldLimitPerSecondObjects))
	}
	return r
}
