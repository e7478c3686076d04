package main

import (
	"flag"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"time"
)

// options are the command line, after the environment filled in what the
// flags did not set.
type options struct {
	natsURL         string
	natsListen      string
	natsCreds       string
	dataDir         string
	edgerc          string
	section         string
	accountKey      string
	akamaiURL       string
	sandbox         bool
	stream          string
	resultStream    string
	deadStream      string
	durable         string
	inFlight        int
	linger          time.Duration
	maxEventBytes   int
	maxAttempts     int
	requestInFlight int
	shutdownTimeout time.Duration
	logFormat       string
	logLevel        string
	printConfig     bool
}

// envName is the environment variable of a flag: PURGEBUS_ and the flag's
// name in upper snake case, unless the flag follows an existing convention.
func envName(flagName string) string {
	switch flagName {
	case "nats-url":
		return "NATS_URL"
	case "nats-creds":
		return "NATS_CREDS"
	case "edgerc":
		return "AKAMAI_EDGERC"
	case "section":
		return "AKAMAI_EDGERC_SECTION"
	case "account-key":
		return "AKAMAI_ACCOUNT_KEY"
	}
	return "PURGEBUS_" + strings.ToUpper(strings.ReplaceAll(flagName, "-", "_"))
}

func parseFlags(args []string, lookupEnv func(string) (string, bool), stderr io.Writer) (*options, error) {
	o := &options{}
	fs := flag.NewFlagSet("consumer", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&o.natsURL, "nats-url", "", "connect to this NATS server or cluster (comma-separated URLs) instead of starting an embedded one")
	fs.StringVar(&o.natsListen, "nats-listen", "127.0.0.1:4222", "client address of the embedded NATS server (loopback by default)")
	fs.StringVar(&o.natsCreds, "nats-creds", "", "NATS credentials file for --nats-url")
	fs.StringVar(&o.dataDir, "data-dir", "purgebus-data", "JetStream store directory of the embedded NATS server")
	fs.StringVar(&o.edgerc, "edgerc", "", "Akamai .edgerc file (default ~/.edgerc)")
	fs.StringVar(&o.section, "section", "", "section of the .edgerc file (default ccu)")
	fs.StringVar(&o.accountKey, "account-key", "", "Akamai account switch key (accountSwitchKey)")
	fs.StringVar(&o.akamaiURL, "akamai-url", "", "Fast Purge base URL (default https://<host from the credentials>)")
	fs.BoolVar(&o.sandbox, "sandbox", false, "purge against an in-process fake Akamai instead of Akamai; no credentials needed")
	fs.StringVar(&o.stream, "stream", "CONTENT", "JetStream stream of content-changed events")
	fs.StringVar(&o.resultStream, "result-stream", "PURGE_RESULTS", "JetStream stream of purge results")
	fs.StringVar(&o.deadStream, "deadletter-stream", "PURGE_DEADLETTER", "JetStream stream of dead letters")
	fs.StringVar(&o.durable, "durable", "purgebus", "durable consumer name, shared by all replicas")
	fs.IntVar(&o.inFlight, "in-flight", 1000, "events in flight at once (the durable's MaxAckPending)")
	fs.DurationVar(&o.linger, "linger", 50*time.Millisecond, "how long a batch waits for more objects before it is sent")
	fs.IntVar(&o.maxEventBytes, "max-event-bytes", 256<<10, "largest event accepted; larger ones are dead-lettered")
	fs.IntVar(&o.maxAttempts, "max-attempts", 5, "tries of one purge request on transient errors before its events are redelivered later")
	fs.IntVar(&o.requestInFlight, "requests-in-flight", 4, "purge requests under way at once per (type, action, network)")
	fs.DurationVar(&o.shutdownTimeout, "shutdown-timeout", 20*time.Second, "how long SIGINT/SIGTERM waits for events in flight")
	fs.StringVar(&o.logFormat, "log-format", "text", "log format: text or json")
	fs.StringVar(&o.logLevel, "log-level", "info", "log level: debug, info, warn or error")
	fs.BoolVar(&o.printConfig, "print-config", false, "print the effective configuration (secrets redacted) and exit")
	fs.Usage = func() {
		fmt.Fprintf(stderr, "Usage: consumer [flags]\n\npurgebus consumer: content-changed events from NATS in, Akamai Fast Purge requests and result events out.\n\nFlags (each also read from the environment variable in brackets; a flag given on the command line wins):\n")
		fs.VisitAll(func(f *flag.Flag) {
			def := ""
			if f.DefValue != "" && f.DefValue != "false" {
				def = fmt.Sprintf(" (default %s)", f.DefValue)
			}
			fmt.Fprintf(stderr, "  --%s [%s]\n    \t%s%s\n", f.Name, envName(f.Name), f.Usage, def)
		})
		fmt.Fprintf(stderr, "\nAkamai credentials come from the .edgerc file and the AKAMAI_HOST, AKAMAI_CLIENT_TOKEN,\nAKAMAI_CLIENT_SECRET, AKAMAI_ACCESS_TOKEN (and AKAMAI_<SECTION>_…) variables; the environment wins.\n")
	}
	var envErr error
	fs.VisitAll(func(f *flag.Flag) {
		if v, ok := lookupEnv(envName(f.Name)); ok && v != "" {
			if err := f.Value.Set(v); err != nil && envErr == nil {
				envErr = fmt.Errorf("environment %s=%q: %w", envName(f.Name), v, err)
			}
		}
	})
	if envErr != nil {
		return nil, envErr
	}
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	if fs.NArg() > 0 {
		return nil, fmt.Errorf("unexpected arguments: %s", strings.Join(fs.Args(), " "))
	}
	return o, nil
}

func (o *options) logger(w io.Writer) (*slog.Logger, error) {
	var level slog.Level
	if err := level.UnmarshalText([]byte(o.logLevel)); err != nil {
		return nil, fmt.Errorf("--log-level: %w", err)
	}
	hopts := &slog.HandlerOptions{Level: level}
	switch o.logFormat {
	case "text":
		return slog.New(slog.NewTextHandler(w, hopts)), nil
	case "json":
		return slog.New(slog.NewJSONHandler(w, hopts)), nil
	}
	return nil, fmt.Errorf("--log-format must be text or json, not %q", o.logFormat)
}
