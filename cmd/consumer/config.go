package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"slices"
	"strings"

	"github.com/purgebus/purgebus/akamai"
	"github.com/purgebus/purgebus/akamai/akamaitest"
	"github.com/purgebus/purgebus/akamai/edgegrid"
	"github.com/purgebus/purgebus/bus"
	"github.com/purgebus/purgebus/consumer"
	"github.com/purgebus/purgebus/handler"
	"github.com/purgebus/purgebus/routing"
)

// config turns the options into the consumer's configuration. It loads
// and checks the Akamai credentials first, so a misconfigured start
// touches neither the NATS port nor the data directory. In sandbox mode it
// starts the fake Akamai; cleanup stops it.
func (o *options) config(log *slog.Logger, lookupEnv func(string) (string, bool), stderr io.Writer) (consumer.Config, func(), error) {
	cleanup := func() {}
	cfg := o.baseConfig(log)
	if o.routing != "" {
		rc, err := routing.Load(o.routing)
		if err != nil {
			return cfg, cleanup, fmt.Errorf("--routing: %w", err)
		}
		cfg.Routing = rc
	}
	if o.sandbox {
		// Nobody reads the sandbox fake's records: a few, bounded by
		// bytes, so that a long dry run keeps flat memory.
		srv := akamaitest.NewServer(akamaitest.Options{MaxRecords: 1000, MaxRecordBytes: 1 << 20})
		cleanup = srv.Close
		cfg.Akamai = akamai.Config{Credentials: srv.Credentials(), BaseURL: srv.URL()}
		if cfg.Routing != nil {
			// Every account purges against the one fake.
			cfg.Accounts = map[string]consumer.Account{}
			for name := range cfg.Routing.Accounts {
				cfg.Accounts[name] = consumer.Account{Akamai: cfg.Akamai}
			}
		}
		fmt.Fprintf(stderr, "%s\n  SANDBOX MODE: purges go to an in-process fake Akamai at %s,\n  not to Akamai. Results are real events; nothing is purged on any CDN.\n%s\n",
			strings.Repeat("*", 78), srv.URL(), strings.Repeat("*", 78))
		log.Warn("sandbox mode: purging against a fake Akamai", "url", srv.URL())
		return cfg, cleanup, nil
	}
	base := edgegrid.LoadOptions{
		Path:       o.edgerc,
		Section:    o.section,
		AccountKey: o.accountKey,
		LookupEnv:  lookupEnv,
		Logger:     log,
	}
	if cfg.Routing != nil {
		// Each account's credentials come from its own section; all are
		// checked before anything starts.
		cfg.Accounts = map[string]consumer.Account{}
		var errs []error
		// An account switch key belongs to one account: only the routing
		// file's apply.
		rbase := base
		rbase.AccountKey = ""
		for name, a := range cfg.Routing.Accounts {
			creds, err := edgegrid.Load(a.LoadOptions(rbase))
			if err != nil {
				errs = append(errs, fmt.Errorf("account %s: %w", name, err))
				continue
			}
			cfg.Accounts[name] = consumer.Account{Akamai: akamai.Config{Credentials: creds, BaseURL: o.akamaiURL}}
		}
		if err := errors.Join(errs...); err != nil {
			return cfg, cleanup, fmt.Errorf("--routing %s: %w", o.routing, err)
		}
		// The first account's, for the log line and --print-config.
		cfg.Akamai = cfg.Accounts[slices.Sorted(maps.Keys(cfg.Accounts))[0]].Akamai
		return cfg, cleanup, nil
	}
	creds, err := edgegrid.Load(base)
	if err != nil {
		return cfg, cleanup, fmt.Errorf("%w\n(to try purgebus without Akamai credentials, run with --sandbox)", err)
	}
	cfg.Akamai = akamai.Config{Credentials: creds, BaseURL: o.akamaiURL}
	return cfg, cleanup, nil
}

// checkNATS reports NATS flags that cannot work together, before
// anything starts.
func (o *options) checkNATS(cfg consumer.Config) error {
	var errs []error
	client := setFlags([]struct{ name, v string }{
		{"--nats-creds", o.natsCreds}, {"--nats-nkey", o.natsNKey}, {"--nats-user", o.natsUser},
		{"--nats-password", o.natsPassword}, {"--nats-token", o.natsToken}, {"--nats-tls-ca", o.natsTLSCA},
		{"--nats-tls-cert", o.natsTLSCert}, {"--nats-tls-key", o.natsTLSKey}, {"--nats-inbox-prefix", o.natsInbox},
		{"--nats-tls-server-name", o.natsTLSName},
		{"--nats-tls-first", boolFlag(o.natsTLSFirst)},
	})
	listen := setFlags([]struct{ name, v string }{
		{"--nats-listen-user", o.listenUser}, {"--nats-listen-password", o.listenPassword}, {"--nats-listen-token", o.listenToken},
	})
	if o.natsURL == "" {
		if len(client) > 0 {
			errs = append(errs, fmt.Errorf("%s %s only with --nats-url (an existing NATS server); "+
				"to require credentials of the embedded server's clients, use --nats-listen-user and --nats-listen-password, or --nats-listen-token",
				strings.Join(client, ", "), verb(client)))
		}
		if o.replicas > 1 {
			errs = append(errs, fmt.Errorf("--stream-replicas %d needs a NATS cluster (--nats-url): the embedded server is a single node", o.replicas))
		}
		if err := cfg.Embedded.Validate(); err != nil {
			hint := ""
			if len(listen) == 0 {
				hint = " (--nats-listen-user and --nats-listen-password, or --nats-listen-token)"
			}
			errs = append(errs, fmt.Errorf("--nats-listen %s: %w%s", o.natsListen, err, hint))
		}
	} else {
		if len(listen) > 0 {
			errs = append(errs, fmt.Errorf("%s %s only to the embedded server, not with --nats-url", strings.Join(listen, ", "), verb(listen)))
		}
		if err := cfg.NATS.Validate(); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// boolFlag is a set boolean flag's value for setFlags.
func boolFlag(on bool) string {
	if on {
		return "true"
	}
	return ""
}

// verb agrees "apply" with the number of flags.
func verb(flags []string) string {
	if len(flags) == 1 {
		return "applies"
	}
	return "apply"
}

// setFlags returns the names of the flags that have a value.
func setFlags(flags []struct{ name, v string }) []string {
	var names []string
	for _, f := range flags {
		if f.v != "" {
			names = append(names, f.name)
		}
	}
	return names
}

func startConsumer(ctx context.Context, cfg consumer.Config) (*consumer.Consumer, error) {
	return consumer.Start(ctx, cfg)
}

// printConfig writes the effective configuration with every secret
// redacted.
func printConfig(w io.Writer, o *options, cfg consumer.Config) error {
	view := map[string]any{
		"nats_url":             consumer.RedactURLs(o.natsURL),
		"nats_creds":           o.natsCreds,
		"nats_nkey":            o.natsNKey,
		"nats_user":            o.natsUser,
		"nats_password":        redacted(o.natsPassword),
		"nats_token":           redacted(o.natsToken),
		"nats_tls_ca":          o.natsTLSCA,
		"nats_tls_cert":        o.natsTLSCert,
		"nats_tls_key":         o.natsTLSKey,
		"nats_tls_first":       o.natsTLSFirst,
		"nats_tls_server_name": o.natsTLSName,
		"nats_inbox_prefix":    o.natsInbox,
		"nats_listen":          o.natsListen,
		"nats_listen_user":     o.listenUser,
		"nats_listen_password": redacted(o.listenPassword),
		"nats_listen_token":    redacted(o.listenToken),
		"provision":            o.natsURL == "" || o.provision,
		"stream_replicas":      cfg.Streams.Replicas,
		"result_max_age":       cfg.Streams.ResultMaxAge.String(),
		"deadletter_max_age":   cfg.Streams.DeadLetterMaxAge.String(),
		"result_max_bytes":     max(cfg.Streams.ResultMaxBytes, 0),
		"deadletter_max_bytes": cfg.Streams.DeadLetterMaxBytes,
		"result_duplicates":    cfg.Streams.Defaults().ResultDuplicates.String(),
		"ack_wait":             cfg.Streams.AckWait.String(),
		"max_deliver":          cfg.Streams.MaxDeliver,
		"stuck_after":          o.stuckAfter.String(),
		"memory_limit":         o.memoryLimitView(),
		"unpaced":              cfg.Unpaced,
		"batch_publish":        !cfg.NoBatchPublish,
		"data_dir":             o.dataDir,
		"sandbox":              o.sandbox,
		"akamai_url":           cfg.Akamai.BaseURL,
		"akamai":               cfg.Akamai.Credentials.String(),
		"stream":               cfg.Streams.ContentStream,
		"result_stream":        cfg.Streams.ResultStream,
		"deadletter_stream":    cfg.Streams.DeadLetterStream,
		"durable":              cfg.Streams.Durable,
		"in_flight":            cfg.Streams.MaxAckPending,
		"linger":               cfg.Coalescer.Linger.String(),
		"max_event_bytes":      cfg.Handler.MaxEventBytes,
		"max_attempts":         cfg.Coalescer.MaxAttempts,
		"requests_in_flight":   cfg.Coalescer.MaxInFlight,
		"log_format":           o.logFormat,
		"log_level":            o.logLevel,
		"edgerc":               o.edgerc,
		"section":              o.section,
		"account_key":          o.accountKey,
		"shutdown_timeout":     cfg.ShutdownTimeout.String(),
		"http_addr":            o.httpAddr,
		"pprof":                o.pprof,
		"routing":              o.routing,
		"shared_budget":        o.sharedBudget,
		"budget_account":       o.budgetAccount,
	}
	if len(cfg.Accounts) > 0 {
		accounts := map[string]string{}
		for name, a := range cfg.Accounts {
			accounts[name] = a.Akamai.Credentials.String()
		}
		view["accounts"] = accounts
	}
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(view)
}

// redacted shows whether a secret is set, never the secret.
func redacted(secret string) string {
	if secret == "" {
		return ""
	}
	return "[redacted]"
}

// baseConfig is the consumer's configuration from the options alone,
// before credentials or a routing file are read.
func (o *options) baseConfig(log *slog.Logger) consumer.Config {
	cfg := consumer.Config{NATSURL: o.natsURL,
		NATS: bus.ConnectConfig{
			CredsFile:     o.natsCreds,
			NKeyFile:      o.natsNKey,
			User:          o.natsUser,
			Password:      o.natsPassword,
			Token:         o.natsToken,
			TLSCA:         o.natsTLSCA,
			TLSCert:       o.natsTLSCert,
			TLSKey:        o.natsTLSKey,
			TLSFirst:      o.natsTLSFirst,
			TLSServerName: o.natsTLSName,
			InboxPrefix:   o.natsInbox,
		},
		Embedded: bus.EmbeddedConfig{
			Listen:   o.natsListen,
			DataDir:  o.dataDir,
			User:     o.listenUser,
			Password: o.listenPassword,
			Token:    o.listenToken,
		},
		Provision: o.provision,
		Streams: bus.StreamsConfig{
			ContentStream:      o.stream,
			ResultStream:       o.resultStream,
			DeadLetterStream:   o.deadStream,
			Durable:            o.durable,
			MaxAckPending:      o.inFlight,
			Replicas:           o.replicas,
			ResultMaxAge:       o.resultMaxAge,
			DeadLetterMaxAge:   o.deadMaxAge,
			ResultMaxBytes:     o.resultMaxBytes.n,
			DeadLetterMaxBytes: o.deadMaxBytes.n,
			ResultDuplicates:   o.resultDups.d,
			AckWait:            o.ackWait,
			MaxDeliver:         o.maxDeliver,
		},
		Coalescer: handler.CoalescerConfig{
			Linger:      o.linger,
			MaxAttempts: o.maxAttempts,
			MaxInFlight: o.requestInFlight,
		},
		Handler:         handler.Config{MaxEventBytes: o.maxEventBytes},
		ShutdownTimeout: o.shutdownTimeout,
		StuckAfter:      o.stuckAfter,
		Logger:          log,
		SharedBudget:    o.sharedBudget,
		BudgetAccount:   o.budgetAccount,
		Unpaced:         o.unpaced,
		NoBatchPublish:  !o.batchPublish,
	}
	if o.natsURL == "" {
		// The embedded server's memory is the consumer's.
		if o.resultMaxBytes.set && o.resultMaxBytes.n == 0 {
			cfg.Streams.ResultMaxBytes = -1 // no limit, as asked
		}
		cfg.Streams = cfg.Streams.EmbeddedDefaults()
	}
	return cfg
}
