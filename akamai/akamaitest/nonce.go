package akamaitest

import (
	"hash/maphash"
	"sync"
	"time"
)

// nonceShards spreads the nonce cache over several locks.
const nonceShards = 16

// nonceCache remembers the nonces of accepted signatures for as long as
// their timestamp stays acceptable, so that a replayed request is refused
// while a signature older than the skew window is already refused as stale.
// Memory is bounded by the number of requests within one window.
type nonceCache struct {
	seed   maphash.Seed
	shards [nonceShards]nonceShard
}

type nonceShard struct {
	mu        sync.Mutex
	expires   map[string]time.Time
	nextSweep time.Time
}

func newNonceCache() *nonceCache {
	c := &nonceCache{seed: maphash.MakeSeed()}
	for i := range c.shards {
		c.shards[i].expires = make(map[string]time.Time)
	}
	return c
}

// add records nonce as used until expires and reports whether it was new,
// that is, not recorded by an earlier request whose record has not
// expired at now. sweepEvery bounds how often expired nonces are dropped.
func (c *nonceCache) add(nonce string, now, expires time.Time, sweepEvery time.Duration) bool {
	sh := &c.shards[maphash.String(c.seed, nonce)%nonceShards]
	sh.mu.Lock()
	defer sh.mu.Unlock()
	if now.After(sh.nextSweep) {
		for k, exp := range sh.expires {
			if now.After(exp) {
				delete(sh.expires, k)
			}
		}
		sh.nextSweep = now.Add(sweepEvery)
	}
	if exp, ok := sh.expires[nonce]; ok && !now.After(exp) {
		return false
	}
	sh.expires[nonce] = expires
	return true
}

// len returns the number of nonces remembered.
func (c *nonceCache) len() int {
	n := 0
	for i := range c.shards {
		sh := &c.shards[i]
		sh.mu.Lock()
		n += len(sh.expires)
		sh.mu.Unlock()
	}
	return n
}
