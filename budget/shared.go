package budget

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"math/rand/v2"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/purgebus/purgebus/akamai"
)

// DefaultKVBucket is the JetStream key-value bucket that shared budgets
// keep their levels in, one key per Akamai account (see KVKey).
const DefaultKVBucket = "purgebus_budget"

// KVConfig names and sizes the key-value bucket of shared budgets.
type KVConfig struct {
	// Bucket is the key-value bucket (DefaultKVBucket when empty).
	Bucket string
	// Replicas is the number of copies the bucket keeps (1 when 0): as
	// many as the streams', so that the budget survives what the events
	// survive.
	Replicas int
	// Storage is where JetStream keeps the bucket (file by default).
	Storage jetstream.StorageType
	// Create creates the bucket when it is missing, and updates its
	// replicas and storage when they differ. Without it the bucket must
	// exist.
	Create bool
}

// OpenKV opens the key-value bucket of shared budgets, creating or
// updating it when cfg.Create allows.
func OpenKV(ctx context.Context, js jetstream.JetStream, cfg KVConfig) (jetstream.KeyValue, error) {
	if cfg.Bucket == "" {
		cfg.Bucket = DefaultKVBucket
	}
	if cfg.Replicas <= 0 {
		cfg.Replicas = 1
	}
	if !cfg.Create {
		kv, err := js.KeyValue(ctx, cfg.Bucket)
		if err != nil {
			return nil, fmt.Errorf("budget: key-value bucket %s (provision it to create it): %w", cfg.Bucket, err)
		}
		return kv, nil
	}
	kv, err := js.CreateOrUpdateKeyValue(ctx, jetstream.KeyValueConfig{
		Bucket:      cfg.Bucket,
		Description: "purgebus: Akamai rate-limit budget shared by the consumer replicas",
		// Only the latest level matters; older revisions are noise.
		History:      1,
		MaxValueSize: 4096,
		Replicas:     cfg.Replicas,
		Storage:      cfg.Storage,
	})
	if err != nil {
		return nil, fmt.Errorf("budget: create key-value bucket %s: %w", cfg.Bucket, err)
	}
	return kv, nil
}

// KVKey returns the key under which the buckets of account are kept.
// Every byte outside [A-Za-z0-9_-] is written =XX (hex), so that any
// account switch key ("1-5C0YLB:1-8BYUX") makes a valid key and two
// accounts never share one; the empty account is "default".
func KVKey(account string) string {
	if account == "" {
		return "default"
	}
	var b strings.Builder
	for i := 0; i < len(account); i++ {
		c := account[i]
		switch {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9', c == '_', c == '-':
			b.WriteByte(c)
		default:
			fmt.Fprintf(&b, "=%02X", c)
		}
	}
	return b.String()
}

// SharedConfig configures a Shared budget.
type SharedConfig struct {
	// KV is the key-value bucket holding the levels (see OpenKV).
	KV jetstream.KeyValue
	// Account names the Akamai account whose buckets the budget tracks.
	// Replicas purging with the same account must give the same name,
	// and replicas of different accounts different ones; empty means
	// "default".
	Account string
	// Limits are the account's buckets (AkamaiLimits when zero). Akamai's
	// headers override them when they report other sizes.
	Limits Limits
	// Headroom is the fraction of each refill rate left unused (0.005
	// when 0; negative means none). Besides the jitter between our clock
	// and Akamai's that Local's headroom absorbs, it absorbs the skew
	// between the replicas' clocks (see Shared).
	Headroom float64
	// Now is the clock; nil means time.Now. It must be the wall clock,
	// or one that every replica shares: the state carries its readings.
	Now func() time.Time
	// Timeout bounds one key-value operation (2 s when 0).
	Timeout time.Duration
	// RetryWait is about how long Take asks its caller to wait while the
	// key-value store cannot be reached (250 ms when 0; jittered).
	RetryWait time.Duration
	// Name identifies this replica in the stored state, for operators
	// (host name and process ID when empty).
	Name   string
	Logger *slog.Logger
}

// Shared is a Budget that any number of processes share through one key
// of a JetStream key-value bucket, so that together they stay within the
// account's buckets.
//
// The key holds the four levels (requests, URL, CP code and tag tokens)
// and the wall-clock time they were measured at. To take tokens, a
// replica refills the levels it last saw by the time elapsed since then
// (capped at the capacities), subtracts, and writes the result with the
// revision it read: a compare-and-swap, which fails when another replica
// wrote in between; then it reads the key again and starts over. One key
// for all four buckets makes a request's request token and object tokens
// one atomic write; contention stays low because the request bucket (50
// per second) bounds the grants of the whole account.
//
// No replica holds tokens it has not spent: a replica takes tokens from
// the shared levels only for a request about to go, so every token sent
// to Akamai left the shared level first, and a replica that dies locks
// nothing. Leases (tokens taken ahead to save round trips) were left out
// on purpose: while a lease sits outside the shared level, that level
// still refills up to the full capacity, which Akamai's bucket cannot
// hold on top of the lease, so a lease kept while the bucket refills is
// no longer backed by Akamai's tokens and turns into 429s. Safe leases
// would need their expiry kept in the shared state, to save round trips
// that the request bucket already bounds. A refused Take costs no round
// trip: the levels a replica last saw are never below the true ones
// (only time raises them, and Observe only lowers them), so when they
// are short the true ones are too.
//
// Akamai is the truth: Observe lowers the shared levels to the
// X-Ratelimit-Remaining[-Objects] that Akamai reports, which is how other
// clients of the account slow every replica down.
//
// Clocks: replicas compute refills from each other's wall-clock readings,
// which assumes hosts synchronised by NTP (skews of milliseconds). A
// writer never stores a time earlier than the one it read, and a negative
// elapsed time counts as zero, so a skew of ε grants at most about
// 2ε × the refill rate more than Akamai refills over any period, which
// the headroom recovers within seconds; a replica whose clock is far
// behind merely gets no refill of its own. When the key-value store cannot
// be reached, Take grants nothing: purges wait rather than risk 429s.
type Shared struct {
	kv        jetstream.KeyValue
	key       string
	name      string
	now       func() time.Time
	timeout   time.Duration
	retryWait time.Duration
	headroom  float64
	log       *slog.Logger

	// mu serialises this replica's reads and writes of the key: its own
	// lanes would only conflict with each other.
	mu       sync.Mutex
	lim      [4]Bucket // requests, then the object buckets by index(type)
	cur      record    // the state this replica last read or wrote
	rev      uint64    // cur's revision; 0 means read the key again
	stats    SharedStats
	lastWarn time.Time
}

// SharedStats counts what a Shared budget did, for tests and metrics.
type SharedStats struct {
	Grants    int64 // Takes that granted tokens
	Conflicts int64 // writes that lost a race with another replica, retried
	Errors    int64 // key-value operations that failed
	Lowered   int64 // Observes that lowered the shared levels to Akamai's
}

// record is the stored state of an account's buckets.
type record struct {
	// At is when the levels were measured, in Unix nanoseconds of the
	// writer's clock.
	At       int64   `json:"at"`
	Requests float64 `json:"requests"`
	URL      float64 `json:"url"`
	CPCode   float64 `json:"cpcode"`
	Tag      float64 `json:"tag"`
	// By names the writer, for operators reading the key.
	By string `json:"by,omitempty"`
}

func (r *record) levels() [4]float64 { return [4]float64{r.Requests, r.URL, r.CPCode, r.Tag} }

func newRecord(lv [4]float64, at int64, by string) record {
	return record{At: at, Requests: lv[0], URL: lv[1], CPCode: lv[2], Tag: lv[3], By: by}
}

// casAttempts bounds the compare-and-swap tries of one Take or Observe;
// then Take asks its caller to come back a little later.
const casAttempts = 8

// NewShared returns a Shared budget. It reads the account's key, creating
// it with full buckets when it is missing, so that an unreachable or
// unwritable bucket shows at start.
func NewShared(ctx context.Context, cfg SharedConfig) (*Shared, error) {
	if cfg.KV == nil {
		return nil, errors.New("budget: shared budget needs a key-value bucket")
	}
	lim := cfg.Limits.WithDefaults()
	if err := lim.Validate(); err != nil {
		return nil, err
	}
	s := &Shared{
		kv:        cfg.KV,
		key:       KVKey(cfg.Account),
		name:      cfg.Name,
		now:       cfg.Now,
		timeout:   cfg.Timeout,
		retryWait: cfg.RetryWait,
		headroom:  cfg.Headroom,
		log:       cfg.Logger,
		lim:       [4]Bucket{lim.Requests, lim.URL, lim.CPCode, lim.Tag},
	}
	switch {
	case s.headroom == 0:
		s.headroom = 0.005
	case s.headroom < 0:
		s.headroom = 0
	}
	if s.now == nil {
		s.now = time.Now
	}
	if s.timeout <= 0 {
		s.timeout = 2 * time.Second
	}
	if s.retryWait <= 0 {
		s.retryWait = 250 * time.Millisecond
	}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	if s.name == "" {
		host, _ := os.Hostname()
		s.name = host + "-" + strconv.Itoa(os.Getpid())
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	// A bucket just created on a cluster answers once its stream has a
	// leader: give it a few seconds.
	deadline := time.Now().Add(10 * time.Second)
	for {
		err := s.load(ctx)
		if err == nil {
			return s, nil
		}
		if !errors.Is(err, nats.ErrNoResponders) && !errors.Is(err, nats.ErrTimeout) && !errors.Is(err, context.DeadlineExceeded) || time.Now().After(deadline) {
			return nil, err
		}
		select {
		case <-ctx.Done():
			return nil, err
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// rate is bucket i's refill rate in use, after headroom.
func (s *Shared) rate(i int) float64 { return s.lim[i].PerSecond * (1 - s.headroom) }

// levelsAt returns the levels last seen, refilled until now, and the time
// to store with them: never earlier than the stored one, so that a writer
// whose clock is behind does not hand the time between back to the
// others as a second refill.
func (s *Shared) levelsAt(now time.Time) ([4]float64, int64) {
	lv := s.cur.levels()
	t := now.UnixNano()
	elapsed := max(float64(t-s.cur.At)/1e9, 0)
	for i := range lv {
		lv[i] = min(lv[i]+elapsed*s.rate(i), float64(s.lim[i].Capacity))
		lv[i] = max(lv[i], 0)
	}
	if ahead := time.Duration(s.cur.At - t); ahead > time.Second {
		s.warn("the shared budget was written by a clock ahead of this host's; is NTP running?",
			"ahead", ahead, "writer", s.cur.By)
	}
	return lv, max(t, s.cur.At)
}

// Take implements Budget.
func (s *Shared) Take(t akamai.Type, minN, maxN int) (int, time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	o := 1 + index(t)
	minN = min(max(minN, 1), s.lim[o].Capacity)
	maxN = min(max(maxN, minN), s.lim[o].Capacity)
	for attempt := 1; ; attempt++ {
		if s.rev == 0 {
			if err := s.load(context.Background()); err != nil {
				return 0, s.unavailable(err)
			}
		}
		lv, at := s.levelsAt(s.now())
		if lv[0] < 1 || lv[o] < float64(minN) {
			// The levels last seen are never below the true ones, so
			// the tokens are not there: no round trip needed.
			return 0, max(s.until(0, lv[0], 1), s.until(o, lv[o], minN))
		}
		n := min(maxN, int(math.Floor(lv[o])))
		lv[0]--
		lv[o] -= float64(n)
		err := s.store(lv, at)
		switch {
		case err == nil:
			s.stats.Grants++
			return n, 0
		case !errors.Is(err, jetstream.ErrKeyRevisionMismatch):
			return 0, s.unavailable(err)
		}
		s.stats.Conflicts++
		if attempt >= casAttempts {
			// Heavy contention: let the caller come back soon instead of
			// holding its lane here.
			return 0, time.Millisecond + rand.N(5*time.Millisecond)
		}
		if attempt > 1 {
			// Replicas that keep colliding spread out.
			time.Sleep(rand.N(time.Duration(attempt) * time.Millisecond))
		}
	}
}

// until is how long bucket i takes to go from have to need tokens,
// rounded up to the millisecond like Local's.
func (s *Shared) until(i int, have float64, need int) time.Duration {
	deficit := float64(need) - have
	if deficit <= 0 {
		return 0
	}
	sec := deficit / s.rate(i)
	return time.Duration(math.Ceil(sec*1000)) * time.Millisecond
}

// Observe implements Budget. Like Local's, the shared levels only ever go
// down to Akamai's: requests of any replica that Akamai has not counted
// yet make its levels look higher than ours, while a level lower than
// ours means someone else spent the account's tokens.
func (s *Shared) Observe(t akamai.Type, rl akamai.RateLimit) {
	if !rl.Present() {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	o := 1 + index(t)
	adopt := func(i, capacity int, perSecond float64, capField, rateField akamai.RateLimitFields) {
		if rl.Has(capField) && capacity > 0 {
			s.lim[i].Capacity = capacity
		}
		if rl.Has(rateField) && perSecond > 0 && !math.IsInf(perSecond, 0) {
			s.lim[i].PerSecond = perSecond
		}
	}
	adopt(0, rl.Limit, rl.LimitPerSecond, akamai.FieldLimit, akamai.FieldLimitPerSecond)
	adopt(o, rl.LimitObjects, rl.LimitPerSecondObjects, akamai.FieldLimitObjects, akamai.FieldLimitPerSecondObjects)
	// The report is Akamai's level as of now at the latest; the key-value
	// round trips below take time during which Akamai's bucket refills
	// too, and forgetting that refill would waste it at every report.
	seen := s.now()
	for attempt := 1; attempt <= casAttempts; attempt++ {
		if s.rev == 0 {
			if err := s.load(context.Background()); err != nil {
				s.unavailable(err)
				return
			}
		}
		now := s.now()
		lv, at := s.levelsAt(now)
		since := max(now.Sub(seen).Seconds(), 0)
		lowered := false
		lower := func(i, remaining int) {
			target := min(float64(remaining)+since*s.rate(i), float64(s.lim[i].Capacity))
			if lv[i]-target >= 1 {
				lv[i] = target
				lowered = true
			}
		}
		if rl.Has(akamai.FieldRemaining) {
			lower(0, rl.Remaining)
		}
		if rl.Has(akamai.FieldRemainingObjects) {
			lower(o, rl.RemainingObjects)
		}
		if !lowered {
			return
		}
		err := s.store(lv, at)
		switch {
		case err == nil:
			s.stats.Lowered++
			return
		case !errors.Is(err, jetstream.ErrKeyRevisionMismatch):
			s.unavailable(err)
			return
		}
		// Another replica wrote: look again, it may have lowered the
		// levels already.
		s.stats.Conflicts++
	}
}

// Capacity implements Budget.
func (s *Shared) Capacity(t akamai.Type) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.lim[1+index(t)].Capacity
}

// Levels returns the state of the four buckets as this replica last saw
// it, refilled until now: other replicas may have spent some since.
func (s *Shared) Levels() []Level {
	s.mu.Lock()
	defer s.mu.Unlock()
	lv, _ := s.levelsAt(s.now())
	out := make([]Level, 0, len(lv))
	for i, v := range lv {
		name := "requests"
		if i > 0 {
			name = bucketNames[i-1]
		}
		out = append(out, Level{Bucket: name, Tokens: v, Capacity: s.lim[i].Capacity, PerSecond: s.rate(i)})
	}
	return out
}

// Stats returns what the budget did so far.
func (s *Shared) Stats() SharedStats {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.stats
}

// Key returns the key-value key holding the account's levels.
func (s *Shared) Key() string { return s.key }

// load reads the key into cur, creating it with full buckets when it is
// missing: an account nobody purged for a while has full buckets, and
// Observe corrects that from Akamai's first answer otherwise.
func (s *Shared) load(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, s.timeout)
	defer cancel()
	e, err := s.kv.Get(ctx, s.key)
	if errors.Is(err, jetstream.ErrKeyNotFound) {
		var full [4]float64
		for i := range full {
			full[i] = float64(s.lim[i].Capacity)
		}
		rec := newRecord(full, s.now().UnixNano(), s.name)
		data, _ := json.Marshal(rec) // a record always encodes
		rev, cerr := s.kv.Create(ctx, s.key, data)
		if cerr == nil {
			s.cur, s.rev = rec, rev
			return nil
		}
		if !errors.Is(cerr, jetstream.ErrKeyExists) {
			s.rev = 0
			return fmt.Errorf("budget: create %s in %s: %w", s.key, s.kv.Bucket(), cerr)
		}
		// Another replica created it first.
		e, err = s.kv.Get(ctx, s.key)
	}
	if err != nil {
		s.rev = 0
		return fmt.Errorf("budget: read %s in %s: %w", s.key, s.kv.Bucket(), err)
	}
	var rec record
	if err := json.Unmarshal(e.Value(), &rec); err != nil {
		// Empty buckets are the safe guess; they refill, and the next
		// write repairs the key.
		s.log.Error("shared budget state unreadable; assuming empty buckets", "key", s.key, "err", err)
		rec = record{At: s.now().UnixNano()}
	}
	s.cur, s.rev = rec, e.Revision()
	return nil
}

// store writes levels lv measured at at, if the key is still at the
// revision last seen.
func (s *Shared) store(lv [4]float64, at int64) error {
	rec := newRecord(lv, at, s.name)
	data, _ := json.Marshal(rec) // a record always encodes
	ctx, cancel := context.WithTimeout(context.Background(), s.timeout)
	defer cancel()
	rev, err := s.kv.Update(ctx, s.key, data, s.rev)
	if err != nil {
		// Whether it failed or only its acknowledgement did, the key
		// must be read again before the next write.
		s.rev = 0
		return fmt.Errorf("budget: write %s in %s: %w", s.key, s.kv.Bucket(), err)
	}
	s.cur, s.rev = rec, rev
	return nil
}

// unavailable counts and logs a failed key-value operation and returns
// how long Take's caller should wait before asking again.
func (s *Shared) unavailable(err error) time.Duration {
	s.stats.Errors++
	s.rev = 0
	s.warn("shared rate-limit budget unavailable; purges wait for it", "key", s.key, "err", err)
	return s.retryWait/2 + rand.N(s.retryWait)
}

// warn logs at most every 10 seconds, so that an outage does not flood
// the logs from every lane.
func (s *Shared) warn(msg string, args ...any) {
	if now := time.Now(); now.Sub(s.lastWarn) >= 10*time.Second {
		s.lastWarn = now
		s.log.Warn(msg, args...)
	}
}
