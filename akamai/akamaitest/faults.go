package akamaitest

import (
	"fmt"
	"math/rand/v2"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/purgebus/purgebus/akamai"
)

// Fault is an injected failure of one purge request. Faults apply only to
// purge requests that passed every check up to and including the 403 check
// (see the package documentation), so they never hide a client's mistake.
type Fault struct {
	// Status, if non-zero, is answered instead of the real outcome, with a
	// realistic problem body: a 429 names the request's object bucket and
	// carries rateLimit, rateLimitRemaining and rateLimitCurrentRequestSize.
	// It must be 400 through 599.
	Status int
	// Hang, if set, answers nothing: the handler waits until the client
	// gives up, the server closes or ReleaseHangs is called, and then drops
	// the connection without a response.
	Hang bool
	// Delay is extra latency before the fault acts (or, with neither
	// Status nor Hang, before the normal answer).
	Delay time.Duration
	// Accept processes the purge normally first (tokens taken, Purge
	// recorded with AnswerLost) and then lets Status or Hang replace the
	// 201: Akamai purged, but the answer was lost. Without Accept, a fault
	// takes no tokens and records no purge.
	Accept bool
}

// valid reports whether f can be injected.
func (f Fault) valid() error {
	if f.Status != 0 && (f.Status < 400 || f.Status > 599) {
		return fmt.Errorf("akamaitest: fault status %d is not an HTTP error status", f.Status)
	}
	if f.Delay < 0 {
		return fmt.Errorf("akamaitest: negative fault delay %v", f.Delay)
	}
	return nil
}

// acts reports whether f changes anything.
func (f Fault) acts() bool { return f.Status != 0 || f.Hang || f.Delay > 0 }

// PurgeRequest describes a purge request that passed validation, for a
// FaultFunc.
type PurgeRequest struct {
	Action           akamai.Action
	Type             akamai.Type
	Network          akamai.Network
	Objects          []string // as in Purge.Objects; read-only
	Hostname         string
	AccountSwitchKey string
}

// FaultFunc decides whether a valid purge request fails, and how. It is
// called concurrently and must not block.
type FaultFunc func(r *http.Request, p PurgeRequest) (f Fault, ok bool)

// faults holds the fault settings. The queue and the random source are
// under mu; the rest is read lock-free on every request.
type faults struct {
	active atomic.Bool // any queue entry, func or rate set

	mu      sync.Mutex
	queue   []Fault
	fn      FaultFunc
	p       float64
	choices []Fault
	rnd     *rand.Rand

	latency      atomic.Int64 // time.Duration
	unauthorized atomic.Pointer[map[string]struct{}]
	release      atomic.Pointer[chan struct{}]
}

func (fs *faults) init() {
	ch := make(chan struct{})
	fs.release.Store(&ch)
}

// updateActive recomputes active; mu must be held.
func (fs *faults) updateActive() {
	fs.active.Store(len(fs.queue) > 0 || fs.fn != nil || fs.p > 0)
}

// next returns the fault for a valid purge request, if any: queued faults
// first, then the FaultFunc, then the random rate.
func (fs *faults) next(r *http.Request, p PurgeRequest) (Fault, bool) {
	if !fs.active.Load() {
		return Fault{}, false
	}
	fs.mu.Lock()
	if len(fs.queue) > 0 {
		f := fs.queue[0]
		fs.queue = fs.queue[1:]
		if len(fs.queue) == 0 {
			fs.queue = nil // let the backing array go
		}
		fs.updateActive()
		fs.mu.Unlock()
		return f, true
	}
	fn := fs.fn
	fs.mu.Unlock()
	if fn != nil {
		if f, ok := fn(r, p); ok {
			if err := f.valid(); err != nil {
				panic(err)
			}
			return f, f.acts()
		}
	}
	fs.mu.Lock()
	defer fs.mu.Unlock()
	if fs.p > 0 && fs.rnd.Float64() < fs.p {
		return fs.choices[fs.rnd.IntN(len(fs.choices))], true
	}
	return Fault{}, false
}

func (fs *faults) enqueue(n int, f Fault) {
	if err := f.valid(); err != nil {
		panic(err)
	}
	fs.mu.Lock()
	for range n {
		fs.queue = append(fs.queue, f)
	}
	fs.updateActive()
	fs.mu.Unlock()
}

func (fs *faults) reset() {
	fs.mu.Lock()
	fs.queue, fs.fn, fs.p, fs.choices, fs.rnd = nil, nil, 0, nil, nil
	fs.updateActive()
	fs.mu.Unlock()
	fs.latency.Store(0)
	fs.unauthorized.Store(nil)
	fs.releaseHangs()
}

func (fs *faults) releaseHangs() {
	ch := make(chan struct{})
	old := fs.release.Swap(&ch)
	close(*old)
}

// FailNext makes the next n valid purge requests fail with status (400
// through 599), without taking tokens or recording a purge. It adds to
// faults already queued.
func (s *Server) FailNext(n int, status int) {
	s.faults.enqueue(n, Fault{Status: status})
}

// HangNext makes the next n valid purge requests hang: no answer until the
// client gives up, the server closes or ReleaseHangs is called; then the
// connection is dropped. No tokens are taken and no purge is recorded.
func (s *Server) HangNext(n int) {
	s.faults.enqueue(n, Fault{Hang: true})
}

// InjectNext queues fault f for each of the next n valid purge requests.
// It panics if f.Status is not 0 or an HTTP error status.
func (s *Server) InjectNext(n int, f Fault) {
	s.faults.enqueue(n, f)
}

// ReleaseHangs ends every request hanging now: their connections are
// dropped without an answer. Requests that hang later are not affected.
func (s *Server) ReleaseHangs() { s.faults.releaseHangs() }

// SetLatency adds d before every answer (all routes, errors included),
// after the request was processed: a purge accepted by a request whose
// client gives up during the latency stays accepted. Zero turns it off.
func (s *Server) SetLatency(d time.Duration) { s.faults.latency.Store(int64(max(d, 0))) }

// SetFaultFunc installs f (nil removes it). It is asked about every valid
// purge request that no queued fault took.
func (s *Server) SetFaultFunc(f FaultFunc) {
	s.faults.mu.Lock()
	s.faults.fn = f
	s.faults.updateActive()
	s.faults.mu.Unlock()
}

// SetFaultRate makes each valid purge request that neither a queued fault
// nor the FaultFunc took fail with probability p, with a fault drawn
// uniformly from choices, using a random source seeded with seed (the
// sequence of draws is reproducible; which request gets which draw depends
// on arrival order). p <= 0 or no choices turns it off. Example, a 30%
// storm: SetFaultRate(0.3, 1, Fault{Status: 500}, Fault{Status: 503},
// Fault{Hang: true}, Fault{Status: 429}).
func (s *Server) SetFaultRate(p float64, seed int64, choices ...Fault) {
	for _, f := range choices {
		if err := f.valid(); err != nil {
			panic(err)
		}
	}
	s.faults.mu.Lock()
	defer s.faults.mu.Unlock()
	if p <= 0 || len(choices) == 0 {
		s.faults.p, s.faults.choices, s.faults.rnd = 0, nil, nil
	} else {
		s.faults.p = min(p, 1)
		s.faults.choices = append([]Fault(nil), choices...)
		s.faults.rnd = rand.New(rand.NewPCG(uint64(seed), 0x9e3779b97f4a7c15))
	}
	s.faults.updateActive()
}

// Unauthorized makes the credentials unauthorised for objects (URLs, ARLs,
// cache tags or CP codes in decimal, compared as sent): a request naming
// any of them fails as a whole with 403, title "unauthorized arl" (url
// requests), "unauthorized cpcode" or "unauthorized tag", and the object
// as detail. Calls add up; Reset clears them.
func (s *Server) Unauthorized(objects ...string) {
	for {
		old := s.faults.unauthorized.Load()
		m := make(map[string]struct{}, len(objects))
		if old != nil {
			for k := range *old {
				m[k] = struct{}{}
			}
		}
		for _, o := range objects {
			m[o] = struct{}{}
		}
		if s.faults.unauthorized.CompareAndSwap(old, &m) {
			return
		}
	}
}

// unauthorizedObject returns the first of objects the credentials may not
// purge.
func (fs *faults) unauthorizedObject(objects []string) (string, bool) {
	m := fs.unauthorized.Load()
	if m == nil {
		return "", false
	}
	for _, o := range objects {
		if _, bad := (*m)[o]; bad {
			return o, true
		}
	}
	return "", false
}
