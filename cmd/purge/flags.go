package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/purgebus/purgebus/bus"
	"github.com/purgebus/purgebus/events"
)

// usageError is a command line that cannot work; it exits with status 2
// and a pointer to --help.
type usageError struct{ err error }

func (e *usageError) Error() string { return e.err.Error() }
func (e *usageError) Unwrap() error { return e.err }

func usagef(format string, args ...any) error {
	return &usageError{fmt.Errorf(format, args...)}
}

// errHelp reports that --help was asked for and the usage printed.
var errHelp = errors.New("help requested")

// envName is the environment variable of a flag: PURGEBUS_ and the flag's
// name in upper snake case, unless the flag follows an existing
// convention. It matches cmd/consumer's, so one environment configures
// both.
func envName(flagName string) string {
	switch flagName {
	case "nats-url":
		return "NATS_URL"
	case "nats-creds":
		return "NATS_CREDS"
	}
	return "PURGEBUS_" + strings.ToUpper(strings.ReplaceAll(flagName, "-", "_"))
}

// envNames are the environment variables of a flag, the first set one
// winning: envName, then the variable natscli reads for the same setting,
// as cmd/consumer does, so that an environment set up for the nats CLI
// works as it is.
func envNames(flagName string) []string {
	alias := ""
	switch flagName {
	case "nats-nkey":
		alias = "NATS_NKEY"
	case "nats-user":
		alias = "NATS_USER"
	case "nats-password":
		alias = "NATS_PASSWORD"
	case "nats-token":
		alias = "NATS_TOKEN"
	case "nats-tls-ca":
		alias = "NATS_CA"
	case "nats-tls-cert":
		alias = "NATS_CERT"
	case "nats-tls-key":
		alias = "NATS_KEY"
	}
	if alias == "" {
		return []string{envName(flagName)}
	}
	return []string{envName(flagName), alias}
}

// command is one subcommand's flag set and help text.
type command struct {
	name     string // "invalidate", "deadletters replay"
	synopsis string // after "Usage: purge "
	about    string
	fs       *flag.FlagSet
	// env holds the flags that are also read from the environment: those
	// that describe the deployment (where NATS is, who we are), not the
	// one invocation (--tag, --wait), so an exported variable cannot
	// silently change what a command does.
	env map[string]bool
	// checks refuse flag values that cannot work, after parsing.
	checks []func() error
}

// check adds a check of the flags' values to parse.
func (c *command) check(fn func() error) { c.checks = append(c.checks, fn) }

func newCommand(name, synopsis, about string) *command {
	fs := flag.NewFlagSet("purge "+name, flag.ContinueOnError)
	// The flag package's own messages and usage are replaced by ours,
	// which go to stdout for --help and name the environment variables.
	fs.SetOutput(io.Discard)
	fs.Usage = func() {}
	return &command{name: name, synopsis: synopsis, about: about, fs: fs, env: map[string]bool{}}
}

// fromEnv marks flags as also read from the environment.
func (c *command) fromEnv(names ...string) {
	for _, n := range names {
		c.env[n] = true
	}
}

// parse sets the flags from the environment, then from args, where flags
// and positional arguments may be mixed; it returns the positional
// arguments. A flag on the command line wins over the environment.
func (c *command) parse(args []string, lookupEnv func(string) (string, bool)) ([]string, error) {
	var envErr error
	c.fs.VisitAll(func(f *flag.Flag) {
		if !c.env[f.Name] || envErr != nil {
			return
		}
		for _, name := range envNames(f.Name) {
			v, ok := lookupEnv(name)
			if !ok || v == "" {
				continue
			}
			if err := f.Value.Set(v); err != nil {
				// The value is not echoed: the variable may hold a secret.
				envErr = usagef("environment variable %s: %w", name, err)
			}
			break
		}
	})
	if envErr != nil {
		return nil, envErr
	}
	pos, err := parseInterspersed(c.fs, args)
	if errors.Is(err, flag.ErrHelp) {
		return nil, errHelp
	}
	if err != nil {
		return nil, &usageError{err}
	}
	var errs []error
	c.fs.VisitAll(func(f *flag.Flag) {
		// A pasted line end, or a file's trailing newline: no name, ID,
		// path or secret holds one. The value is not echoed.
		if strings.ContainsFunc(f.Value.String(), func(r rune) bool { return r < 0x20 || r == 0x7f }) {
			errs = append(errs, fmt.Errorf("--%s contains a control character (a pasted line end?)", f.Name))
		}
	})
	for _, check := range c.checks {
		if err := check(); err != nil {
			errs = append(errs, err)
		}
	}
	if len(errs) > 0 {
		return nil, &usageError{errors.Join(errs...)}
	}
	return pos, nil
}

// parseInterspersed parses fs's flags anywhere in args, so that both
// "purge invalidate --tag a b" and "purge invalidate a b --wait" work;
// the flag package alone stops at the first positional argument. "--"
// ends the flags: everything after it is positional, even "-x".
func parseInterspersed(fs *flag.FlagSet, args []string) ([]string, error) {
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			return nil, err
		}
		rest := fs.Args()
		if len(rest) == 0 {
			return pos, nil
		}
		if used := len(args) - len(rest); used > 0 && args[used-1] == "--" {
			return append(pos, rest...), nil
		}
		pos = append(pos, rest[0])
		args = rest[1:]
	}
}

// printUsage writes the subcommand's help: synopsis, description and every
// flag with its environment variable, the connection flags last as they
// are the same everywhere.
func (c *command) printUsage(w io.Writer) {
	fmt.Fprintf(w, "Usage: purge %s\n\n%s\n", c.synopsis, c.about)
	var own, conn []*flag.Flag
	c.fs.VisitAll(func(f *flag.Flag) {
		if strings.HasPrefix(f.Name, "nats-") {
			conn = append(conn, f)
		} else {
			own = append(own, f)
		}
	})
	if len(own) > 0 {
		fmt.Fprintf(w, "\nFlags ([VARIABLE]: also read from that environment variable; the command line wins):\n")
		c.printFlags(w, own)
	}
	if len(conn) > 0 {
		fmt.Fprintf(w, "\nNATS connection (as cmd/consumer's):\n")
		c.printFlags(w, conn)
	}
}

func (c *command) printFlags(w io.Writer, flags []*flag.Flag) {
	for _, f := range flags {
		typ, usage := flag.UnquoteUsage(f)
		line := "  --" + f.Name
		if typ != "" {
			line += " " + typ
		}
		if c.env[f.Name] {
			line += " [" + strings.Join(envNames(f.Name), ", ") + "]"
		}
		if f.DefValue != "" && f.DefValue != "false" && f.DefValue != "0" && f.DefValue != "0s" {
			usage += " (default " + f.DefValue + ")"
		}
		fmt.Fprintf(w, "%s\n      %s\n", line, usage)
	}
}

// connFlags are the NATS connection flags of every subcommand, mirroring
// bus.ConnectConfig and cmd/consumer.
type connFlags struct {
	url, creds, nkey, user, password, token, tlsCA, tlsCert, tlsKey string
	inboxPrefix, tlsServerName                                      string
	tlsFirst                                                        bool
}

func (c *connFlags) register(cmd *command) {
	fs := cmd.fs
	fs.StringVar(&c.url, "nats-url", "", "NATS server or cluster, comma-separated URLs; credentials may be embedded (default "+defaultNATSURL+")")
	fs.StringVar(&c.creds, "nats-creds", "", "NATS JWT credentials `file` (.creds)")
	fs.StringVar(&c.nkey, "nats-nkey", "", "`file` holding a NATS NKey seed")
	fs.StringVar(&c.user, "nats-user", "", "NATS user name (with --nats-password)")
	fs.StringVar(&c.password, "nats-password", "", "NATS password; prefer the environment variable, command lines are visible to other users")
	fs.StringVar(&c.token, "nats-token", "", "NATS token; prefer the environment variable")
	fs.StringVar(&c.tlsCA, "nats-tls-ca", "", "PEM `file` of CAs that verify the NATS server")
	fs.StringVar(&c.tlsCert, "nats-tls-cert", "", "TLS client certificate `file`, for mutual TLS (with --nats-tls-key)")
	fs.StringVar(&c.tlsKey, "nats-tls-key", "", "TLS client key `file`")
	fs.BoolVar(&c.tlsFirst, "nats-tls-first", false, "start with the TLS handshake, for servers with handshake_first")
	fs.StringVar(&c.tlsServerName, "nats-tls-server-name", "", "`name` the server certificates must carry when it is not the URL's host")
	fs.StringVar(&c.inboxPrefix, "nats-inbox-prefix", "", "reply subject `prefix` instead of _INBOX, for users allowed to subscribe to their own inbox prefix only")
	cmd.fromEnv("nats-url", "nats-creds", "nats-nkey", "nats-user", "nats-password", "nats-token", "nats-tls-ca", "nats-tls-cert", "nats-tls-key",
		"nats-tls-first", "nats-tls-server-name", "nats-inbox-prefix")
}

// defaultNATSURL is where the consumer's embedded NATS listens by default.
const defaultNATSURL = "nats://127.0.0.1:4222"

func (c *connFlags) config() bus.ConnectConfig {
	url := c.url
	if strings.TrimSpace(url) == "" {
		url = defaultNATSURL
	}
	return bus.ConnectConfig{
		URL:           url,
		CredsFile:     c.creds,
		NKeyFile:      c.nkey,
		User:          c.user,
		Password:      c.password,
		Token:         c.token,
		TLSCA:         c.tlsCA,
		TLSCert:       c.tlsCert,
		TLSKey:        c.tlsKey,
		TLSFirst:      c.tlsFirst,
		TLSServerName: c.tlsServerName,
		InboxPrefix:   c.inboxPrefix,
		Name:          "purgebus-cli",
	}
}

// timeoutFlag registers --timeout with its default; 0 leaves *p 0, the
// command's own default.
func timeoutFlag(cmd *command, p *time.Duration, def time.Duration, usage string) {
	*p = def
	cmd.fs.Var((*timeoutValue)(p), "timeout", usage)
	cmd.fromEnv("timeout")
}

// timeoutValue is a --timeout: a positive duration. Zero or less would
// wait for ever, and a command that waits for ever never says it failed.
type timeoutValue time.Duration

func (t *timeoutValue) String() string {
	if t == nil || *t == 0 {
		return ""
	}
	return time.Duration(*t).String()
}

func (t *timeoutValue) Set(s string) error {
	d, err := time.ParseDuration(s)
	if err != nil {
		return errors.New("not a duration such as 30s or 5m")
	}
	if d <= 0 {
		return fmt.Errorf("must be positive, not %v: a command without a deadline would wait for ever (interrupt --follow with Ctrl-C instead)", d)
	}
	*t = timeoutValue(d)
	return nil
}

// sinceFlag is --since: a duration back from now ("1h", "7d") or an
// RFC 3339 time.
type sinceFlag struct {
	now func() time.Time
	t   time.Time
	raw string
}

func (s *sinceFlag) String() string { return s.raw }

func (s *sinceFlag) Set(v string) error {
	v = strings.TrimSpace(v)
	if t, err := time.Parse(time.RFC3339Nano, v); err == nil {
		s.t, s.raw = t, v
		return nil
	}
	var d time.Duration
	if days, ok := strings.CutSuffix(v, "d"); ok {
		n, err := strconv.ParseUint(days, 10, 16)
		if err != nil {
			return fmt.Errorf("%q is neither a duration (90s, 1h, 7d) nor an RFC 3339 time", v)
		}
		d = time.Duration(n) * 24 * time.Hour
	} else {
		var err error
		if d, err = time.ParseDuration(v); err != nil || d < 0 {
			return fmt.Errorf("%q is neither a duration (90s, 1h, 7d) nor an RFC 3339 time", v)
		}
	}
	s.t, s.raw = s.now().Add(-d), v
	return nil
}

// resultStreamFlag and deadLetterStreamFlag register the stream names,
// with cmd/consumer's flag names and variables.
func resultStreamFlag(cmd *command, p *string) {
	streamFlag(cmd, p, "result-stream", events.DefaultResultStream, "JetStream stream of purge results")
}

func deadLetterStreamFlag(cmd *command, p *string) {
	streamFlag(cmd, p, "deadletter-stream", events.DefaultDeadLetterStream, "JetStream stream of dead letters")
}

func streamFlag(cmd *command, p *string, name, def, usage string) {
	cmd.fs.StringVar(p, name, def, usage)
	cmd.fromEnv(name)
	cmd.check(func() error {
		if *p == "" || strings.ContainsAny(*p, " \t.*>/\\") {
			return fmt.Errorf("--%s %q is not a stream name (not empty; no whitespace, '.', '*', '>', '/' or '\\')", name, *p)
		}
		return nil
	})
}

// defaultSource names the publisher in results: the user and host, so an
// operator can tell who purged what.
func defaultSource(lookupEnv func(string) (string, bool)) string {
	user, ok := lookupEnv("USER")
	if !ok || user == "" {
		user, _ = lookupEnv("USERNAME")
	}
	host, _ := os.Hostname()
	if user == "" || host == "" {
		return "purge-cli"
	}
	return "purge-cli:" + user + "@" + host
}
