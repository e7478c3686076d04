// Package consumer wires purgebus's sidecar together: NATS (embedded or
// external), the streams, the watermill router with the subscriber, the
// handler and its coalescer, the Akamai client and the result publisher.
// cmd/consumer is a thin command line over it, and the integration tests
// run exactly this wiring.
package consumer

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"sync"
	"time"

	"github.com/ThreeDotsLabs/watermill"
	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/purgebus/purgebus/akamai"
	"github.com/purgebus/purgebus/budget"
	"github.com/purgebus/purgebus/bus"
	"github.com/purgebus/purgebus/handler"
	"github.com/purgebus/purgebus/metrics"
	"github.com/purgebus/purgebus/routing"
)

// Config configures a Consumer.
type Config struct {
	// NATSURL connects to an existing NATS server or cluster (a comma-
	// separated URL list). Empty starts an embedded nats-server.
	NATSURL string
	// NATS authenticates to the existing server or cluster (its URL is
	// NATSURL).
	NATS bus.ConnectConfig
	// NATSOptions are extra connection options.
	NATSOptions []nats.Option
	// Embedded configures the embedded server when NATSURL is empty.
	Embedded bus.EmbeddedConfig
	// Streams names and sizes the streams and the durable consumer;
	// Streams.MaxAckPending is the number of events in flight.
	Streams bus.StreamsConfig
	// Provision creates or updates the streams and the durable consumer
	// on NATSURL at start. Without it they must exist and suit purgebus
	// (bus.Verify), and the durable's own in-flight limit and ack wait
	// apply. The embedded server is always provisioned.
	Provision bool
	// Akamai configures the Fast Purge client.
	Akamai akamai.Config
	// Coalescer configures batching and retries.
	Coalescer handler.CoalescerConfig
	// Budget paces purges to the Akamai account's token buckets; nil
	// means a budget.Local of Limits, unless Unpaced.
	Budget budget.Budget
	// Limits are the account's buckets for the default budget (Akamai's
	// documented ones when zero).
	Limits budget.Limits
	// SharedBudget makes the default budget a budget.Shared, kept in the
	// JetStream key-value bucket budget.DefaultKVBucket, so that every
	// replica of this consumer together stays within the account's
	// buckets. Provision (or the embedded server) creates the bucket with
	// the streams' replicas; otherwise it must exist.
	SharedBudget bool
	// BudgetAccount names the Akamai account in the shared budget:
	// replicas purging through the same account must agree on it. Empty
	// means the credentials' account switch key, or "default" without
	// one, which is safe: deployments that share a name share a budget.
	BudgetAccount string
	// Circuit configures the circuit that stops purging while Akamai
	// refuses the credentials; its Probe defaults to asking for the
	// rate-limit status, and OnChange is called after the consumer's own
	// reaction (pausing the subscriber).
	Circuit handler.CircuitConfig
	// Unpaced sends requests as fast as Coalescer.MaxInFlight allows and
	// only retries Akamai's 429s: for fakes without buckets and for
	// measuring.
	Unpaced bool
	// Handler configures event handling.
	Handler handler.Config
	// Routing, when set, routes objects among several Akamai accounts
	// and guards what may be purged (see package routing); Accounts holds
	// each account's client configuration under the names Routing uses.
	// Without Routing every object goes to the one account of Akamai.
	Routing  *routing.Config
	Accounts map[string]Account
	// Metrics, when set, counts events, requests, tokens and circuit
	// states, and instruments the watermill router.
	Metrics *metrics.Metrics
	// ResultWindow bounds unacknowledged asynchronous result publishes
	// (1,000 when 0), and the messages of one batch.
	ResultWindow int
	// StuckAfter is how long an event may stay unacknowledged before it
	// is logged as stuck and fails the "events" readiness check
	// (bus.DefaultStuckAfter when 0).
	StuckAfter time.Duration
	// NoBatchPublish publishes results one by one (bus.Publisher) even
	// where the result stream allows fast batches. By default results
	// are stored in flow-acked fast batches (bus.BatchPublisher) where
	// the server and the result stream allow them, which the consumer
	// checks at start, and one by one elsewhere.
	NoBatchPublish bool
	// ShutdownTimeout bounds the drain on Close (20 s when 0): pending
	// batches are sent at once and finished events acked; the rest is
	// redelivered on the next start.
	ShutdownTimeout time.Duration
	Logger          *slog.Logger
}

// Consumer is a running purgebus consumer.
type Consumer struct {
	cfg       Config
	log       *slog.Logger
	embedded  *bus.Embedded
	batch     *bus.BatchPublisher // nil when results are published one by one
	conns     []*nats.Conn
	router    *message.Router
	accounts  []*account
	sub       *bus.Subscriber
	js        jetstream.JetStream
	pauseMu   sync.Mutex // serializes pausing the subscriber for the circuits
	routerErr chan error
	errs      chan error // Err's: the router's end, or a refused permission
	// perms records the permission violations the server reports on any
	// of the consumer's connections: each is fatal (see Err).
	perms *bus.Permissions
	url   string
}

// Start connects, provisions the streams and starts handling events. It
// returns once the router is running.
func Start(ctx context.Context, cfg Config) (_ *Consumer, err error) {
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if cfg.ShutdownTimeout <= 0 {
		cfg.ShutdownTimeout = 20 * time.Second
	}
	cfg.Streams = cfg.Streams.Defaults()
	// Credentials are checked before anything touches the port or the
	// data directory.
	acfgs, err := accountConfigs(cfg)
	if err != nil {
		return nil, err
	}
	clients := make(map[string]*akamai.Client, len(acfgs))
	for name, a := range acfgs {
		if clients[name], err = akamai.NewClient(a.Akamai); err != nil {
			if cfg.Routing != nil {
				err = fmt.Errorf("consumer: account %s: %w", name, err)
			}
			return nil, err
		}
	}
	var router *routing.Router
	if cfg.Routing != nil {
		if router, err = routing.NewRouter(cfg.Routing); err != nil {
			return nil, fmt.Errorf("consumer: %w", err)
		}
	}
	c := &Consumer{cfg: cfg, log: log, routerErr: make(chan error, 1), errs: make(chan error, 1), perms: &bus.Permissions{}}
	// A request the server refuses for lack of permission fails the
	// start at once, naming the refused subject, instead of waiting for
	// an answer that never comes (and retrying it as if the cluster were
	// only slow).
	ctx, unguard := c.perms.Guard(ctx)
	defer unguard()
	defer func() {
		if err != nil {
			err = bus.Explain(ctx, err)
			c.closeConns()
		}
	}()

	connect := func(name string) (*nats.Conn, error) {
		cc := cfg.NATS
		cc.URL = cfg.NATSURL
		opts := slices.Clip(cfg.NATSOptions)
		if c.embedded != nil {
			// In-process connections authenticate like any other.
			cc = c.embedded.ClientConfig()
			opts = append(opts, nats.InProcessServer(c.embedded.Server()))
		}
		cc.Name, cc.Logger, cc.Permissions = "purgebus-"+name, log, c.perms
		nc, err := cc.Connect(opts...)
		if err != nil {
			return nil, fmt.Errorf("consumer: %w", err)
		}
		c.conns = append(c.conns, nc)
		return nc, nil
	}

	if cfg.NATSURL == "" {
		if cfg.Streams.Replicas > 1 {
			return nil, fmt.Errorf("consumer: %d stream replicas need a NATS cluster; the embedded server is a single node", cfg.Streams.Replicas)
		}
		emb := cfg.Embedded
		if emb.Logger == nil {
			emb.Logger = log.With("component", "nats-server")
		}
		if c.embedded, err = bus.StartEmbedded(emb); err != nil {
			return nil, err
		}
		c.url = c.embedded.ClientURL()
		log.Info("embedded NATS started", "url", c.url, "data_dir", emb.DataDir)
	} else {
		c.url = cfg.NATSURL
	}

	subConn, err := connect("consumer")
	if err != nil {
		return nil, err
	}
	if err := checkMaxPayload(cfg, subConn.MaxPayload()); err != nil {
		return nil, err
	}
	pubConn, err := connect("results")
	if err != nil {
		return nil, err
	}
	js, err := jetstream.New(subConn)
	if err != nil {
		return nil, fmt.Errorf("consumer: %w", err)
	}
	c.js = js
	if c.embedded != nil || cfg.Provision {
		if err := bus.Provision(ctx, js, cfg.Streams); err != nil {
			return nil, err
		}
	} else {
		if err := bus.Verify(ctx, js, cfg.Streams); err != nil {
			if errors.Is(err, bus.ErrNotProvisioned) {
				return nil, fmt.Errorf("consumer: %w; run with --provision to create or update them", err)
			}
			return nil, fmt.Errorf("consumer: %w", err)
		}
		if err := c.adoptDurable(ctx, js); err != nil {
			return nil, err
		}
		cfg.Streams = c.cfg.Streams
		if _, err := js.ObjectStore(ctx, cfg.Streams.PayloadBucket); errors.Is(err, jetstream.ErrBucketNotFound) {
			log.Warn("the object store bucket of large dead letters' events is missing: their dead letters will keep only the beginning of the event; run with --provision to create it",
				"bucket", cfg.Streams.PayloadBucket)
		}
	}
	pub, err := bus.NewPublisher(pubConn, cfg.ResultWindow)
	if err != nil {
		return nil, err
	}
	pub.FailOnRefusal(c.perms)
	var shared func(string, Account) (budget.Budget, budget.Ledger, error)
	if cfg.SharedBudget && !cfg.Unpaced {
		budgetConn, err := connect("budget")
		if err != nil {
			return nil, err
		}
		shared = func(name string, a Account) (budget.Budget, budget.Ledger, error) {
			return sharedBudget(ctx, budgetConn, cfg, name, a, c.embedded != nil || cfg.Provision, log)
		}
	}
	names := slices.Sorted(maps.Keys(acfgs))
	coalescers := make(map[string]*handler.Coalescer, len(names))
	for _, name := range names {
		acct, err := c.newAccount(name, acfgs[name], clients[name], shared)
		if err != nil {
			return nil, err
		}
		c.accounts = append(c.accounts, acct)
		coalescers[name] = acct.coalescer
		go acct.checkAkamai(log)
	}
	hcfg := cfg.Handler
	if hcfg.Logger == nil {
		hcfg.Logger = log.With("component", "handler")
	}
	hcfg.Router, hcfg.Accounts = router, coalescers
	// Results and dead letters fit the server's messages, whatever the
	// event; the events too large for their dead letter are kept whole
	// in an object store bucket.
	hcfg.MaxPayload = pubConn.MaxPayload
	if hcfg.Payloads == nil {
		if hcfg.Payloads, err = bus.NewPayloadStore(pubConn, cfg.Streams); err != nil {
			return nil, err
		}
	}
	var hpub handler.Publisher = pub
	resultStream := cfg.Streams.Defaults().ResultStream
	if cfg.NoBatchPublish {
		log.Info("results published one by one: batches turned off (--batch-publish=false)")
	} else {
		c.batch, err = startBatches(ctx, js, pubConn, pub, resultStream, cfg.ResultWindow, log)
		if err != nil {
			return nil, err
		}
		if c.batch != nil {
			hpub = c.batch
		}
	}
	if cfg.Metrics != nil {
		hpub = cfg.Metrics.WrapPublisher(hpub)
	}
	h := handler.New(c.accounts[0].coalescer, hpub, hcfg)

	c.sub, err = bus.NewSubscriber(js, bus.SubscriberConfig{
		Stream:       cfg.Streams.ContentStream,
		Durable:      cfg.Streams.Durable,
		AckWait:      cfg.Streams.AckWait,
		CloseTimeout: cfg.ShutdownTimeout,
		StuckAfter:   cfg.StuckAfter,
		Logger:       log.With("component", "subscriber"),
	})
	if err != nil {
		return nil, err
	}
	wlog := watermill.NewSlogLoggerWithLevelMapping(log.With("component", "router"), map[slog.Level]slog.Level{
		slog.LevelInfo: slog.LevelDebug,
	})
	c.router, err = message.NewRouter(message.RouterConfig{CloseTimeout: cfg.ShutdownTimeout}, wlog)
	if err != nil {
		return nil, fmt.Errorf("consumer: %w", err)
	}
	if m := cfg.Metrics; m != nil {
		if err := m.InstrumentRouter(c.router); err != nil {
			return nil, fmt.Errorf("consumer: %w", err)
		}
		c.router.AddMiddleware(m.Middleware)
		if err := c.watch(ctx); err != nil {
			return nil, err
		}
	}
	c.router.AddMiddleware(h.PoisonMiddleware)
	c.router.AddConsumerHandler("purge", cfg.Streams.ContentStream, c.sub, h.Handle)
	go func() { c.routerErr <- c.router.Run(context.Background()) }()
	// A circuit may have opened before the subscriber existed.
	go c.syncPause()
	select {
	case <-c.router.Running():
	case err := <-c.routerErr:
		return nil, fmt.Errorf("consumer: router: %w", err)
	case <-ctx.Done():
		_ = c.router.Close()
		return nil, ctx.Err()
	}
	go c.forwardErr()
	log.Info("consumer running", "nats", RedactURLs(c.url), "stream", cfg.Streams.ContentStream, "durable", cfg.Streams.Durable,
		"in_flight", cfg.Streams.MaxAckPending, "accounts", len(c.accounts), "akamai", akamaiTarget(c.accounts[0].cfg.Akamai))
	return c, nil
}

// circuitChanged is told when Akamai starts or stops refusing an
// account's credentials.
func (c *Consumer) circuitChanged(account string, s handler.CircuitState, cause error) {
	c.log.Debug("circuit", "account", account, "state", s.String(), "cause", cause)
	c.cfg.Metrics.SetCircuit(account, int(s))
	go c.syncPause()
	if c.cfg.Circuit.OnChange != nil {
		c.cfg.Circuit.OnChange(s, cause)
	}
}

// syncPause stops pulling events while every account's circuit is open:
// nothing could be purged, and the events are safer in JetStream than
// held here. While any account can purge, events are taken; those of a
// refused account wait in its coalescer. It reads the circuits' current
// states, so calls that overtake each other still end right.
func (c *Consumer) syncPause() {
	c.pauseMu.Lock()
	defer c.pauseMu.Unlock()
	if c.sub == nil {
		return
	}
	refused := true
	for _, a := range c.accounts {
		if s, _ := a.circuit.State(); s == handler.CircuitClosed {
			refused = false
		}
	}
	switch {
	case refused && !c.sub.Paused():
		c.log.Warn("every account's credentials are refused: no more events are taken until Akamai accepts them")
		c.sub.Pause()
	case !refused && c.sub.Paused():
		if err := c.sub.Resume(); err != nil {
			c.log.Warn("cannot resume taking events", "err", err)
			return
		}
		c.log.Info("taking events again")
	}
}

// adoptDurable takes the in-flight limit and the ack wait of the existing
// durable consumer, which apply when it was not provisioned.
func (c *Consumer) adoptDurable(ctx context.Context, js jetstream.JetStream) error {
	sc := &c.cfg.Streams
	cons, err := js.Consumer(ctx, sc.ContentStream, sc.Durable)
	if err != nil {
		return fmt.Errorf("consumer: durable %s on %s: %w", sc.Durable, sc.ContentStream, err)
	}
	dc := cons.CachedInfo().Config
	if dc.MaxAckPending > 0 && dc.MaxAckPending != sc.MaxAckPending || dc.AckWait > 0 && dc.AckWait != sc.AckWait {
		c.log.Info("the existing durable consumer's settings apply; run with --provision to apply the configured ones",
			"durable", sc.Durable, "in_flight", dc.MaxAckPending, "ack_wait", dc.AckWait,
			"configured_in_flight", sc.MaxAckPending, "configured_ack_wait", sc.AckWait)
	}
	if dc.MaxAckPending > 0 {
		sc.MaxAckPending = dc.MaxAckPending
	}
	if dc.AckWait > 0 {
		sc.AckWait = dc.AckWait
	}
	return nil
}

func akamaiTarget(c akamai.Config) string {
	if c.BaseURL != "" {
		return c.BaseURL
	}
	return "https://" + c.Credentials.Host
}

// NATSURL returns the URL other processes use to reach the consumer's NATS.
func (c *Consumer) NATSURL() string { return c.url }

// Err returns a channel that receives the router's error if it stops on
// its own, or a *bus.PermissionError (errors.Is bus.ErrPermission) as
// soon as the NATS server refuses one of the consumer's requests: a
// missing permission never comes back by itself, so the consumer should
// be closed and the operator told which subject was refused.
func (c *Consumer) Err() <-chan error { return c.errs }

// forwardErr passes the router's end or the first permission violation,
// whichever comes first, to Err's channel.
func (c *Consumer) forwardErr() {
	select {
	case err := <-c.routerErr:
		c.errs <- err
	case <-c.perms.Done():
		err := c.perms.Err()
		c.log.Error("the NATS server refused a request: stopping", "err", err)
		c.errs <- err
	}
}

// Close drains: it stops taking events, sends pending batches at once,
// acks the events whose results are published, and gives up on the rest
// after ShutdownTimeout (they are redelivered on the next start).
func (c *Consumer) Close() error {
	var errs []error
	ctx, cancel := context.WithTimeout(context.Background(), c.cfg.ShutdownTimeout)
	defer cancel()
	// Stop taking new events and let those in flight finish: the router
	// closes the subscriber, which waits for in-flight acks, while the
	// coalescer sends what is pending at once instead of lingering.
	closed := make(chan error, 1)
	go func() { closed <- c.router.Close() }()
	var wg sync.WaitGroup
	var mu sync.Mutex
	for _, a := range c.accounts {
		wg.Go(func() {
			err := a.coalescer.Close(ctx)
			a.circuit.Stop()
			if err != nil {
				mu.Lock()
				errs = append(errs, fmt.Errorf("account %s: %w", a.name, err))
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	if err := <-closed; err != nil {
		errs = append(errs, err)
	}
	if c.batch != nil {
		c.batch.Close()
	}
	c.closeConns()
	return errors.Join(errs...)
}

func (c *Consumer) closeConns() {
	for _, nc := range c.conns {
		_ = nc.Drain()
	}
	for _, nc := range c.conns {
		for nc.IsDraining() {
			time.Sleep(5 * time.Millisecond)
		}
		nc.Close()
	}
	c.conns = nil
	if c.embedded != nil {
		c.embedded.Shutdown()
		c.embedded = nil
	}
}

// sharedBudget opens the budget that the consumer's replicas share, on its
// own connection so that its round trips never queue behind events.
func sharedBudget(ctx context.Context, nc *nats.Conn, cfg Config, name string, a Account, create bool, log *slog.Logger) (*budget.Shared, *budget.KVLedger, error) {
	js, err := jetstream.New(nc)
	if err != nil {
		return nil, nil, fmt.Errorf("consumer: %w", err)
	}
	var kv jetstream.KeyValue
	err = bus.RetryTransient(ctx, func(ctx context.Context) (err error) {
		kv, err = budget.OpenKV(ctx, js, budget.KVConfig{Replicas: cfg.Streams.Replicas, Storage: cfg.Streams.Storage, Create: create})
		return err
	})
	if err != nil {
		return nil, nil, fmt.Errorf("consumer: %w", err)
	}
	account := cfg.BudgetAccount
	if cfg.Routing != nil {
		// The routing configuration's names are the fleet's shared
		// names for its accounts.
		account = name
	}
	if account == "" {
		account = a.Akamai.Credentials.AccountKey
	}
	b, err := budget.NewShared(ctx, budget.SharedConfig{KV: kv, Account: account, Limits: a.Limits, Logger: log.With("component", "budget", "account", name)})
	if err != nil {
		return nil, nil, fmt.Errorf("consumer: %w", err)
	}
	log.Info("shared rate-limit budget", "bucket", kv.Bucket(), "key", b.Key())
	// The routes' hourly escalation budgets are the fleet's too.
	return b, budget.NewKVLedger(kv, "escalations."+budget.KVKey(account)), nil
}

// RedactURLs hides the credentials in a comma-separated NATS URL list;
// see bus.RedactURLs.
func RedactURLs(list string) string { return bus.RedactURLs(list) }
