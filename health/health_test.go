package health_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/purgebus/purgebus/health"
	"github.com/purgebus/purgebus/metrics"
)

// start starts a server on a free loopback port and closes it at the end
// of the test.
func start(t *testing.T, cfg health.Config) (*health.Server, string) {
	t.Helper()
	if cfg.Addr == "" {
		cfg.Addr = "127.0.0.1:0"
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.NewTextHandler(t.Output(), nil))
	}
	s, err := health.Start(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := s.Close(ctx); err != nil {
			t.Error(err)
		}
	})
	return s, "http://" + s.Addr()
}

type response struct {
	status      int
	contentType string
	body        string
}

func do(t *testing.T, method, url string) response {
	t.Helper()
	req, err := http.NewRequest(method, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return response{resp.StatusCode, resp.Header.Get("Content-Type"), string(body)}
}

func TestEndpoints(t *testing.T) {
	reg := prometheus.NewRegistry()
	m := metrics.New(reg)
	m.EventReceived()
	m.EventFinished("succeeded", time.Second)

	type req struct {
		method, path string
		status       int
		contains     string
	}
	tests := []struct {
		name string
		cfg  health.Config
		reqs []req
	}{
		{
			name: "defaults",
			cfg:  health.Config{Gatherer: reg},
			reqs: []req{
				{"GET", "/healthz", 200, `{"status":"ok"}`},
				{"HEAD", "/healthz", 200, ""},
				{"POST", "/healthz", 405, ""},
				{"GET", "/readyz", 200, `"status":"ok"`},
				{"GET", "/metrics", 200, "purgebus_events_received_total 1"},
				{"GET", "/", 404, ""},
				// pprof is off unless asked for, though importing
				// net/http/pprof filled http.DefaultServeMux.
				{"GET", "/debug/pprof/", 404, ""},
				{"GET", "/debug/pprof/cmdline", 404, ""},
				{"GET", "/debug/pprof/heap", 404, ""},
				{"POST", "/debug/pprof/symbol", 404, ""},
			},
		},
		{
			name: "no gatherer, no /metrics",
			cfg:  health.Config{},
			reqs: []req{
				{"GET", "/metrics", 404, ""},
				{"GET", "/healthz", 200, `{"status":"ok"}`},
			},
		},
		{
			name: "pprof",
			cfg:  health.Config{Pprof: true},
			reqs: []req{
				{"GET", "/debug/pprof/", 200, "goroutine"},
				{"GET", "/debug/pprof/cmdline", 200, ""},
				{"GET", "/debug/pprof/heap?debug=1", 200, "heap profile"},
				{"GET", "/debug/pprof/goroutine?debug=1", 200, "goroutine profile"},
				{"GET", "/debug/pprof/symbol", 200, "num_symbols"},
				{"POST", "/debug/pprof/symbol", 200, "num_symbols"},
				{"GET", "/debug/pprof/profile?seconds=1", 200, ""},
				{"GET", "/healthz", 200, `{"status":"ok"}`},
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, base := start(t, tt.cfg)
			for _, r := range tt.reqs {
				got := do(t, r.method, base+r.path)
				if got.status != r.status {
					t.Errorf("%s %s: %d, want %d: %s", r.method, r.path, got.status, r.status, got.body)
				}
				if !strings.Contains(got.body, r.contains) {
					t.Errorf("%s %s: body %q does not contain %q", r.method, r.path, got.body, r.contains)
				}
			}
		})
	}
}

func TestHealthzJSON(t *testing.T) {
	_, base := start(t, health.Config{})
	got := do(t, "GET", base+"/healthz")
	if got.contentType != "application/json" {
		t.Errorf("Content-Type %q", got.contentType)
	}
	var v map[string]string
	if err := json.Unmarshal([]byte(got.body), &v); err != nil || v["status"] != "ok" || len(v) != 1 {
		t.Errorf("body %q (%v)", got.body, err)
	}
}

func TestMetricsScrape(t *testing.T) {
	reg := prometheus.NewRegistry()
	m := metrics.New(reg)
	m.SetCircuit("ccu", metrics.CircuitHalfOpen)
	m.DeadLettered("poison")
	_, base := start(t, health.Config{Gatherer: reg})
	got := do(t, "GET", base+"/metrics")
	if got.status != 200 {
		t.Fatalf("%d: %s", got.status, got.body)
	}
	p := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := p.TextToMetricFamilies(strings.NewReader(got.body))
	if err != nil {
		t.Fatal(err)
	}
	value := func(name, label, want string) float64 {
		for _, m := range fams[name].GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetName() == label && l.GetValue() == want {
					if m.Gauge != nil {
						return m.GetGauge().GetValue()
					}
					return m.GetCounter().GetValue()
				}
			}
		}
		t.Fatalf("no %s{%s=%q}", name, label, want)
		return 0
	}
	if v := value("purgebus_circuit_state", "account", "ccu"); v != 2 {
		t.Errorf("circuit state %v, want 2", v)
	}
	if v := value("purgebus_events_dead_lettered_total", "reason", "poison"); v != 1 {
		t.Errorf("poison dead letters %v, want 1", v)
	}
}

// TestMetricsCollectorFailure: a collector that fails costs its own
// series, not the scrape.
func TestMetricsCollectorFailure(t *testing.T) {
	reg := prometheus.NewRegistry()
	m := metrics.New(reg)
	m.EventReceived()
	reg.MustRegister(failingCollector{})
	_, base := start(t, health.Config{Gatherer: reg})
	got := do(t, "GET", base+"/metrics")
	if got.status != 200 || !strings.Contains(got.body, "purgebus_events_received_total 1") {
		t.Errorf("%d: %s", got.status, got.body)
	}
}

type failingCollector struct{}

var failingDesc = prometheus.NewDesc("failing", "Fails.", nil, nil)

func (failingCollector) Describe(ch chan<- *prometheus.Desc) { ch <- failingDesc }
func (failingCollector) Collect(ch chan<- prometheus.Metric) {
	ch <- prometheus.NewInvalidMetric(failingDesc, errors.New("broken"))
}

func readyz(t *testing.T, base string) (int, health.ReadyResponse) {
	t.Helper()
	status, body, err := fetchReady(base)
	if err != nil {
		t.Fatal(err)
	}
	return status, body
}

// fetchReady asks /readyz; it is safe in any goroutine.
func fetchReady(base string) (int, health.ReadyResponse, error) {
	var v health.ReadyResponse
	resp, err := http.Get(base + "/readyz")
	if err != nil {
		return 0, v, err
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		return 0, v, err
	}
	if ct := resp.Header.Get("Content-Type"); ct != "application/json" {
		return 0, v, fmt.Errorf("readyz Content-Type %q", ct)
	}
	if err := json.Unmarshal(data, &v); err != nil {
		return 0, v, fmt.Errorf("readyz body %q: %w", data, err)
	}
	return resp.StatusCode, v, nil
}

func TestReadyzFlips(t *testing.T) {
	var natsErr atomic.Pointer[error]
	notYet := errors.New("nats: not connected")
	natsErr.Store(&notYet)
	checks := []health.Check{
		{Name: "nats", Func: func(context.Context) error { return *natsErr.Load() }},
		{Name: "streams", Func: func(context.Context) error { return nil }},
	}
	_, base := start(t, health.Config{Checks: checks})

	status, body := readyz(t, base)
	if status != http.StatusServiceUnavailable || body.Status != "unavailable" {
		t.Fatalf("readyz %d %+v; want 503 unavailable", status, body)
	}
	want := []health.CheckResult{
		{Name: "nats", Status: "error", Message: "nats: not connected"},
		{Name: "streams", Status: "ok"},
	}
	compareChecks(t, body.Checks, want)

	var ok error
	natsErr.Store(&ok)
	status, body = readyz(t, base)
	if status != http.StatusOK || body.Status != "ok" {
		t.Fatalf("readyz %d %+v; want 200 ok", status, body)
	}
	compareChecks(t, body.Checks, []health.CheckResult{{Name: "nats", Status: "ok"}, {Name: "streams", Status: "ok"}})

	// And back.
	natsErr.Store(&notYet)
	if status, _ := readyz(t, base); status != http.StatusServiceUnavailable {
		t.Errorf("readyz %d after nats failed again; want 503", status)
	}
}

func compareChecks(t *testing.T, got, want []health.CheckResult) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("checks %+v, want %+v", got, want)
	}
	for i := range want {
		g := got[i]
		if g.DurationSeconds < 0 {
			t.Errorf("check %s: negative duration", g.Name)
		}
		g.DurationSeconds = 0
		if g != want[i] {
			t.Errorf("check %d = %+v, want %+v", i, g, want[i])
		}
	}
}

func TestReadyzNoChecks(t *testing.T) {
	_, base := start(t, health.Config{})
	got := do(t, "GET", base+"/readyz")
	if got.status != 200 || strings.TrimSpace(got.body) != `{"status":"ok","checks":[]}` {
		t.Errorf("%d %s", got.status, got.body)
	}
}

func TestReadyzMessages(t *testing.T) {
	tests := []struct {
		name     string
		err      error
		want     string
		wantNot  []string
		maxBytes int
	}{
		{
			name:    "credentials in a URL are masked",
			err:     errors.New(`nats: dial nats://purge:s3cret@nats.internal:4222: connection refused`),
			want:    "nats: dial nats://REDACTED@nats.internal:4222: connection refused",
			wantNot: []string{"s3cret", "purge:"},
		},
		{
			name:    "a token in a URL is masked",
			err:     errors.New(`connect to tls://t0ken@host failed`),
			want:    "connect to tls://REDACTED@host failed",
			wantNot: []string{"t0ken"},
		},
		{
			name: "one line",
			err:  errors.New("akamai: 401\n\tinvalid signature"),
			want: "akamai: 401 invalid signature",
		},
		{
			name:     "long messages are cut",
			err:      errors.New(strings.Repeat("é", 300)),
			maxBytes: health.MaxMessageBytes + len("…"),
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, base := start(t, health.Config{Checks: []health.Check{
				{Name: "akamai", Func: func(context.Context) error { return tt.err }},
			}})
			status, body := readyz(t, base)
			if status != http.StatusServiceUnavailable {
				t.Fatalf("status %d", status)
			}
			msg := body.Checks[0].Message
			if tt.want != "" && msg != tt.want {
				t.Errorf("message %q, want %q", msg, tt.want)
			}
			for _, s := range tt.wantNot {
				if strings.Contains(msg, s) {
					t.Errorf("message %q reveals %q", msg, s)
				}
			}
			if tt.maxBytes > 0 && (len(msg) > tt.maxBytes || !strings.HasSuffix(msg, "…")) {
				t.Errorf("message of %d bytes: %q", len(msg), msg)
			}
		})
	}
}

func TestReadyzTimeout(t *testing.T) {
	checks := []health.Check{
		{Name: "slow", Func: func(ctx context.Context) error {
			<-ctx.Done() // honours its deadline
			return ctx.Err()
		}},
		{Name: "fast", Func: func(context.Context) error { return nil }},
	}
	_, base := start(t, health.Config{Checks: checks, CheckTimeout: 50 * time.Millisecond})
	began := time.Now()
	status, body := readyz(t, base)
	if took := time.Since(began); took > 2*time.Second {
		t.Errorf("readyz took %v with a 50 ms check timeout", took)
	}
	if status != http.StatusServiceUnavailable || body.Checks[0].Status != "error" || body.Checks[1].Status != "ok" {
		t.Errorf("readyz %d %+v", status, body)
	}
	if m := body.Checks[0].Message; !strings.Contains(m, "timed out") && !strings.Contains(m, "deadline exceeded") {
		t.Errorf("message %q", m)
	}
}

// TestReadyzHungCheck: a check that ignores its context is run once for
// all the probes that arrive while it hangs.
func TestReadyzHungCheck(t *testing.T) {
	release := make(chan struct{})
	var calls atomic.Int64
	checks := []health.Check{{Name: "hung", Func: func(context.Context) error {
		if calls.Add(1) == 1 {
			<-release
		}
		return nil
	}}}
	_, base := start(t, health.Config{Checks: checks, CheckTimeout: 30 * time.Millisecond})
	var wg sync.WaitGroup
	for range 5 {
		wg.Go(func() {
			status, body, err := fetchReady(base)
			if err != nil || status != http.StatusServiceUnavailable || !strings.Contains(body.Checks[0].Message, "timed out") {
				t.Errorf("readyz %d %+v %v while the check hangs", status, body, err)
			}
		})
	}
	wg.Wait()
	if n := calls.Load(); n != 1 {
		t.Errorf("the hung check was called %d times; want 1", n)
	}
	close(release)
	// The hung run ends and passes; the next probe starts a new run.
	eventuallyReady(t, base)
	eventuallyReady(t, base)
	if n := calls.Load(); n < 2 {
		t.Errorf("the check was called %d times; want a new run", n)
	}
}

func eventuallyReady(t *testing.T, base string) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		status, body := readyz(t, base)
		if status == http.StatusOK {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("readyz still %d %+v", status, body)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestReadyzPanickingCheck(t *testing.T) {
	var panicking atomic.Bool
	panicking.Store(true)
	checks := []health.Check{{Name: "circuit", Func: func(context.Context) error {
		if panicking.Load() {
			panic("secret-in-panic")
		}
		return nil
	}}}
	_, base := start(t, health.Config{Checks: checks})
	status, body := readyz(t, base)
	if status != http.StatusServiceUnavailable || body.Checks[0].Message != "check panicked" {
		t.Errorf("readyz %d %+v", status, body)
	}
	panicking.Store(false)
	eventuallyReady(t, base)
}

func TestStartErrors(t *testing.T) {
	ok := func(context.Context) error { return nil }
	busy, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	tests := []struct {
		name string
		cfg  health.Config
		want string
	}{
		{"unnamed check", health.Config{Checks: []health.Check{{Func: ok}}}, "no name"},
		{"check without func", health.Config{Checks: []health.Check{{Name: "nats"}}}, `"nats" has no Func`},
		{"duplicate names", health.Config{Checks: []health.Check{{Name: "nats", Func: ok}, {Name: "nats", Func: ok}}}, `two checks are named "nats"`},
		{"address in use", health.Config{Addr: busy.Addr().String()}, "address already in use"},
		{"bad address", health.Config{Addr: "127.0.0.1:notaport"}, "health:"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.cfg.Addr == "" {
				tt.cfg.Addr = "127.0.0.1:0"
			}
			s, err := health.Start(context.Background(), tt.cfg)
			if err == nil {
				_ = s.Close(context.Background())
				t.Fatal("Start succeeded")
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error %q does not contain %q", err, tt.want)
			}
		})
	}
}

func TestClose(t *testing.T) {
	s, err := health.Start(context.Background(), health.Config{Addr: "127.0.0.1:0"})
	if err != nil {
		t.Fatal(err)
	}
	addr := s.Addr()
	if got := do(t, "GET", "http://"+addr+"/healthz"); got.status != 200 {
		t.Fatalf("healthz %d", got.status)
	}
	if err := s.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(context.Background()); err != nil {
		t.Errorf("second Close: %v", err)
	}
	if c, err := net.DialTimeout("tcp", addr, time.Second); err == nil {
		c.Close()
		t.Error("still listening after Close")
	}
}

// TestCloseCutsOffSlowRequests: Close gives up on requests still under
// way when its context ends.
func TestCloseCutsOffSlowRequests(t *testing.T) {
	entered := make(chan struct{})
	checks := []health.Check{{Name: "slow", Func: func(ctx context.Context) error {
		close(entered)
		<-ctx.Done()
		return ctx.Err()
	}}}
	s, err := health.Start(context.Background(), health.Config{Addr: "127.0.0.1:0", Checks: checks, CheckTimeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	go func() {
		resp, err := http.Get("http://" + s.Addr() + "/readyz")
		if err == nil {
			resp.Body.Close()
		}
	}()
	<-entered
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	began := time.Now()
	if err := s.Close(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Close = %v, want a deadline error", err)
	}
	if took := time.Since(began); took > 2*time.Second {
		t.Errorf("Close took %v", took)
	}
}

func TestDefaultAddr(t *testing.T) {
	if health.DefaultAddr != "127.0.0.1:9464" {
		t.Errorf("DefaultAddr %q", health.DefaultAddr)
	}
}
