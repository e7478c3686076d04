package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/purgebus/purgebus/akamai"
	"github.com/purgebus/purgebus/akamai/akamaitest"
	"github.com/purgebus/purgebus/bus"
	"github.com/purgebus/purgebus/consumer"
	"github.com/purgebus/purgebus/events"
	"github.com/purgebus/purgebus/handler"
)

// natsRig is an embedded nats-server owned by the harness, so that a
// backlog can be published before the consumer starts: the consumer then
// connects to it like to an external server, through the same kind of
// connection the harness uses (in-process by default, as the consumer's
// own embedded server is reached; loopback TCP with --transport tcp).
type natsRig struct {
	emb  *bus.Embedded
	url  string
	opts []nats.Option // connection options: in-process or none
	nc   *nats.Conn
	js   jetstream.JetStream
}

// startNATS starts an embedded server with a temporary store (removed on
// close), connects, and provisions purgebus's streams and durable exactly
// as the in-process consumer will (its in-flight limit included), so that
// bare baselines read the same durable.
func startNATS(ctx context.Context, cfg *config) (*natsRig, error) {
	return startNATSAt(ctx, cfg.transport, "", bus.StreamsConfig{MaxAckPending: cfg.inFlight})
}

// startNATSAt is startNATS on the store in dir (a temporary one, removed
// on close, when dir is empty), provisioned with sc.
func startNATSAt(ctx context.Context, transport, dir string, sc bus.StreamsConfig) (*natsRig, error) {
	emb, err := bus.StartEmbedded(bus.EmbeddedConfig{Listen: "127.0.0.1:0", DataDir: dir})
	if err != nil {
		return nil, err
	}
	r := &natsRig{emb: emb, url: emb.ClientURL()}
	if transport != "tcp" {
		r.opts = []nats.Option{nats.InProcessServer(emb.Server())}
	}
	if r.nc, err = r.connect("purgeload"); err != nil {
		r.close()
		return nil, err
	}
	if r.js, err = jetstream.New(r.nc); err != nil {
		r.close()
		return nil, err
	}
	if err := bus.Provision(ctx, r.js, sc.Defaults()); err != nil {
		r.close()
		return nil, err
	}
	return r, nil
}

func (r *natsRig) connect(name string) (*nats.Conn, error) {
	opts := append([]nats.Option{nats.Name(name), nats.MaxReconnects(-1)}, r.opts...)
	nc, err := nats.Connect(r.url, opts...)
	if err != nil {
		return nil, fmt.Errorf("connect %s: %w", r.url, err)
	}
	return nc, nil
}

func (r *natsRig) close() {
	if r.nc != nil {
		r.nc.Close()
	}
	r.emb.Shutdown()
}

// startConsumer starts the consumer in this process on the rig's server,
// against fake, with the harness's common settings; mod adjusts them.
func (r *natsRig) startConsumer(ctx context.Context, cfg *config, fake *akamaitest.Server, mod func(*consumer.Config)) (*consumer.Consumer, error) {
	cc := consumer.Config{
		NATSURL:     r.url,
		NATSOptions: r.opts,
		Provision:   true,
		Akamai:      akamai.Config{Credentials: fake.Credentials(), BaseURL: fake.URL()},
		Coalescer: handler.CoalescerConfig{
			Linger: cfg.linger,
		},
		Streams:         bus.StreamsConfig{MaxAckPending: cfg.inFlight},
		ShutdownTimeout: 30 * time.Second,
		NoBatchPublish:  !cfg.batch,
		Logger:          cfg.consumerLogger(),
	}
	if mod != nil {
		mod(&cc)
	}
	sctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	c, err := consumer.Start(sctx, cc)
	if err != nil {
		return nil, fmt.Errorf("consumer.Start: %w", err)
	}
	return c, nil
}

func (cfg *config) consumerLogger() *slog.Logger {
	if cfg.verbose {
		return slog.New(slog.NewTextHandler(cfg.stderr, &slog.HandlerOptions{Level: slog.LevelInfo}))
	}
	return slog.New(slog.DiscardHandler)
}

// pageURL is a URL that normalizes to itself, so that what the fake
// records is what was published.
func pageURL(prefix string, i int) string {
	return fmt.Sprintf("https://www.example.com/%s/%d?a=1&b=2", prefix, i)
}

// eventJSON encodes a content-changed event the way a publisher would.
func eventJSON(id string, urls []string) []byte {
	ev := events.ContentChanged{ID: id, URLs: urls, Source: "purgeload"}
	data, err := ev.Encode()
	if err != nil {
		panic(err) // only strings: cannot fail
	}
	return data
}

// publishBacklog publishes n events asynchronously (gen(i) is the i-th
// payload) and returns once JetStream stored every one of them.
func publishBacklog(ctx context.Context, nc *nats.Conn, n int, gen func(i int) []byte) error {
	var (
		failed   atomic.Int64
		errOnce  sync.Once
		firstErr error
	)
	js, err := jetstream.New(nc,
		jetstream.WithPublishAsyncMaxPending(4096),
		jetstream.WithPublishAsyncErrHandler(func(_ jetstream.JetStream, _ *nats.Msg, err error) {
			failed.Add(1)
			errOnce.Do(func() { firstErr = err })
		}))
	if err != nil {
		return err
	}
	stream, err := js.Stream(ctx, events.DefaultContentStream)
	if err != nil {
		return err
	}
	info, err := stream.Info(ctx)
	if err != nil {
		return err
	}
	// Counted by sequence: acks still on their way may remove earlier
	// messages from the work queue meanwhile.
	before := info.State.LastSeq
	for i := range n {
		if _, err := js.PublishAsync(events.SubjectContentChanged, gen(i), jetstream.WithStallWait(time.Minute)); err != nil {
			return fmt.Errorf("publish event %d of %d: %w", i, n, err)
		}
		if i%4096 == 0 && ctx.Err() != nil {
			return ctx.Err()
		}
	}
	select {
	case <-js.PublishAsyncComplete():
	case <-ctx.Done():
		return ctx.Err()
	case <-time.After(5 * time.Minute):
		return fmt.Errorf("backlog: %d publishes still unacknowledged after 5 minutes", js.PublishAsyncPending())
	}
	if f := failed.Load(); f > 0 {
		return fmt.Errorf("backlog: %d of %d publishes failed, the first with: %w", f, n, firstErr)
	}
	if info, err = stream.Info(ctx); err != nil {
		return err
	}
	if got := info.State.LastSeq - before; got != uint64(n) {
		return fmt.Errorf("backlog: the stream took %d events, want %d", got, n)
	}
	return nil
}

// resultCounter counts the results published on purge.result.> by event,
// through a core NATS subscription without pending limits; it skips
// batch control messages (events.IsControl).
type resultCounter struct {
	sub  *nats.Subscription
	want int

	mu       sync.Mutex
	seen     map[string]time.Time // event ID → first result's arrival
	dups     int
	outcomes map[string]int
	done     chan struct{}
}

func countResults(nc *nats.Conn, want int) (*resultCounter, error) {
	rc := newResultCounter(want)
	sub, err := nc.Subscribe(events.SubjectResults+".>", func(m *nats.Msg) {
		if !events.IsControl(m.Data) {
			rc.record(m.Subject, time.Now())
		}
	})
	if err != nil {
		return nil, err
	}
	if err := sub.SetPendingLimits(-1, -1); err != nil {
		_ = sub.Unsubscribe()
		return nil, err
	}
	// The subscription is registered with the server once this returns.
	if err := nc.Flush(); err != nil {
		_ = sub.Unsubscribe()
		return nil, err
	}
	rc.sub = sub
	return rc, nil
}

func newResultCounter(want int) *resultCounter {
	return &resultCounter{want: want, seen: make(map[string]time.Time, want), outcomes: map[string]int{}, done: make(chan struct{})}
}

// record counts the result stored or seen on subject at now.
func (rc *resultCounter) record(subject string, now time.Time) {
	// purge.result.<outcome>.<id>
	parts := strings.SplitN(subject, ".", 4)
	if len(parts) != 4 {
		return
	}
	rc.mu.Lock()
	defer rc.mu.Unlock()
	if _, ok := rc.seen[parts[3]]; ok {
		rc.dups++
		return
	}
	rc.seen[parts[3]] = now
	rc.outcomes[parts[2]]++
	if len(rc.seen) == rc.want {
		close(rc.done)
	}
}

// wait waits until every event has a result; it gives up when no new
// result arrived for stall, or ctx ends.
func (rc *resultCounter) wait(ctx context.Context, stall time.Duration) error {
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	lastN, lastAt := -1, time.Now()
	for {
		select {
		case <-rc.done:
			return nil
		case <-ctx.Done():
			return fmt.Errorf("%d of %d results: %w", rc.count(), rc.want, ctx.Err())
		case <-tick.C:
			n := rc.count()
			if n != lastN {
				lastN, lastAt = n, time.Now()
			} else if time.Since(lastAt) > stall {
				return fmt.Errorf("stalled: %d of %d results, none for %v", n, rc.want, stall)
			}
		}
	}
}

func (rc *resultCounter) count() int {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	return len(rc.seen)
}

// arrival is when event id's first result arrived.
func (rc *resultCounter) arrival(id string) (time.Time, bool) {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	t, ok := rc.seen[id]
	return t, ok
}

// lastArrival is when the latest first result arrived.
func (rc *resultCounter) lastArrival() time.Time {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	var last time.Time
	for _, t := range rc.seen {
		if t.After(last) {
			last = t
		}
	}
	return last
}

// failures describes results that were not "succeeded", and duplicates.
func (rc *resultCounter) failures() error {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	var errs []error
	for o, n := range rc.outcomes {
		if o != string(events.OutcomeSucceeded) {
			errs = append(errs, fmt.Errorf("%d results %s", n, o))
		}
	}
	return errors.Join(errs...)
}

func (rc *resultCounter) duplicates() int {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	return rc.dups
}

func (rc *resultCounter) stop() {
	if rc.sub != nil {
		_ = rc.sub.Unsubscribe()
	}
}

// closeConsumer closes c and reports a failed drain as a note.
func closeConsumer(c *consumer.Consumer, f *Figure) {
	if err := c.Close(); err != nil {
		f.note("consumer close: %v", err)
	}
}

// progress prints a progress line to stderr unless quiet.
func (cfg *config) progress(format string, args ...any) {
	if cfg.quiet {
		return
	}
	fmt.Fprintf(cfg.stderr, "purgeload: "+format+"\n", args...)
}

// cpuTime is the CPU time this process used so far (user and system).
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
