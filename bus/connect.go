package bus

import (
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/nats-io/nats.go"
)

// ConnectConfig says how to reach and authenticate to an existing NATS
// server or cluster. The consumer and the purge command share it, so both
// take the same flags and environment variables.
type ConnectConfig struct {
	// URL is a comma-separated list of server URLs; credentials may be
	// embedded as nats://user:password@host or nats://token@host.
	URL string
	// CredsFile is a JWT credentials file (.creds), as nsc writes it.
	CredsFile string
	// NKeyFile is a file holding an NKey seed (SU…).
	NKeyFile string
	// User and Password authenticate with a user name and password.
	User, Password string
	// Token authenticates with a token.
	Token string
	// TLSCA is a PEM file of CAs that verify the server; TLSCert and
	// TLSKey are the client certificate and key, for mutual TLS.
	TLSCA, TLSCert, TLSKey string
	// TLSServerName is the name the servers' certificates must carry,
	// when it is not the host of the URL: servers reached by IP address,
	// or through the addresses a cluster gossips to its clients, with
	// certificates issued for a DNS name. It implies TLS.
	TLSServerName string
	// TLSFirst makes the TLS handshake the first thing on the wire, for
	// servers configured with handshake_first (as behind TLS-terminating
	// proxies); otherwise the server's INFO comes first, in clear.
	TLSFirst bool
	// InboxPrefix replaces "_INBOX" as the first token of the
	// connection's reply subjects (JetStream acknowledgements and API
	// answers arrive there). A user allowed to subscribe only to its own
	// prefix cannot read the replies meant for other users.
	InboxPrefix string
	// Name is the connection name shown by the server's monitoring.
	Name string
	// Permissions, when set, is told about every permission violation
	// the server reports on the connection (see Permissions.Guard).
	Permissions *Permissions
	// Logger is told about disconnections and reconnections.
	Logger *slog.Logger
}

// Validate reports flags that cannot work together.
func (c ConnectConfig) Validate() error {
	var errs []error
	auth := 0
	for _, set := range []bool{c.CredsFile != "", c.NKeyFile != "", c.User != "" || c.Password != "", c.Token != ""} {
		if set {
			auth++
		}
	}
	if auth > 1 {
		errs = append(errs, errors.New("choose one of credentials file, NKey, user/password and token"))
	}
	if (c.User == "") != (c.Password == "") {
		errs = append(errs, errors.New("user and password go together (a token alone is a token, not a user)"))
	}
	if (c.TLSCert == "") != (c.TLSKey == "") {
		errs = append(errs, errors.New("TLS client certificate and key go together"))
	}
	if err := ValidateInboxPrefix(c.InboxPrefix); err != nil {
		errs = append(errs, err)
	}
	if len(errs) > 0 {
		return fmt.Errorf("bus: NATS connection: %w", errors.Join(errs...))
	}
	return nil
}

// Options returns the nats.go options for c: its authentication and TLS,
// and reconnection forever with jittered back-off, since a sidecar must
// outlive any NATS restart. Refused credentials do not end the
// reconnection either (nats.go gives up after the same authorization error
// twice otherwise): credentials rotated on the servers before the client's
// file is updated must not leave a consumer that never reconnects.
func (c ConnectConfig) Options() ([]nats.Option, error) {
	if err := c.Validate(); err != nil {
		return nil, err
	}
	log := c.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	name := c.Name
	if name == "" {
		name = "purgebus"
	}
	opts := []nats.Option{
		nats.Name(name),
		nats.MaxReconnects(-1),
		nats.ReconnectWait(time.Second),
		nats.ReconnectJitter(500*time.Millisecond, 2*time.Second),
		nats.RetryOnFailedConnect(false),
		nats.IgnoreAuthErrorAbort(),
		nats.DisconnectErrHandler(func(_ *nats.Conn, err error) {
			if err != nil {
				log.Warn("NATS disconnected", "conn", name, "err", err)
			}
		}),
		nats.ReconnectHandler(func(nc *nats.Conn) {
			log.Info("NATS reconnected", "conn", name, "server", nc.ConnectedServerName())
		}),
		nats.ErrorHandler(func(_ *nats.Conn, _ *nats.Subscription, err error) {
			var pe *PermissionError
			if c.Permissions != nil {
				pe = c.Permissions.Report(name, err)
			} else {
				pe, _ = ParsePermissionError(name, err)
			}
			if pe != nil {
				log.Error("NATS refused a request: the user lacks a permission", "conn", name, "op", pe.Op, "subject", pe.Subject)
				return
			}
			log.Warn("NATS error", "conn", name, "err", err)
		}),
	}
	if c.InboxPrefix != "" {
		opts = append(opts, nats.CustomInboxPrefix(c.InboxPrefix))
	}
	if c.TLSFirst {
		opts = append(opts, nats.TLSHandshakeFirst())
	}
	switch {
	case c.CredsFile != "":
		opts = append(opts, nats.UserCredentials(c.CredsFile))
	case c.NKeyFile != "":
		o, err := nats.NkeyOptionFromSeed(c.NKeyFile)
		if err != nil {
			return nil, fmt.Errorf("bus: NATS NKey seed %s: %w", c.NKeyFile, err)
		}
		opts = append(opts, o)
	case c.User != "":
		opts = append(opts, nats.UserInfo(c.User, c.Password))
	case c.Token != "":
		opts = append(opts, nats.Token(c.Token))
	}
	if c.TLSServerName != "" {
		// Before RootCAs and ClientCert, which add to this configuration
		// rather than replace it.
		opts = append(opts, nats.Secure(&tls.Config{MinVersion: tls.VersionTLS12, ServerName: c.TLSServerName}))
	}
	if c.TLSCA != "" {
		opts = append(opts, nats.RootCAs(c.TLSCA))
	}
	if c.TLSCert != "" {
		opts = append(opts, nats.ClientCert(c.TLSCert, c.TLSKey))
	}
	return opts, nil
}

// Connect connects to c.URL with c's options and any extra ones.
func (c ConnectConfig) Connect(extra ...nats.Option) (*nats.Conn, error) {
	opts, err := c.Options()
	if err != nil {
		return nil, err
	}
	url := strings.TrimSpace(c.URL)
	if url == "" {
		url = nats.DefaultURL
	}
	nc, err := nats.Connect(url, append(opts, extra...)...)
	if err != nil {
		return nil, fmt.Errorf("bus: connect to NATS %s %s: %w", RedactURLs(url), c.authDescription(), err)
	}
	return nc, nil
}

// authDescription says how c authenticates, without any secret, so that
// a refused connection names what was tried.
func (c ConnectConfig) authDescription() string {
	var s string
	switch {
	case c.CredsFile != "":
		s = "with credentials file " + c.CredsFile
	case c.NKeyFile != "":
		s = "with NKey seed file " + c.NKeyFile
	case c.User != "":
		s = fmt.Sprintf("as user %q", c.User)
	case c.Token != "":
		s = "with a token"
	default:
		s = "without credentials"
	}
	if c.TLSCert != "" {
		s += " and TLS client certificate " + c.TLSCert
	}
	if c.InboxPrefix != "" {
		s += " and inbox prefix " + c.InboxPrefix
	}
	return s
}

// String describes c with its secrets (password, token) redacted, so that
// c can be printed or logged.
func (c ConnectConfig) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "url=%s", RedactURLs(c.URL))
	for _, f := range []struct{ k, v string }{
		{"creds", c.CredsFile}, {"nkey", c.NKeyFile}, {"user", c.User},
		{"password", redact(c.Password)}, {"token", redact(c.Token)},
		{"tls_ca", c.TLSCA}, {"tls_cert", c.TLSCert}, {"tls_key", c.TLSKey}, {"tls_server_name", c.TLSServerName}, {"tls_first", tlsFirst(c.TLSFirst)},
		{"inbox_prefix", c.InboxPrefix}, {"name", c.Name},
	} {
		if f.v != "" {
			fmt.Fprintf(&b, " %s=%s", f.k, f.v)
		}
	}
	return b.String()
}

// GoString is String, so that %#v does not print the secrets either.
func (c ConnectConfig) GoString() string { return "bus.ConnectConfig{" + c.String() + "}" }

// LogValue logs c with its secrets redacted.
func (c ConnectConfig) LogValue() slog.Value { return slog.StringValue(c.String()) }

func tlsFirst(on bool) string {
	if on {
		return "true"
	}
	return ""
}

// ValidateInboxPrefix reports an inbox prefix that nats.go cannot use:
// one or more subject tokens, without wildcards or spaces. "" (the
// default, "_INBOX") is valid.
func ValidateInboxPrefix(prefix string) error {
	if prefix == "" {
		return nil
	}
	for tok := range strings.SplitSeq(prefix, ".") {
		if tok == "" || tok == "*" || tok == ">" || strings.ContainsAny(tok, " \t\r\n") {
			return fmt.Errorf("inbox prefix %q: want subject tokens such as _INBOX_cms, without wildcards, spaces or empty tokens", prefix)
		}
	}
	return nil
}

// redact returns "[redacted]" for a secret that is set, "" otherwise.
func redact(secret string) string {
	if secret == "" {
		return ""
	}
	return "[redacted]"
}

// RedactURLs hides the user information (user and password, or token) of
// each URL in a comma-separated NATS URL list, for logs: it is a
// credential.
func RedactURLs(list string) string {
	parts := strings.Split(list, ",")
	for i, p := range parts {
		at := strings.LastIndex(p, "@")
		if at < 0 {
			continue
		}
		start := 0
		if j := strings.Index(p, "://"); j >= 0 && j < at {
			start = j + len("://")
		}
		parts[i] = p[:start] + "[redacted]@" + p[at+1:]
	}
	return strings.Join(parts, ",")
}
