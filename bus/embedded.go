package bus

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"strconv"
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
	Logger  *slog.Logger
}

// Embedded is a running in-process nats-server.
type Embedded struct {
	srv *server.Server
	tmp string
}

// StartEmbedded starts a nats-server with JetStream in this process and
// waits until it accepts connections.
func StartEmbedded(cfg EmbeddedConfig) (*Embedded, error) {
	if cfg.Listen == "" {
		cfg.Listen = "127.0.0.1:4222"
	}
	host, portStr, err := net.SplitHostPort(cfg.Listen)
	if err != nil {
		return nil, fmt.Errorf("bus: embedded listen address %q: %w", cfg.Listen, err)
	}
	port, err := strconv.Atoi(portStr)
	if err != nil {
		return nil, fmt.Errorf("bus: embedded listen port %q: %w", portStr, err)
	}
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
	}
	var tmp string
	if cfg.DataDir == "" {
		if tmp, err = os.MkdirTemp("", "purgebus-nats-*"); err != nil {
			return nil, fmt.Errorf("bus: embedded nats-server: %w", err)
		}
		cfg.DataDir = tmp
	}
	opts.StoreDir = cfg.DataDir
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
	return &Embedded{srv: srv, tmp: tmp}, nil
}

// ClientURL returns the URL other processes use to reach the server.
func (e *Embedded) ClientURL() string { return e.srv.ClientURL() }

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
