// Package budget paces Fast Purge requests to an Akamai account's token
// buckets, so that purgebus runs at Akamai's limit without being refused.
//
// Akamai keeps four buckets per account (requests, and URL, CP-code and
// tag objects), shared by every client of the account. A Budget mirrors
// them on our side: a request goes out only when its request token and all
// its object tokens are there. Akamai's X-Ratelimit-* headers on every
// response are the truth; Observe lowers our levels to them, so that when
// another client spends the same buckets purgebus notices and slows down.
package budget

import (
	"context"
	"time"

	"github.com/purgebus/purgebus/akamai"
)

// Budget is an account's purge allowance.
type Budget interface {
	// Take takes one request token and between min and max object tokens
	// of type t, as many as there are, when there are at least min (min
	// is clamped to the bucket's capacity). Otherwise it takes nothing
	// and returns how long until there are min.
	Take(t akamai.Type, min, max int) (n int, wait time.Duration)
	// Observe reconciles the budget with the state of Akamai's buckets
	// that a response to a request of type t reported.
	Observe(t akamai.Type, rl akamai.RateLimit)
	// Capacity returns the capacity of the object bucket of type t, the
	// most objects one request can ever carry.
	Capacity(t akamai.Type) int
}

// Wait blocks until b grants one request token and n object tokens of
// type t, or ctx ends.
func Wait(ctx context.Context, b Budget, t akamai.Type, n int) error {
	var timer *time.Timer
	for {
		got, wait := b.Take(t, n, n)
		if got > 0 {
			return nil
		}
		if timer == nil {
			timer = time.NewTimer(wait)
			defer timer.Stop()
		} else {
			timer.Reset(wait)
		}
		select {
		case <-timer.C:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// Level is the state of one bucket, for metrics.
type Level struct {
	Bucket   string // requests, url, cpcode or tag
	Tokens   float64
	Capacity int
	// PerSecond is the refill rate in use, after headroom.
	PerSecond float64
}
