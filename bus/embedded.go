package bus

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/nats-io/nats-server/v2/server"
)

// EmbeddedConfig configures an in-process nats-server with JetStream.
type EmbeddedConfig struct {
	// Listen is the client address, loopback by default so that only
	// this machine can publish ("127.0.0.1:4222" when empty; port 0 picks
	// a free port).
	Listen string
	// DataDir holds the JetStream file store. Empty means a temporary
	// directory removed at Shutdown, which is meant for tests.
	DataDir string
	// User and Password, or Token, are required of every client. A
	// Listen address that is not loopback requires one of them: an open
	// NATS on the network would let anyone purge the CDN. Bcrypt hashes
	// are refused: the consumer's own connections use the secret itself.
	User, Password string
	Token          string
	Logger         *slog.Logger
}

// Validate reports a configuration StartEmbedded refuses, without
// touching the port or the data directory.
func (c EmbeddedConfig) Validate() error {
	listen := c.Listen
	if listen == "" {
		listen = DefaultEmbeddedListen
	}
	host, portStr, err := net.SplitHostPort(listen)
	if err != nil {
		return fmt.Errorf("bus: embedded listen address %q: %w", listen, err)
	}
	if _, err := strconv.ParseUint(portStr, 10, 16); err != nil {
		return fmt.Errorf("bus: embedded listen port %q: want a number from 0 to 65535", portStr)
	}
	var errs []error
	if (c.User == "") != (c.Password == "") {
		errs = append(errs, errors.New("user and password go together"))
	}
	if c.User != "" && c.Token != "" {
		errs = append(errs, errors.New("choose a user and password or a token, not both"))
	}
	for _, s := range []struct{ what, secret string }{{"password", c.Password}, {"token", c.Token}} {
		if looksBcrypt(s.secret) {
			errs = append(errs, fmt.Errorf("the %s looks like a bcrypt hash; give the secret itself: the consumer connects with it", s.what))
		}
	}
	if c.User == "" && c.Token == "" && !IsLoopback(host) {
		errs = append(errs, fmt.Errorf("listening on %s, which other machines can reach, needs authentication: "+
			"set a user and password or a token for the embedded server, or listen on loopback (127.0.0.1)", listen))
	}
	if len(errs) > 0 {
		return fmt.Errorf("bus: embedded nats-server: %w", errors.Join(errs...))
	}
	return nil
}

// DefaultEmbeddedListen is the embedded server's client address when
// EmbeddedConfig.Listen is empty.
const DefaultEmbeddedListen = "127.0.0.1:4222"

// IsLoopback reports whether a listen host reaches this machine only:
// "localhost" or a loopback IP. The empty host (":4222") and the
// unspecified addresses (0.0.0.0, ::) listen on every interface; any other
// host name counts as reachable, whatever it resolves to today.
func IsLoopback(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	host, _, _ = strings.Cut(host, "%") // IPv6 zone
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// looksBcrypt reports whether nats-server would take secret for a bcrypt
// hash and compare clients' secrets against it.
func looksBcrypt(secret string) bool {
	for _, p := range []string{"$2a$", "$2b$", "$2x$", "$2y$"} {
		if strings.HasPrefix(secret, p) {
			return true
		}
	}
	return false
}

// Embedded is a running in-process nats-server.
type Embedded struct {
	srv                   *server.Server
	tmp                   string
	user, password, token string
}

// StartEmbedded starts a nats-server with JetStream in this process and
// waits until it accepts connections.
func StartEmbedded(cfg EmbeddedConfig) (*Embedded, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if cfg.Listen == "" {
		cfg.Listen = DefaultEmbeddedListen
	}
	host, portStr, _ := net.SplitHostPort(cfg.Listen) // checked by Validate
	port, _ := strconv.Atoi(portStr)
	if port == 0 {
		port = server.RANDOM_PORT
	}
	opts := &server.Options{
		ServerName: "purgebus-embedded",
		Host:       host,
		Port:       port,
		JetStream:  true,
		NoSigs:     true,
		// Events can be large; NATS's default limit applies.
		MaxPayload: server.MAX_PAYLOAD_SIZE,
		Username:   cfg.User,
		Password:   cfg.Password,
		// Authorization is the token.
		Authorization: cfg.Token,
	}
	var (
		tmp string
		err error
	)
	if cfg.DataDir == "" {
		if tmp, err = os.MkdirTemp("", "purgebus-nats-*"); err != nil {
			return nil, fmt.Errorf("bus: embedded nats-server: %w", err)
		}
		cfg.DataDir = tmp
	}
	opts.StoreDir = cfg.DataDir
	// nats-server reports a store it cannot use, or an address it cannot
	// listen on, only in its log, and then never becomes ready: find
	// out first, so that the error says why at once.
	if err := usableStore(cfg.DataDir); err != nil {
		_ = os.RemoveAll(tmp)
		return nil, fmt.Errorf("bus: embedded nats-server: JetStream store %s: %w", cfg.DataDir, err)
	}
	if port != server.RANDOM_PORT {
		l, err := net.Listen("tcp", cfg.Listen)
		if err != nil {
			_ = os.RemoveAll(tmp)
			return nil, fmt.Errorf("bus: embedded nats-server cannot listen on %s: %w", cfg.Listen, err)
		}
		l.Close()
	}
	srv, err := server.NewServer(opts)
	if err != nil {
		_ = os.RemoveAll(tmp)
		return nil, fmt.Errorf("bus: embedded nats-server: %w", err)
	}
	if cfg.Logger != nil {
		srv.SetLoggerV2(slogAdapter{cfg.Logger}, false, false, false)
	}
	go srv.Start()
	if !srv.ReadyForConnections(10 * time.Second) {
		srv.Shutdown()
		_ = os.RemoveAll(tmp)
		return nil, errors.New("bus: embedded nats-server did not start within 10 s (is " + cfg.Listen + " in use?)")
	}
	return &Embedded{srv: srv, tmp: tmp, user: cfg.User, password: cfg.Password, token: cfg.Token}, nil
}

// usableStore creates dir if needed and checks that files can be written
// in it.
func usableStore(dir string) error {
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return err
	}
	f, err := os.CreateTemp(dir, ".purgebus-probe-*")
	if err != nil {
		return err
	}
	f.Close()
	return os.Remove(f.Name())
}

// ClientConfig returns how to reach the server and authenticate to it;
// with nats.InProcessServer(e.Server()) among the options, Connect makes
// an in-process connection, which needs the credentials as well.
func (e *Embedded) ClientConfig() ConnectConfig {
	return ConnectConfig{URL: e.ClientURL(), User: e.user, Password: e.password, Token: e.token}
}

// ClientURL returns the URL other processes on this machine use to reach
// the server: a server listening on every interface is reached on
// loopback.
func (e *Embedded) ClientURL() string {
	u := e.srv.ClientURL()
	scheme, hostport, _ := strings.Cut(u, "://")
	host, port, err := net.SplitHostPort(hostport)
	if err != nil {
		return u
	}
	if ip := net.ParseIP(host); host == "" || ip != nil && ip.IsUnspecified() {
		loop := "127.0.0.1"
		if ip != nil && ip.To4() == nil {
			loop = "::1"
		}
		return scheme + "://" + net.JoinHostPort(loop, port)
	}
	return u
}

// Server returns the running server, for in-process connections
// (nats.InProcessServer).
func (e *Embedded) Server() *server.Server { return e.srv }

// Shutdown stops the server and waits until it has stopped.
func (e *Embedded) Shutdown() {
	e.srv.Shutdown()
	e.srv.WaitForShutdown()
	if e.tmp != "" {
		_ = os.RemoveAll(e.tmp)
	}
}

// slogAdapter routes nats-server's logs to slog.
type slogAdapter struct{ l *slog.Logger }

// Noticef maps to Debug: the server's start-up banner is not news for a
// sidecar's operator.
func (a slogAdapter) Noticef(format string, v ...any) { a.l.Debug(fmt.Sprintf(format, v...)) }
func (a slogAdapter) Warnf(format string, v ...any)   { a.l.Warn(fmt.Sprintf(format, v...)) }
func (a slogAdapter) Fatalf(format string, v ...any)  { a.l.Error(fmt.Sprintf(format, v...)) }
func (a slogAdapter) Errorf(format string, v ...any)  { a.l.Error(fmt.Sprintf(format, v...)) }
func (a slogAdapter) Debugf(format string, v ...any)  { a.l.Debug(fmt.Sprintf(format, v...)) }
func (a slogAdapter) Tracef(format string, v ...any)  { a.l.Debug(fmt.Sprintf(format, v...)) }
