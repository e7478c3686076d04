package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"strconv"
	"strings"
	"time"

	"github.com/purgebus/purgebus/bus"
)

// secretFlags are the flags whose values are never printed or logged.
var secretFlags = map[string]bool{"nats-password": true, "nats-token": true, "nats-listen-password": true, "nats-listen-token": true}

// options are the command line, after the environment filled in what the
// flags did not set.
type options struct {
	natsURL         string
	natsListen      string
	natsCreds       string
	natsNKey        string
	natsUser        string
	natsPassword    string
	natsToken       string
	natsTLSCA       string
	natsTLSCert     string
	natsTLSKey      string
	natsTLSFirst    bool
	natsTLSName     string
	natsInbox       string
	listenUser      string
	listenPassword  string
	listenToken     string
	provision       bool
	replicas        int
	resultMaxAge    time.Duration
	deadMaxAge      time.Duration
	resultMaxBytes  byteSize // unset: a default for the embedded server
	deadMaxBytes    byteSize
	resultDups      autoDuration // unset: by the kind of server
	ackWait         time.Duration
	maxDeliver      int
	stuckAfter      time.Duration
	memoryLimitFlag byteSize
	gomemlimit      string // the GOMEMLIMIT variable, read with the others
	unpaced         bool
	batchPublish    bool
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
	httpAddr        string
	pprof           bool
	routing         string
	sharedBudget    bool
	budgetAccount   string

	// fs is the flag set that filled the options; validate checks every
	// flag of it.
	fs *flag.FlagSet
	// fromEnv maps the flags that an environment variable set (and the
	// command line did not) to that variable, so that an error names it.
	fromEnv map[string]string
	// warnings are what validate let pass but the log should say, once.
	warnings []string
}

// envNames are the environment variables of a flag, the first winning:
// envName, then the name natscli reads for the same setting, if any, so
// that an environment set up for the nats CLI works as it is.
func envNames(flagName string) []string {
	if alias, ok := natscliEnv[flagName]; ok {
		return []string{envName(flagName), alias}
	}
	return []string{envName(flagName)}
}

// natscliEnv are natscli's environment variables (nats --help) for flags
// whose own variable is envName's PURGEBUS_ one.
var natscliEnv = map[string]string{
	"nats-nkey":     "NATS_NKEY",
	"nats-user":     "NATS_USER",
	"nats-password": "NATS_PASSWORD",
	"nats-token":    "NATS_TOKEN",
	"nats-tls-ca":   "NATS_CA",
	"nats-tls-cert": "NATS_CERT",
	"nats-tls-key":  "NATS_KEY",
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

// parseFlags reads the environment, then the command line, and
// validates the result: the error names every problem at once.
func parseFlags(args []string, lookupEnv func(string) (string, bool), stderr io.Writer) (*options, error) {
	o := newOptions(stderr)
	fs := o.fs
	var errs []error
	fs.VisitAll(func(f *flag.Flag) {
		for _, name := range envNames(f.Name) {
			v, ok := lookupEnv(name)
			if !ok || v == "" {
				continue
			}
			if err := f.Value.Set(v); err != nil {
				shown := strconv.Quote(v)
				if secretFlags[f.Name] {
					shown = "[redacted]"
				}
				errs = append(errs, fmt.Errorf("environment variable %s=%s (--%s): %s", name, shown, f.Name, setErrorReason(f, err)))
			}
			o.fromEnv[f.Name] = name
			break
		}
	})
	o.gomemlimit, _ = lookupEnv("GOMEMLIMIT")
	if err := fs.Parse(args); err != nil {
		return nil, errors.Join(append(errs, explainParseError(fs, err))...)
	}
	if fs.NArg() > 0 {
		return nil, errors.Join(append(errs, fmt.Errorf("unexpected arguments: %s", strings.Join(fs.Args(), " ")))...)
	}
	// The command line wins, and is what an error then names.
	fs.Visit(func(f *flag.Flag) { delete(o.fromEnv, f.Name) })
	if len(errs) > 0 {
		// A value that did not parse is not validated further.
		return nil, errors.Join(errs...)
	}
	if err := o.validate(); err != nil {
		return nil, err
	}
	return o, nil
}

// newOptions registers every flag of the consumer, with its default, on
// a new flag set.
func newOptions(stderr io.Writer) *options {
	o := &options{fromEnv: map[string]string{}}
	fs := flag.NewFlagSet("consumer", flag.ContinueOnError)
	o.fs = fs
	fs.SetOutput(stderr)
	fs.StringVar(&o.natsURL, "nats-url", "", "connect to this NATS server or cluster (comma-separated URLs) instead of starting an embedded one; its streams must exist unless --provision")
	fs.StringVar(&o.natsListen, "nats-listen", "127.0.0.1:4222", "client address of the embedded NATS server (loopback by default)")
	fs.StringVar(&o.natsCreds, "nats-creds", "", "NATS credentials file (.creds) for --nats-url")
	fs.StringVar(&o.natsNKey, "nats-nkey", "", "file holding the NKey seed (SU…) to authenticate to --nats-url with")
	fs.StringVar(&o.natsUser, "nats-user", "", "user name for --nats-url (with --nats-password)")
	fs.StringVar(&o.natsPassword, "nats-password", "", "password for --nats-url; prefer the environment to the command line, which other users can see")
	fs.StringVar(&o.natsToken, "nats-token", "", "token for --nats-url; prefer the environment to the command line")
	fs.StringVar(&o.natsTLSCA, "nats-tls-ca", "", "PEM file of the CAs that verify --nats-url's servers (implies TLS)")
	fs.StringVar(&o.natsTLSCert, "nats-tls-cert", "", "PEM client certificate for mutual TLS with --nats-url (with --nats-tls-key)")
	fs.StringVar(&o.natsTLSKey, "nats-tls-key", "", "PEM private key of --nats-tls-cert")
	fs.StringVar(&o.natsTLSName, "nats-tls-server-name", "", "name that --nats-url's server certificates must carry when it is not the URL's host (servers reached by IP address, or at the addresses a cluster gossips); implies TLS")
	fs.BoolVar(&o.natsTLSFirst, "nats-tls-first", false, "start the connection to --nats-url with the TLS handshake, for servers with handshake_first (implies TLS)")
	fs.StringVar(&o.natsInbox, "nats-inbox-prefix", "", "prefix of the reply subjects on --nats-url instead of _INBOX, for users allowed to subscribe to their own inbox prefix only (see docs/nats-permissions.md)")
	fs.StringVar(&o.listenUser, "nats-listen-user", "", "user name the embedded NATS server requires (with --nats-listen-password); required, or a token, unless --nats-listen is loopback")
	fs.StringVar(&o.listenPassword, "nats-listen-password", "", "password the embedded NATS server requires of --nats-listen-user")
	fs.StringVar(&o.listenToken, "nats-listen-token", "", "token the embedded NATS server requires, instead of a user and password")
	fs.BoolVar(&o.provision, "provision", false, "create or update the streams and the durable consumer on --nats-url at start; without it they must exist (always on for the embedded server)")
	fs.IntVar(&o.replicas, "stream-replicas", 1, "copies of each stream, with --provision; more than 1 needs a NATS cluster")
	fs.DurationVar(&o.resultMaxAge, "result-max-age", 7*24*time.Hour, "how long the result stream keeps results, with --provision")
	fs.DurationVar(&o.deadMaxAge, "deadletter-max-age", 30*24*time.Hour, "how long the dead-letter stream keeps dead letters, with --provision")
	o.resultMaxBytes.auto = true
	fs.Var(&o.resultMaxBytes, "result-max-bytes", "largest size of the result stream (bytes, or with a unit: 16MiB), oldest results dropped first whatever their age; 0 means no limit but --result-max-age. "+
		"Default 8MiB for the embedded server, whose memory grows with the results it keeps (some 200 bytes each); no limit with --nats-url (with --provision)")
	fs.Var(&o.deadMaxBytes, "deadletter-max-bytes", "largest size of the dead-letter stream (bytes, or with a unit: 1GiB), with --provision; 0 means no limit")
	fs.Var(&o.resultDups, "result-duplicates", "window in which a result or dead letter published again for one delivery of an event (a redelivery) is stored once; nats-server holds each result's ID in memory that long. "+
		"Default 5s for the embedded server (quick redeliveries: after a nak, overlapping deliveries), 2m with --nats-url (with --provision), which also covers redeliveries after --ack-wait")
	fs.DurationVar(&o.ackWait, "ack-wait", defaultAckWait, "how long JetStream waits for an event's ack before redelivering it; the consumer extends it while it works on the event (the durable's AckWait, set when provisioning; otherwise the existing durable's applies); at least "+minAckWait.String()+", above one purge request's timeout")
	fs.IntVar(&o.maxDeliver, "max-deliver", bus.DefaultMaxDeliver, "deliveries of one event before it is given up: its last delivery ends with a dead letter and a failed result, whatever happens (the durable's MaxDeliver, set when provisioning; transient failures are redelivered with back-off up to 2 minutes, so the default outlasts about 33 hours of Akamai trouble)")
	fs.DurationVar(&o.stuckAfter, "stuck-after", bus.DefaultStuckAfter, "an event unacknowledged for longer than this is logged with its ID and fails /readyz's events check (purgebus_oldest_unacked_event_age_seconds shows the age)")
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
	fs.IntVar(&o.inFlight, "in-flight", 1000, "events in flight at once (the durable's MaxAckPending, set when provisioning; otherwise the existing durable's applies)")
	fs.DurationVar(&o.linger, "linger", 50*time.Millisecond, "how long a batch waits for more objects before it is sent")
	fs.IntVar(&o.maxEventBytes, "max-event-bytes", 256<<10, "largest event accepted; larger ones are dead-lettered")
	fs.IntVar(&o.maxAttempts, "max-attempts", 5, "tries of one purge request on transient errors before its events are redelivered later")
	fs.IntVar(&o.requestInFlight, "requests-in-flight", 4, "purge requests under way at once per (type, action, network)")
	fs.DurationVar(&o.shutdownTimeout, "shutdown-timeout", 20*time.Second, "how long SIGINT/SIGTERM waits for events in flight")
	fs.StringVar(&o.logFormat, "log-format", "text", "log format: text or json")
	fs.StringVar(&o.logLevel, "log-level", "info", "log level: debug, info, warn or error")
	fs.BoolVar(&o.printConfig, "print-config", false, "print the effective configuration (secrets redacted) and exit")
	o.memoryLimitFlag.n = defaultMemoryLimit
	fs.Var(&o.memoryLimitFlag, "memory-limit", "soft limit of the process's Go memory (embedded NATS included), like GOMEMLIMIT, which applies instead when set and this is not: the garbage collector works harder as memory nears it; 0 turns it off")
	fs.BoolVar(&o.unpaced, "unpaced", false, "send requests as fast as --requests-in-flight allows, ignoring Akamai's rate limits; only for fakes without rate limits and for measuring")
	fs.BoolVar(&o.batchPublish, "batch-publish", true, "store results in flow-acked fast batches where the server and the result stream allow them (checked at start; --provision allows them on nats-server 2.14+), else one by one; false publishes them one by one")
	fs.StringVar(&o.httpAddr, "http-addr", "127.0.0.1:9464", "address of /metrics (Prometheus), /healthz and /readyz; empty turns them off")
	fs.BoolVar(&o.pprof, "pprof", false, "also serve net/http/pprof under /debug/pprof/ on --http-addr")
	fs.StringVar(&o.routing, "routing", "", "YAML file routing hostnames, tags and CP codes to Akamai accounts (.edgerc sections), with allow-lists and quotas (see README)")
	fs.BoolVar(&o.sharedBudget, "shared-budget", false, "share each Akamai account's rate-limit budget with every replica through a JetStream key-value bucket")
	fs.StringVar(&o.budgetAccount, "budget-account", "", "name of the account in the shared budget; replicas of one account must agree (default: the account switch key, else \"default\")")
	fs.Usage = func() {
		fmt.Fprintf(stderr, "Usage: consumer [flags]\n\npurgebus consumer: content-changed events from NATS in, Akamai Fast Purge requests and result events out.\n\nFlags (each also read from the environment variable in brackets; a flag given on the command line wins):\n")
		fs.VisitAll(func(f *flag.Flag) {
			def := ""
			if f.DefValue != "" && f.DefValue != "false" {
				def = fmt.Sprintf(" (default %s)", f.DefValue)
			}
			fmt.Fprintf(stderr, "  --%s [%s]\n    \t%s%s\n", f.Name, strings.Join(envNames(f.Name), ", "), f.Usage, def)
		})
		fmt.Fprintf(stderr, "\nAkamai credentials come from the .edgerc file and the AKAMAI_HOST, AKAMAI_CLIENT_TOKEN,\nAKAMAI_CLIENT_SECRET, AKAMAI_ACCESS_TOKEN (and AKAMAI_<SECTION>_…) variables; the environment wins.\n\nconsumer --version prints the version and commit.\n")
	}
	return o
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
