package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"strings"

	"github.com/purgebus/purgebus/akamai"
	"github.com/purgebus/purgebus/akamai/akamaitest"
	"github.com/purgebus/purgebus/akamai/edgegrid"
	"github.com/purgebus/purgebus/bus"
	"github.com/purgebus/purgebus/consumer"
	"github.com/purgebus/purgebus/handler"
)

// config turns the options into the consumer's configuration. It loads
// and checks the Akamai credentials first, so a misconfigured start
// touches neither the NATS port nor the data directory. In sandbox mode it
// starts the fake Akamai; cleanup stops it.
func (o *options) config(log *slog.Logger, lookupEnv func(string) (string, bool), stderr io.Writer) (consumer.Config, func(), error) {
	cleanup := func() {}
	cfg := consumer.Config{
		NATSURL: o.natsURL,
		NATS:    bus.ConnectConfig{CredsFile: o.natsCreds},
		Embedded: bus.EmbeddedConfig{
			Listen:  o.natsListen,
			DataDir: o.dataDir,
		},
		Streams: bus.StreamsConfig{
			ContentStream:    o.stream,
			ResultStream:     o.resultStream,
			DeadLetterStream: o.deadStream,
			Durable:          o.durable,
			MaxAckPending:    o.inFlight,
		},
		Coalescer: handler.CoalescerConfig{
			Linger:      o.linger,
			MaxAttempts: o.maxAttempts,
			MaxInFlight: o.requestInFlight,
		},
		Handler:         handler.Config{MaxEventBytes: o.maxEventBytes},
		ShutdownTimeout: o.shutdownTimeout,
		Logger:          log,
	}
	if o.sandbox {
		srv := akamaitest.NewServer(akamaitest.Options{MaxRecords: 10000})
		cleanup = srv.Close
		cfg.Akamai = akamai.Config{Credentials: srv.Credentials(), BaseURL: srv.URL()}
		fmt.Fprintf(stderr, "%s\n  SANDBOX MODE: purges go to an in-process fake Akamai at %s,\n  not to Akamai. Results are real events; nothing is purged on any CDN.\n%s\n",
			strings.Repeat("*", 78), srv.URL(), strings.Repeat("*", 78))
		log.Warn("sandbox mode: purging against a fake Akamai", "url", srv.URL())
		return cfg, cleanup, nil
	}
	creds, err := edgegrid.Load(edgegrid.LoadOptions{
		Path:       o.edgerc,
		Section:    o.section,
		AccountKey: o.accountKey,
		LookupEnv:  lookupEnv,
		Logger:     log,
	})
	if err != nil {
		return cfg, cleanup, fmt.Errorf("%w\n(to try purgebus without Akamai credentials, run with --sandbox)", err)
	}
	cfg.Akamai = akamai.Config{Credentials: creds, BaseURL: o.akamaiURL}
	return cfg, cleanup, nil
}

func startConsumer(ctx context.Context, cfg consumer.Config) (*consumer.Consumer, error) {
	return consumer.Start(ctx, cfg)
}

// printConfig writes the effective configuration with every secret
// redacted.
func printConfig(w io.Writer, o *options, cfg consumer.Config) error {
	view := map[string]any{
		"nats_url":          consumer.RedactURLs(o.natsURL),
		"nats_listen":       o.natsListen,
		"data_dir":          o.dataDir,
		"sandbox":           o.sandbox,
		"akamai_url":        cfg.Akamai.BaseURL,
		"akamai":            cfg.Akamai.Credentials.String(),
		"stream":            cfg.Streams.ContentStream,
		"result_stream":     cfg.Streams.ResultStream,
		"deadletter_stream": cfg.Streams.DeadLetterStream,
		"durable":           cfg.Streams.Durable,
		"in_flight":         cfg.Streams.MaxAckPending,
		"linger":            o.linger.String(),
		"max_event_bytes":   o.maxEventBytes,
		"shutdown_timeout":  o.shutdownTimeout.String(),
	}
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(view)
}
