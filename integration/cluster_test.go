package integration

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/purgebus/purgebus/akamai"
	"github.com/purgebus/purgebus/akamai/akamaitest"
	"github.com/purgebus/purgebus/budget"
	"github.com/purgebus/purgebus/bus"
	"github.com/purgebus/purgebus/consumer"
	"github.com/purgebus/purgebus/events"
	"github.com/purgebus/purgebus/handler"
)

// scaleOut is one scale-out scenario: 3 consumer replicas sharing one
// budget on a 3-node NATS cluster, against a fake Akamai with Akamai's
// bucket sizes whose time runs Scale times faster.
type scaleOut struct {
	Scale float64
	// Events is the number of events; the first BurstEvents carry
	// BurstURLs unique URLs each, the rest one each. The burst events
	// spend the URL bucket's capacity at once, so that the run measures
	// the refill rate: one event of one URL costs the pipeline about as
	// much as one of ten, and three replicas on a loaded 2-core machine
	// push a few hundred events a second through a replicated cluster.
	Events, BurstEvents, BurstURLs int
	// Disrupt shuts down the NATS node leading the budget's key-value
	// stream once this fraction of the URLs is purged, and crashes a
	// replica a tenth later; 0 disrupts nothing.
	Disrupt float64
}

// scaleOutRun is what one run measured.
type scaleOutRun struct {
	urls, requests, rateLimited int
	took                        time.Duration
	// paced is the URLs purged per second from the moment the burst was
	// spent (the fake's URL bucket first below 10 % of its capacity,
	// less what it then held) to the last purge, over the bucket's
	// refill rate: how much of the refill the replicas used together.
	// 0 when the bucket never got that low.
	paced float64
	// level is the fake's mean URL level once the burst was spent, as a
	// fraction of the capacity: near 0 when the budget set the pace, high
	// when the pipeline could not keep up with the refill.
	level float64
	// unknown is the mean of the fake's URL level less the shared
	// budget's, once the burst was spent: tokens Akamai held that the
	// replicas did not count on (requests under way, the headroom, and
	// the refill forgotten when lowering to a report).
	unknown float64
	// stall is the longest time without an accepted purge.
	stall time.Duration
}

func (r scaleOutRun) String() string {
	return fmt.Sprintf("%d URLs in %d requests over %v; rate ÷ refill once the burst was spent: %.3f "+
		"(the bucket %.1f %% full on average, %.0f tokens more than the shared budget counted); longest stall %v; 429s: %d",
		r.urls, r.requests, r.took.Round(time.Millisecond), r.paced, 100*r.level, r.unknown, r.stall.Round(time.Millisecond), r.rateLimited)
}

// run runs the scenario. Every event must get a succeeded result and
// every URL reach the fake, or the test fails.
func (sc scaleOut) run(t testing.TB) scaleOutRun {
	t.Helper()
	c := startCluster(t, 3)
	fake := akamaitest.NewServer(akamaitest.Options{TimeScale: sc.Scale})
	t.Cleanup(fake.Close)
	lim := budget.AkamaiLimits().Scale(sc.Scale)
	streams := bus.StreamsConfig{
		Replicas: 3,
		// Memory keeps the cluster's own cost down on a small machine;
		// replication and leader elections are the same.
		Storage: jetstream.MemoryStorage,
		// Plenty for whole requests while lanes wait for tokens; more
		// would only add progress signals.
		MaxAckPending: 1000,
		// The crashed replica's events come back after this; shorter
		// would flood the cluster with the progress signals of the
		// events that wait for tokens.
		AckWait: 15 * time.Second,
	}
	_, js := c.connect()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	if err := bus.Provision(ctx, js, streams); err != nil {
		t.Fatal(err)
	}
	// A backlog from the start: demand exceeds supply throughout.
	pubStart := time.Now()
	want := publishEvents(t, js, "scale", sc.Events, sc.BurstEvents, sc.BurstURLs)
	urls := 0
	for _, u := range want {
		urls += len(u)
	}
	t.Logf("published %d events of %d URLs in %v", len(want), urls, time.Since(pubStart).Round(time.Millisecond))

	crash := make([]*crashDialer, 3)
	for i := range crash {
		crash[i] = &crashDialer{}
		cons, err := consumer.Start(ctx, consumer.Config{
			NATSURL:      c.URLs(),
			NATSOptions:  []nats.Option{nats.SetCustomDialer(crash[i]), nats.ReconnectWait(100 * time.Millisecond)},
			Provision:    true,
			Streams:      streams,
			SharedBudget: true,
			Limits:       lim,
			Akamai:       akamai.Config{Credentials: fake.Credentials(), BaseURL: fake.URL()},
			Coalescer: handler.CoalescerConfig{
				Backoff: func(int) time.Duration { return 20 * time.Millisecond },
			},
			ShutdownTimeout: 5 * time.Second,
			Logger:          testLogger(t).With("replica", i),
		})
		if err != nil {
			t.Fatalf("replica %d: %v", i, err)
		}
		t.Cleanup(func() {
			if err := cons.Close(); err != nil {
				t.Logf("replica %d close: %v", i, err)
			}
		})
	}

	// Watch the fake's URL bucket and the shared budget's view of it.
	w := watchBuckets(t, js, fake, lim.URL)
	defer w.stop()

	if sc.Disrupt > 0 {
		sc.disrupt(t, c, fake, crash[2], urls)
	}

	results := awaitResults(t, js, want, 150*time.Second)
	for id := range want {
		for _, res := range results[id] {
			if res.Outcome != events.OutcomeSucceeded {
				t.Fatalf("event %s: %s %+v", id, res.Outcome, res.Failures)
			}
		}
	}
	seen := map[string]bool{}
	for _, u := range fake.PurgedObjects(akamai.TypeURL) {
		seen[u] = true
	}
	for id, us := range want {
		for _, u := range us {
			if !seen[u] {
				t.Fatalf("%s of event %s never reached Akamai", u, id)
			}
		}
	}
	if info, err := js.Stream(context.Background(), "KV_"+budget.DefaultKVBucket); err == nil {
		t.Logf("budget key-value writes: %d", info.CachedInfo().State.LastSeq)
	}

	w.stop()
	purges := fake.Purges()
	run := scaleOutRun{requests: len(purges), rateLimited: fake.Stats().RateLimited}
	first, last := purges[0].ReceivedAt, purges[0].ReceivedAt
	prev := first
	after := 0
	for _, p := range purges {
		first, last = minTime(first, p.ReceivedAt), maxTime(last, p.ReceivedAt)
		run.urls += len(p.Objects)
		if !w.drained.IsZero() && p.ReceivedAt.After(w.drained) {
			after += len(p.Objects)
		}
		run.stall = max(run.stall, p.ReceivedAt.Sub(prev))
		prev = p.ReceivedAt
	}
	run.took = last.Sub(first)
	if !w.drained.IsZero() && last.After(w.drained) {
		// What the bucket held when the burst was spent is not refill.
		run.paced = (float64(after) - w.drainedLevel) / (lim.URL.PerSecond * last.Sub(w.drained).Seconds())
	}
	if w.samples > 0 {
		run.level = w.levels / float64(w.samples) / float64(lim.URL.Capacity)
		run.unknown = w.unknown / float64(w.samples)
	}
	return run
}

// disrupt shuts down the NATS node leading the budget's key-value stream,
// made to lead the results stream as well, once the fraction sc.Disrupt
// of the URLs is purged, and crashes a
// replica (its connections cut, its Close never called) a tenth later.
func (sc scaleOut) disrupt(t testing.TB, c *natsCluster, fake *akamaitest.Server, victim *crashDialer, urls int) {
	t.Helper()
	purged := func() int { return fake.Stats().Objects[akamai.TypeURL] }
	waitPurged := func(target int) {
		t.Helper()
		deadline := time.Now().Add(120 * time.Second)
		for purged() < target {
			if time.Now().After(deadline) {
				t.Fatalf("%d URLs purged after 120 s, waiting for %d", purged(), target)
			}
			time.Sleep(5 * time.Millisecond)
		}
	}
	waitPurged(int(sc.Disrupt * float64(urls)))
	kvStream := "KV_" + budget.DefaultKVBucket
	node := max(c.streamLeader(kvStream), 0)
	// The node that fails leads the results stream too, so that results
	// on their way to it lose their acknowledgements: those must be
	// published again, not waited for forever.
	nc, _ := c.connect()
	if !c.moveStreamLeader(nc, events.DefaultResultStream, node) {
		t.Errorf("could not move the leader of %s to node %d", events.DefaultResultStream, node)
	}
	nc.Close()
	var led []string
	for _, s := range []string{kvStream, events.DefaultContentStream, events.DefaultResultStream} {
		if c.streamLeader(s) == node {
			led = append(led, s)
		}
	}
	if c.servers[node].JetStreamIsConsumerLeader(server.DEFAULT_GLOBAL_ACCOUNT, events.DefaultContentStream, "purgebus") {
		led = append(led, "durable purgebus")
	}
	t.Logf("%d URLs purged: NATS node %d, leader of %v, shuts down", purged(), node, led)
	c.shutdown(node)
	waitPurged(int((sc.Disrupt + 0.1) * float64(urls)))
	t.Logf("%d URLs purged: replica 2 crashes", purged())
	victim.crash()
}

// TestClusterSharedBudget: three replicas sharing one budget through a
// replicated JetStream key-value bucket stay within the account's buckets
// together, through the loss of the node leading the budget's stream and
// a crashed replica, and lose nothing. The rate they reach is logged: on
// a loaded 2-core machine the pipeline, not the budget, may set it;
// BenchmarkClusterSharedBudget checks it.
func TestClusterSharedBudget(t *testing.T) {
	if testing.Short() {
		t.Skip("a 3-node NATS cluster and 20,000 events")
	}
	start := time.Now()
	// 10,000 URLs at once, then 19,000 at 400 a second.
	run := scaleOut{Scale: 2, Events: 20000, BurstEvents: 1000, BurstURLs: 10, Disrupt: 0.4}.run(t)
	t.Logf("%v; test %v", run, time.Since(start).Round(time.Second))
	if run.rateLimited != 0 {
		t.Errorf("%d 429s: the replicas together went faster than the account's buckets", run.rateLimited)
	}
}

// BenchmarkClusterSharedBudget runs the scale-out scenario without
// disruptions at Akamai's own pace, where the budget rather than the
// pipeline sets the pace, and fails unless the three replicas together
// used at least 95 % of the URL bucket's refill once the burst was spent,
// without a 429; its metric rate/refill is that fraction. One run takes
// about two minutes: run it with -benchtime 1x.
func BenchmarkClusterSharedBudget(b *testing.B) {
	var run scaleOutRun
	for range b.N {
		run = scaleOut{Scale: 1, Events: 20000, BurstEvents: 1000, BurstURLs: 10}.run(b)
	}
	b.ReportMetric(run.paced, "rate/refill")
	b.ReportMetric(float64(run.rateLimited), "429s")
	b.Logf("%v", run)
	if run.rateLimited != 0 {
		b.Errorf("%d 429s", run.rateLimited)
	}
	if run.paced < 0.95 {
		b.Errorf("the replicas used %.3f of the refill rate, want at least 0.95", run.paced)
	}
}

// bucketWatch samples the fake's URL bucket and the shared budget's
// level of it.
type bucketWatch struct {
	done, stopped chan struct{}
	once          sync.Once
	// Set by the sampler; read after stop.
	drained      time.Time // when the fake's level first fell below 10 %
	drainedLevel float64   // the level then
	levels       float64   // sum of the fake's levels from drained on
	unknown      float64   // sum of the fake's less the shared levels
	samples      int
}

func watchBuckets(t testing.TB, js jetstream.JetStream, fake *akamaitest.Server, url budget.Bucket) *bucketWatch {
	t.Helper()
	kv, err := js.KeyValue(context.Background(), budget.DefaultKVBucket)
	if err != nil {
		t.Fatal(err)
	}
	w := &bucketWatch{done: make(chan struct{}), stopped: make(chan struct{})}
	go func() {
		defer close(w.stopped)
		tick := time.NewTicker(20 * time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-w.done:
				return
			case <-tick.C:
			}
			level := fake.Tokens("").URL
			if w.drained.IsZero() {
				if level >= 0.1*float64(url.Capacity) {
					continue
				}
				w.drained, w.drainedLevel = time.Now(), level
			}
			ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
			e, err := kv.Get(ctx, budget.KVKey(""))
			cancel()
			var rec struct {
				At  int64   `json:"at"`
				URL float64 `json:"url"`
			}
			if err != nil || json.Unmarshal(e.Value(), &rec) != nil {
				continue // the node went down; the next sample will do
			}
			now := time.Now()
			// Refilled as the budget does, with its default headroom.
			shared := min(rec.URL+now.Sub(time.Unix(0, rec.At)).Seconds()*url.PerSecond*0.995, float64(url.Capacity))
			level = fake.Tokens("").URL
			w.levels += level
			w.unknown += level - shared
			w.samples++
		}
	}()
	return w
}

func (w *bucketWatch) stop() {
	w.once.Do(func() { close(w.done) })
	<-w.stopped
}

// TestSharedBudgetNeedsItsBucket: without provisioning, a consumer with a
// shared budget refuses to start when the budget's key-value bucket is
// missing, and says which; with provisioning it creates it.
func TestSharedBudgetNeedsItsBucket(t *testing.T) {
	emb, err := bus.StartEmbedded(bus.EmbeddedConfig{Listen: "127.0.0.1:0"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(emb.Shutdown)
	nc, err := nats.Connect(emb.ClientURL())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := bus.Provision(ctx, js, bus.StreamsConfig{}); err != nil {
		t.Fatal(err)
	}
	fake := akamaitest.NewServer(akamaitest.Options{})
	t.Cleanup(fake.Close)
	cfg := consumer.Config{
		NATSURL:         emb.ClientURL(),
		SharedBudget:    true,
		BudgetAccount:   "1-ABC:2-DEF",
		Akamai:          akamai.Config{Credentials: fake.Credentials(), BaseURL: fake.URL()},
		ShutdownTimeout: 5 * time.Second,
		Logger:          testLogger(t),
	}
	if c, err := consumer.Start(ctx, cfg); err == nil {
		_ = c.Close()
		t.Fatal("started without the budget's key-value bucket")
	} else if !errors.Is(err, jetstream.ErrBucketNotFound) || !strings.Contains(err.Error(), budget.DefaultKVBucket) {
		t.Fatalf("error %q does not say the bucket %s is missing", err, budget.DefaultKVBucket)
	}
	cfg.Provision = true
	c, err := consumer.Start(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	kv, err := js.KeyValue(ctx, budget.DefaultKVBucket)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := kv.Get(ctx, budget.KVKey(cfg.BudgetAccount)); err != nil {
		t.Fatalf("the account's key: %v", err)
	}
}
