package akamaitest

import (
	"sync"
	"sync/atomic"
	"time"

	"github.com/purgebus/purgebus/akamai"
)

// Purge is one accepted purge request.
type Purge struct {
	ID        string // purgeId of the 201 answer
	SupportID string // supportId of the 201 answer (equal to ID)
	Action    akamai.Action
	Type      akamai.Type
	Network   akamai.Network // production when the path names none
	// Objects are the objects as sent: URLs and ARLs, or paths when
	// Hostname is set; cache tags; CP codes in decimal. Read-only.
	Objects          []string
	Hostname         string // the body's "hostname" member (url requests), if any
	BodyBytes        int
	ReceivedAt       time.Time // by Options.Now
	AccountSwitchKey string    // the accountSwitchKey query parameter, if any
	// AnswerLost is set when an injected fault with Accept replaced the
	// 201 answer: Akamai purged, but the client was not told.
	AnswerLost bool
}

// RequestRecord is one request the server received, whatever its fate.
type RequestRecord struct {
	ReceivedAt       time.Time // by Options.Now
	Method           string
	Path             string // URL path, without the query
	AccountSwitchKey string
	Action           akamai.Action  // empty unless the path is a purge path
	Type             akamai.Type    // empty unless the path names a type
	Network          akamai.Network // empty unless the path is a purge path
	Objects          int            // objects in the body, once it was parsed
	BodyBytes        int            // body bytes read (at most the read limit)
	// Status is the HTTP status answered, or 0 when the request was hung
	// and its connection dropped without an answer.
	Status   int
	Title    string        // problem title of an error answer
	PurgeID  string        // set when the purge was accepted
	Fault    bool          // the answer came from an injected fault
	Duration time.Duration // handling time, latency included (real time)
}

// Stats are counters over every request since the server started or was
// Reset. Unlike the records, they are never trimmed by Options.MaxRecords
// or Options.MaxRecordBytes.
type Stats struct {
	Requests    int                 // requests received
	ByStatus    map[int]int         // requests by HTTP status answered; 0: hung, no answer
	Purges      int                 // purge requests accepted (Purges)
	Objects     map[akamai.Type]int // objects in accepted purge requests
	RateLimited int                 // 429 answers from the token buckets
	Faults      int                 // answers replaced by injected faults (FailNext, HangNext, FaultFunc, SetFaultRate)
	Unsigned    int                 // requests refused by the EdgeGrid checks (401, or 400 for a bad timestamp)
}

// maxStatus bounds the status counters.
const maxStatus = 600

// counters are the lock-free counters behind Stats.
type counters struct {
	requests    atomic.Int64
	byStatus    [maxStatus]atomic.Int64
	purges      atomic.Int64
	objects     [3]atomic.Int64
	rateLimited atomic.Int64
	faults      atomic.Int64
	unsigned    atomic.Int64
}

func (c *counters) reset() {
	c.requests.Store(0)
	for i := range c.byStatus {
		c.byStatus[i].Store(0)
	}
	c.purges.Store(0)
	for i := range c.objects {
		c.objects[i].Store(0)
	}
	c.rateLimited.Store(0)
	c.faults.Store(0)
	c.unsigned.Store(0)
}

func (c *counters) stats() Stats {
	st := Stats{
		Requests:    int(c.requests.Load()),
		ByStatus:    make(map[int]int),
		Purges:      int(c.purges.Load()),
		Objects:     make(map[akamai.Type]int, len(akamai.Types)),
		RateLimited: int(c.rateLimited.Load()),
		Faults:      int(c.faults.Load()),
		Unsigned:    int(c.unsigned.Load()),
	}
	for i := range c.byStatus {
		if n := c.byStatus[i].Load(); n > 0 {
			st.ByStatus[i] = int(n)
		}
	}
	for _, t := range akamai.Types {
		st.Objects[t] = int(c.objects[typeIndex(t)].Load())
	}
	return st
}

// ring keeps the last max items (all when max is 0) whose sizes add up
// to at most maxBytes (no bound when 0; the last item is always kept),
// dropping the oldest; items[:head] are dropped already, and compacted
// away in batches so that adding stays O(1) amortised.
type ring[T any] struct {
	items    []T
	head     int
	max      int
	maxBytes int
	size     func(T) int // nil: items have no size
	bytes    int         // of items[head:]
}

func (r *ring[T]) add(v T) {
	r.items = append(r.items, v)
	if r.size != nil {
		r.bytes += r.size(v)
	}
	for n := len(r.items) - r.head; n > 1 && (r.max > 0 && n > r.max || r.maxBytes > 0 && r.bytes > r.maxBytes); n-- {
		if r.size != nil {
			r.bytes -= r.size(r.items[r.head])
		}
		var zero T
		r.items[r.head] = zero
		r.head++
	}
	if r.head > 0 && r.head >= len(r.items)/2 {
		n := copy(r.items, r.items[r.head:])
		clear(r.items[n:])
		r.items, r.head = r.items[:n], 0
	}
}

// view returns the kept items, shared with the ring.
func (r *ring[T]) view() []T { return r.items[r.head:] }

func (r *ring[T]) reset() { r.items, r.head, r.bytes = nil, 0, 0 }

// purgeSize is about what a purge record holds in memory: its objects
// (with their string headers) and fields.
func purgeSize(p Purge) int {
	n := 256 + len(p.ID) + len(p.Hostname) + len(p.AccountSwitchKey)
	for _, o := range p.Objects {
		n += len(o) + 16
	}
	return n
}

// all returns a copy of the kept items.
func (r *ring[T]) all() []T { return append([]T(nil), r.view()...) }

// records holds the request and purge records.
type records struct {
	mu       sync.Mutex
	purges   ring[Purge]
	requests ring[RequestRecord]
}

func (r *records) addPurge(p Purge) {
	r.mu.Lock()
	r.purges.add(p)
	r.mu.Unlock()
}

func (r *records) addRequest(rr RequestRecord) {
	r.mu.Lock()
	r.requests.add(rr)
	r.mu.Unlock()
}

func (r *records) reset() {
	r.mu.Lock()
	r.purges.reset()
	r.requests.reset()
	r.mu.Unlock()
}
