package budget

import (
	"context"
	"errors"
	"math"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/purgebus/purgebus/akamai"
	"github.com/purgebus/purgebus/bus"
)

// kvServer starts an embedded JetStream and returns a connection's
// JetStream context, with the key-value bucket of shared budgets created.
func kvServer(t *testing.T) (jetstream.JetStream, jetstream.KeyValue, *bus.Embedded) {
	t.Helper()
	emb, err := bus.StartEmbedded(bus.EmbeddedConfig{Listen: "127.0.0.1:0"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(emb.Shutdown)
	js := connectJS(t, emb)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	kv, err := OpenKV(ctx, js, KVConfig{Create: true})
	if err != nil {
		t.Fatal(err)
	}
	return js, kv, emb
}

func connectJS(t *testing.T, emb *bus.Embedded) jetstream.JetStream {
	t.Helper()
	nc, err := nats.Connect(emb.ClientURL())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	return js
}

func newShared(t *testing.T, kv jetstream.KeyValue, cfg SharedConfig) *Shared {
	t.Helper()
	cfg.KV = kv
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	s, err := NewShared(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// replicas returns n budgets of one account on kv, each with its own
// connection, as n processes would have.
func replicas(t *testing.T, emb *bus.Embedded, n int, cfg SharedConfig) []*Shared {
	t.Helper()
	out := make([]*Shared, n)
	for i := range out {
		kv, err := connectJS(t, emb).KeyValue(context.Background(), DefaultKVBucket)
		if err != nil {
			t.Fatal(err)
		}
		out[i] = newShared(t, kv, cfg)
	}
	return out
}

func TestKVKey(t *testing.T) {
	for account, want := range map[string]string{
		"":                 "default",
		"B-C-1FRYVV3":      "B-C-1FRYVV3",
		"1-5C0YLB:1-8BYUX": "1-5C0YLB=3A1-8BYUX",
		"a.b c":            "a=2Eb=20c",
		"x=3A":             "x=3D3A", // never the same key as "x:"
	} {
		if got := KVKey(account); got != want {
			t.Errorf("KVKey(%q) = %q, want %q", account, got, want)
		}
	}
}

// TestSharedSplitsTheBuckets: three replicas draw on one set of buckets;
// what one takes the others do not get, and the refill goes to whoever
// comes first.
func TestSharedSplitsTheBuckets(t *testing.T) {
	_, _, emb := kvServer(t)
	c := newClock()
	r := replicas(t, emb, 3, SharedConfig{Now: c.now, Headroom: -1})
	if n, _ := r[0].Take(akamai.TypeURL, 6000, 6000); n != 6000 {
		t.Fatalf("replica 0 got %d of a full bucket, want 6000", n)
	}
	if n, _ := r[1].Take(akamai.TypeURL, 1000, 9000); n != 4000 {
		t.Fatalf("replica 1 got %d, want the 4000 left", n)
	}
	n, wait := r[2].Take(akamai.TypeURL, 400, 400)
	if n != 0 || wait != 2*time.Second {
		t.Fatalf("replica 2 on an empty bucket: %d, %v; want 0, 2s (400 at 200 per second)", n, wait)
	}
	c.add(wait)
	if n, _ := r[2].Take(akamai.TypeURL, 400, 1000); n != 400 {
		t.Fatalf("replica 2 after the wait got %d, want 400", n)
	}
	if n, _ := r[0].Take(akamai.TypeURL, 1, 1); n != 0 {
		t.Fatalf("replica 0 got %d right after replica 2 emptied the bucket", n)
	}
	// Other types have their own buckets. The request bucket is shared
	// too: full again after the wait, and one request went since.
	if n, _ := r[0].Take(akamai.TypeTag, 5000, 5000); n != 5000 {
		t.Fatalf("tags: %d", n)
	}
	got := 0
	for i := 0; i < 200; i++ {
		if n, _ := r[i%3].Take(akamai.TypeCPCode, 1, 1); n == 0 {
			break
		}
		got++
	}
	if got != 98 {
		t.Fatalf("%d more requests went, want the 98 left of 100", got)
	}
	var total SharedStats
	for _, s := range r {
		st := s.Stats()
		total.Grants += st.Grants
		total.Conflicts += st.Conflicts
	}
	if total.Grants != 102 || total.Conflicts == 0 {
		t.Fatalf("stats %+v: want 102 grants, and conflicts from the replicas' stale views", total)
	}
}

// TestSharedConflictRetried: a replica whose view is stale loses the
// compare-and-swap, reads the key again and takes from the true level.
func TestSharedConflictRetried(t *testing.T) {
	_, _, emb := kvServer(t)
	c := newClock()
	r := replicas(t, emb, 2, SharedConfig{Now: c.now, Headroom: -1})
	if n, _ := r[0].Take(akamai.TypeURL, 7000, 7000); n != 7000 {
		t.Fatalf("replica 0 got %d", n)
	}
	// Replica 1 still believes the bucket full.
	if n, _ := r[1].Take(akamai.TypeURL, 1000, 5000); n != 3000 {
		t.Fatalf("replica 1 got %d, want the 3000 left", n)
	}
	if st := r[1].Stats(); st.Conflicts != 1 || st.Grants != 1 || st.Errors != 0 {
		t.Fatalf("replica 1 stats %+v, want one conflict and one grant", st)
	}
	// And replica 0, stale in turn, finds nothing.
	if n, wait := r[0].Take(akamai.TypeURL, 200, 200); n != 0 || wait != time.Second {
		t.Fatalf("replica 0 on the emptied bucket: %d, %v; want 0, 1s", n, wait)
	}
}

// TestSharedConcurrentTakes: three replicas with two lanes each take as
// fast as they can. Together they never get more than the bucket's
// capacity and its refill, and they get nearly all of it.
func TestSharedConcurrentTakes(t *testing.T) {
	_, _, emb := kvServer(t)
	const scale = 5
	lim := AkamaiLimits().Scale(scale) // 1,000 URLs per second after the 10,000
	start := time.Now()
	r := replicas(t, emb, 3, SharedConfig{Limits: lim})
	var granted, requests atomic.Int64
	var last atomic.Int64
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for _, s := range r {
		for range 2 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for {
					select {
					case <-stop:
						return
					default:
					}
					n, wait := s.Take(akamai.TypeURL, 100, 1000)
					if n > 0 {
						granted.Add(int64(n))
						requests.Add(1)
						last.Store(int64(time.Since(start)))
						continue
					}
					select {
					case <-stop:
						return
					case <-time.After(wait):
					}
				}
			}()
		}
	}
	time.Sleep(4 * time.Second)
	close(stop)
	wg.Wait()
	elapsed := time.Duration(last.Load()).Seconds()
	supply := float64(lim.URL.Capacity) + lim.URL.PerSecond*elapsed
	got := float64(granted.Load())
	var conflicts, errs int64
	for _, s := range r {
		conflicts += s.Stats().Conflicts
		errs += s.Stats().Errors
	}
	t.Logf("%d URLs in %d requests over %.2fs: %.4f of the supply %.0f; %d conflicts, %d errors",
		int(got), requests.Load(), elapsed, got/supply, supply, conflicts, errs)
	if got > supply+1 {
		t.Errorf("granted %.0f URLs, more than the %.0f the bucket supplied", got, supply)
	}
	if maxReq := float64(lim.Requests.Capacity) + lim.Requests.PerSecond*elapsed; float64(requests.Load()) > maxReq+1 {
		t.Errorf("granted %d requests, more than the %.0f the request bucket supplied", requests.Load(), maxReq)
	}
	// Lanes wanting at least 100 at a time leave at most that much
	// unclaimed at the end; headroom (0.5 %) and wake-up delays cost the
	// rest.
	if got < 0.95*supply {
		t.Errorf("granted %.0f URLs, less than 95 %% of the %.0f supplied", got, supply)
	}
}

// TestSharedObserveLowers: Akamai reporting fewer tokens than the shared
// level lowers it for every replica; reporting more changes nothing.
func TestSharedObserveLowers(t *testing.T) {
	_, _, emb := kvServer(t)
	c := newClock()
	r := replicas(t, emb, 2, SharedConfig{Now: c.now, Headroom: -1})
	r[0].Observe(akamai.TypeURL, akamai.RateLimit{
		Remaining: 40, RemainingObjects: 300,
		Fields: akamai.FieldRemaining | akamai.FieldRemainingObjects,
	})
	if st := r[0].Stats(); st.Lowered != 1 {
		t.Fatalf("stats %+v, want one lowering", st)
	}
	if n, _ := r[1].Take(akamai.TypeURL, 1, 10000); n != 300 {
		t.Fatalf("the other replica got %d URLs, want Akamai's 300", n)
	}
	// Higher than ours: another replica's requests Akamai has not
	// counted yet; the level stays.
	r[0].Observe(akamai.TypeURL, akamai.RateLimit{RemainingObjects: 5000, Fields: akamai.FieldRemainingObjects})
	if n, wait := r[1].Take(akamai.TypeURL, 1, 10000); n != 0 || wait != 5*time.Millisecond {
		t.Fatalf("after a higher report: %d, %v; want 0, 5ms (the bucket is empty)", n, wait)
	}
	// Requests: 40 were left, one went.
	c.add(time.Minute)
	got := 0
	for range 200 {
		if n, _ := r[got%2].Take(akamai.TypeTag, 1, 1); n == 0 {
			break
		}
		got++
	}
	if got != 100 {
		t.Fatalf("%d requests after a minute, want the full 100", got)
	}
	// Capacities and rates from the headers replace the configured ones.
	r[0].Observe(akamai.TypeCPCode, akamai.RateLimit{LimitObjects: 600, LimitPerSecondObjects: 1,
		Fields: akamai.FieldLimitObjects | akamai.FieldLimitPerSecondObjects})
	if got := r[0].Capacity(akamai.TypeCPCode); got != 600 {
		t.Fatalf("CP-code capacity %d after Akamai reported 600", got)
	}
}

// TestSharedDeadReplicaLocksNothing: a replica that took every token and
// died without a word holds nothing: the others get the refill as soon as
// it is there. Meanwhile a replica cut off from the key-value store
// grants nothing and asks to retry.
func TestSharedDeadReplicaLocksNothing(t *testing.T) {
	_, kv, emb := kvServer(t)
	c := newClock()
	nc, err := nats.Connect(emb.ClientURL())
	if err != nil {
		t.Fatal(err)
	}
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	deadKV, err := js.KeyValue(context.Background(), DefaultKVBucket)
	if err != nil {
		t.Fatal(err)
	}
	dead := newShared(t, deadKV, SharedConfig{Now: c.now, Headroom: -1, Timeout: 200 * time.Millisecond, RetryWait: 100 * time.Millisecond})
	alive := newShared(t, kv, SharedConfig{Now: c.now, Headroom: -1})
	if n, _ := dead.Take(akamai.TypeURL, 10000, 10000); n != 10000 {
		t.Fatalf("got %d of a full bucket", n)
	}
	nc.Close() // the process is gone; nobody closed the budget

	// The dead replica's view shows the refill; it must not grant it.
	c.add(time.Second)
	if n, wait := dead.Take(akamai.TypeURL, 1, 1); n != 0 || wait < 50*time.Millisecond {
		t.Fatalf("a replica without its key-value store: %d, %v; want nothing and a retry", n, wait)
	}
	if st := dead.Stats(); st.Errors == 0 {
		t.Fatalf("stats %+v, want the failure counted", st)
	}
	n, wait := alive.Take(akamai.TypeURL, 1000, 1000)
	if n != 0 || wait != 4*time.Second {
		t.Fatalf("Take(1000) a second after the dead replica emptied the bucket: %d, %v; want 0, 4s", n, wait)
	}
	c.add(wait)
	if n, _ := alive.Take(akamai.TypeURL, 1000, 1000); n != 1000 {
		t.Fatalf("got %d after the refill, want 1000", n)
	}
}

// TestSharedClockSkew: two replicas whose clocks differ by 50 ms, taking
// turns, get at most the refill plus twice the skew's worth, however long
// they go on: the skew does not accumulate.
func TestSharedClockSkew(t *testing.T) {
	_, _, emb := kvServer(t)
	const skew = 50 * time.Millisecond
	c := newClock()
	ahead := func() time.Time { return c.now().Add(skew) }
	kvs := replicas(t, emb, 1, SharedConfig{Now: c.now, Headroom: -1})
	behind := kvs[0]
	kv, err := connectJS(t, emb).KeyValue(context.Background(), DefaultKVBucket)
	if err != nil {
		t.Fatal(err)
	}
	front := newShared(t, kv, SharedConfig{Now: ahead, Headroom: -1})
	got := 0
	start := c.now()
	for i := range 400 {
		c.add(10 * time.Millisecond)
		for _, s := range []*Shared{behind, front} {
			if i%3 == 0 && s == front {
				continue // uneven turns
			}
			n, _ := s.Take(akamai.TypeURL, 1, 10000)
			got += n
		}
	}
	// The clock may be behind the last time stored, by up to skew.
	elapsed := c.now().Add(skew).Sub(start).Seconds()
	supply := 10000 + 200*elapsed
	t.Logf("granted %d over %.2fs, supply with the skew %.0f", got, elapsed, supply)
	if float64(got) > supply+1 {
		t.Fatalf("granted %d, more than %.0f", got, supply)
	}
	if float64(got) < supply-2*skew.Seconds()*200-200 {
		t.Fatalf("granted %d, far below the supply %.0f: a skewed replica starves the account", got, supply)
	}
}

// TestOpenKVWithoutCreate: without Create a missing bucket is an error
// that says so; with it the bucket is made once, and reopened as is.
func TestOpenKVWithoutCreate(t *testing.T) {
	emb, err := bus.StartEmbedded(bus.EmbeddedConfig{Listen: "127.0.0.1:0"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(emb.Shutdown)
	js := connectJS(t, emb)
	ctx := context.Background()
	if _, err := OpenKV(ctx, js, KVConfig{}); !errors.Is(err, jetstream.ErrBucketNotFound) {
		t.Fatalf("OpenKV of a missing bucket without Create: %v", err)
	}
	for range 2 {
		if _, err := OpenKV(ctx, js, KVConfig{Create: true, Storage: jetstream.MemoryStorage}); err != nil {
			t.Fatal(err)
		}
	}
	kv, err := OpenKV(ctx, js, KVConfig{})
	if err != nil {
		t.Fatal(err)
	}
	st, err := kv.Status(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if st.Bucket() != DefaultKVBucket || st.History() != 1 {
		t.Fatalf("bucket %s history %d", st.Bucket(), st.History())
	}
	// A shared budget of an account nobody used starts with full buckets.
	s := newShared(t, kv, SharedConfig{Account: "1-ABC:2-DEF"})
	for _, l := range s.Levels() {
		if math.Abs(l.Tokens-float64(l.Capacity)) > 1 {
			t.Fatalf("level %+v of a new account, want full", l)
		}
	}
	if _, err := kv.Get(ctx, "1-ABC=3A2-DEF"); err != nil {
		t.Fatalf("the account's key: %v", err)
	}
}
