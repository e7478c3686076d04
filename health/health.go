// Package health serves a purgebus process's operational HTTP endpoints,
// on an address of their own (--http-addr, 127.0.0.1:9464 by default):
//
//   - /metrics: the Prometheus metrics of Config.Gatherer
//   - /healthz: liveness; 200 {"status":"ok"} while the process serves
//   - /readyz: readiness; runs Config.Checks and answers 200 when all
//     pass, else 503, with each check's status in a JSON body
//   - /debug/pprof/: Go's profiler, only when Config.Pprof is set
//
// Every handler is on the server's own mux; nothing is served from
// http.DefaultServeMux. (Importing net/http/pprof still adds its handlers
// to http.DefaultServeMux; purgebus never serves that mux.)
//
// /readyz shows the message of a failing check's error to whoever can
// reach the address. A Check must return errors that carry no secret:
// no credentials, tokens, signed headers or URLs with passwords. As a
// safety net, user:password@ in URLs is masked and messages are cut to
// 256 bytes, but that is no licence to pass secrets.
package health

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// DefaultAddr is where Start listens when Config.Addr is empty: loopback
// only, since /readyz and pprof tell a lot about the process.
const DefaultAddr = "127.0.0.1:9464"

// DefaultCheckTimeout bounds one check when Config.CheckTimeout is 0.
const DefaultCheckTimeout = 2 * time.Second

// Check is one readiness condition, such as "nats" (connected), "streams"
// (present), "akamai" (credentials not rejected) or "circuit" (closed).
type Check struct {
	// Name identifies the check in /readyz's answer; names are unique.
	Name string
	// Func returns nil when the condition holds. It must honour ctx,
	// which ends after the check timeout, and return errors that carry
	// no secret (see the package documentation). Concurrent probes share
	// one run of Func, so a hung Func never piles up goroutines.
	Func func(ctx context.Context) error
}

// Config configures a Server.
type Config struct {
	// Addr is the TCP address to listen on (DefaultAddr when empty);
	// "127.0.0.1:0" picks a free port, which Server.Addr reports.
	Addr string
	// Gatherer is served on /metrics; without it there is no /metrics.
	Gatherer prometheus.Gatherer
	// Checks are run by /readyz, concurrently.
	Checks []Check
	// CheckTimeout bounds each check (DefaultCheckTimeout when 0).
	CheckTimeout time.Duration
	// Pprof serves net/http/pprof's handlers under /debug/pprof/.
	Pprof  bool
	Logger *slog.Logger
}

// Server is a running health server.
type Server struct {
	srv       *http.Server
	ln        net.Listener
	served    chan struct{}
	serveErr  error
	closeOnce sync.Once
	closeErr  error
}

// Start listens on cfg.Addr and serves the endpoints until Close. ctx
// bounds only the start.
func Start(ctx context.Context, cfg Config) (*Server, error) {
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if cfg.Addr == "" {
		cfg.Addr = DefaultAddr
	}
	if cfg.CheckTimeout <= 0 {
		cfg.CheckTimeout = DefaultCheckTimeout
	}
	mux, err := newMux(cfg, log)
	if err != nil {
		return nil, err
	}
	var lc net.ListenConfig
	ln, err := lc.Listen(ctx, "tcp", cfg.Addr)
	if err != nil {
		return nil, fmt.Errorf("health: %w", err)
	}
	s := &Server{
		srv: &http.Server{
			Handler:           mux,
			ReadHeaderTimeout: 5 * time.Second,
			// No WriteTimeout: pprof's profile and trace stream for as
			// many seconds as asked.
			IdleTimeout:    time.Minute,
			MaxHeaderBytes: 64 << 10,
			ErrorLog:       slog.NewLogLogger(log.Handler(), slog.LevelWarn),
		},
		ln:     ln,
		served: make(chan struct{}),
	}
	go func() {
		defer close(s.served)
		if err := s.srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			s.serveErr = err
			log.Error("health server stopped", "err", err)
		}
	}()
	if cfg.Pprof && !loopback(ln.Addr()) {
		log.Warn("pprof is served on a non-loopback address", "addr", ln.Addr().String())
	}
	log.Info("health server listening", "addr", ln.Addr().String(), "metrics", cfg.Gatherer != nil,
		"checks", len(cfg.Checks), "pprof", cfg.Pprof)
	return s, nil
}

func loopback(a net.Addr) bool {
	ta, ok := a.(*net.TCPAddr)
	return ok && ta.IP.IsLoopback()
}

// Addr returns the address the server listens on, such as
// "127.0.0.1:9464".
func (s *Server) Addr() string { return s.ln.Addr().String() }

// Close stops the server: it stops listening and waits for the requests
// under way until ctx ends, then cuts them off. Later calls return the
// first one's result.
func (s *Server) Close(ctx context.Context) error {
	s.closeOnce.Do(func() {
		err := s.srv.Shutdown(ctx)
		if err != nil {
			_ = s.srv.Close()
			err = fmt.Errorf("health: close: %w", err)
		}
		<-s.served
		s.closeErr = errors.Join(err, s.serveErr)
	})
	return s.closeErr
}

// newMux builds the server's own mux.
func newMux(cfg Config, log *slog.Logger) (*http.ServeMux, error) {
	rd, err := newReadiness(cfg.Checks, cfg.CheckTimeout, log)
	if err != nil {
		return nil, err
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
	})
	mux.Handle("GET /readyz", rd)
	if cfg.Gatherer != nil {
		mux.Handle("GET /metrics", promhttp.HandlerFor(cfg.Gatherer, promhttp.HandlerOpts{
			// A collector that fails costs its own series, not the scrape.
			ErrorHandling: promhttp.ContinueOnError,
			ErrorLog:      promLogger{log},
			Timeout:       30 * time.Second,
		}))
	}
	if cfg.Pprof {
		mux.HandleFunc("GET /debug/pprof/", pprof.Index)
		mux.HandleFunc("GET /debug/pprof/cmdline", pprof.Cmdline)
		mux.HandleFunc("GET /debug/pprof/profile", pprof.Profile)
		mux.HandleFunc("GET /debug/pprof/symbol", pprof.Symbol)
		mux.HandleFunc("POST /debug/pprof/symbol", pprof.Symbol)
		mux.HandleFunc("GET /debug/pprof/trace", pprof.Trace)
	}
	return mux, nil
}

// promLogger passes promhttp's errors to slog.
type promLogger struct{ log *slog.Logger }

func (l promLogger) Println(v ...any) { l.log.Warn("metrics: " + fmt.Sprint(v...)) }

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}
