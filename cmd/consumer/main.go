// Command consumer is purgebus's sidecar: it turns content-changed events
// from NATS JetStream into Akamai Fast Purge requests and publishes a
// result for every event.
//
// With no flags it starts an embedded nats-server on 127.0.0.1:4222 with
// its JetStream store under ./purgebus-data; --nats-url connects to an
// existing NATS server or cluster instead. --sandbox purges against an
// in-process fake Akamai, for trying purgebus without an Akamai account.
// Every flag can also be set with the environment variable that --help
// names.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/purgebus/purgebus/bus"
	"github.com/purgebus/purgebus/health"
	"github.com/purgebus/purgebus/internal/version"
	"github.com/purgebus/purgebus/metrics"
)

func main() {
	if versionRequested(os.Args[1:]) {
		fmt.Println(version.String("consumer"))
		return
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], os.LookupEnv, os.Stderr); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			os.Exit(0)
		}
		fmt.Fprintln(os.Stderr, "purgebus consumer:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, args []string, lookupEnv func(string) (string, bool), stderr io.Writer) error {
	opts, err := parseFlags(args, lookupEnv, stderr)
	if err != nil {
		return err
	}
	log, err := opts.logger(stderr)
	if err != nil {
		return err
	}
	for _, w := range opts.warnings {
		log.Warn(w)
	}
	cfg, cleanup, err := opts.config(log, lookupEnv, stderr)
	if err != nil {
		return err
	}
	defer cleanup()
	if opts.printConfig {
		return printConfig(stderr, opts, cfg)
	}
	opts.applyMemoryLimit()
	log.Info("soft memory limit", "limit", opts.memoryLimitView())
	if cfg.Unpaced {
		log.Warn("unpaced: purge requests ignore Akamai's rate limits (--unpaced is for fakes and measuring)")
	}
	reg := metrics.NewRegistry()
	cfg.Metrics = metrics.New(reg)
	c, err := startConsumer(ctx, cfg)
	if err != nil {
		return err
	}
	if opts.httpAddr != "" {
		srv, err := health.Start(ctx, health.Config{Addr: opts.httpAddr, Gatherer: reg, Checks: c.Checks(), Pprof: opts.pprof, Logger: log})
		if err != nil {
			_ = c.Close()
			return fmt.Errorf("--http-addr: %w", err)
		}
		log.Info("serving /metrics, /healthz and /readyz", "addr", srv.Addr(), "pprof", opts.pprof)
		defer func() {
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			_ = srv.Close(ctx)
		}()
	}
	select {
	case <-ctx.Done():
		log.Info("shutting down: draining events in flight", "timeout", cfg.ShutdownTimeout)
	case err := <-c.Err():
		if errors.Is(err, bus.ErrPermission) {
			// Unfinished events stay in JetStream for a consumer with
			// the permission.
			_ = c.Close()
			return err
		}
		log.Error("router stopped", "err", err)
	}
	if err := c.Close(); err != nil {
		log.Warn("shutdown incomplete; unfinished events will be redelivered", "err", err)
	}
	log.Info("stopped")
	return nil
}

// versionRequested reports whether the command line asks for --version
// (or -version) before any "--". It is no flag of the flag set, so that
// no environment variable can turn a start into a version print.
func versionRequested(args []string) bool {
	for _, a := range args {
		switch a {
		case "--":
			return false
		case "--version", "-version":
			return true
		}
	}
	return false
}
