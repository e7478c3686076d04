package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/purgebus/purgebus/akamai"
	"github.com/purgebus/purgebus/akamai/akamaitest"
	"github.com/purgebus/purgebus/bus"
	"github.com/purgebus/purgebus/consumer"
	"github.com/purgebus/purgebus/events"
	"github.com/purgebus/purgebus/handler"
)

// rig is real parts end to end: an embedded nats-server, the consumer's
// own wiring against a fake Akamai, and the CLI's run function.
type rig struct {
	t    *testing.T
	nats *bus.Embedded
	auth bus.ConnectConfig // the consumer's credentials
	fake *akamaitest.Server
	cons *consumer.Consumer
	env  map[string]string
}

func newRig(t *testing.T, h handler.Config) *rig {
	t.Helper()
	return newAuthRig(t, h, bus.EmbeddedConfig{}, bus.ConnectConfig{})
}

// newAuthRig is newRig with a NATS server that requires the credentials
// of emb and a consumer that presents auth.
func newAuthRig(t *testing.T, h handler.Config, emb bus.EmbeddedConfig, auth bus.ConnectConfig) *rig {
	t.Helper()
	emb.Listen = "127.0.0.1:0"
	srv, err := bus.StartEmbedded(emb)
	if err != nil {
		t.Fatalf("StartEmbedded: %v", err)
	}
	t.Cleanup(srv.Shutdown)
	fake := akamaitest.NewServer(akamaitest.Options{})
	t.Cleanup(fake.Close)
	r := &rig{t: t, nats: srv, auth: auth, fake: fake, env: map[string]string{
		// The CLI finds NATS through the environment, as it would in a
		// deployment.
		"NATS_URL": srv.ClientURL(),
		"USER":     "tester",
	}}
	r.startConsumer(h)
	t.Cleanup(r.stopConsumer)
	return r
}

func (r *rig) startConsumer(h handler.Config) {
	r.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	c, err := consumer.Start(ctx, consumer.Config{
		NATSURL: r.nats.ClientURL(),
		NATS:    r.auth,
		// An external NATS is provisioned only when asked; the CLI
		// expects the streams the consumer creates.
		Provision: true,
		Akamai:    akamai.Config{Credentials: r.fake.Credentials(), BaseURL: r.fake.URL()},
		Coalescer: handler.CoalescerConfig{
			Backoff: func(int) time.Duration { return 20 * time.Millisecond },
		},
		Handler:         h,
		ShutdownTimeout: 10 * time.Second,
		Logger:          testLogger(),
	})
	if err != nil {
		r.t.Fatalf("consumer.Start: %v", err)
	}
	r.cons = c
}

func (r *rig) stopConsumer() {
	if r.cons == nil {
		return
	}
	if err := r.cons.Close(); err != nil {
		r.t.Logf("consumer close: %v", err)
	}
	r.cons = nil
}

func testLogger() *slog.Logger {
	if os.Getenv("PURGEBUS_TEST_LOG") != "" {
		return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	return slog.New(slog.DiscardHandler)
}

// outcome is one CLI invocation's exit status and output.
type outcome struct {
	code           int
	stdout, stderr string
}

func (o outcome) String() string {
	return fmt.Sprintf("exit %d\nstdout:\n%s\nstderr:\n%s", o.code, o.stdout, o.stderr)
}

// lines returns stdout's non-empty lines.
func (o outcome) lines() []string {
	var out []string
	for l := range strings.SplitSeq(o.stdout, "\n") {
		if l != "" {
			out = append(out, l)
		}
	}
	return out
}

// run runs the CLI with the rig's environment plus extra (KEY=VALUE).
func (r *rig) run(stdin string, args ...string) outcome {
	r.t.Helper()
	return runCLI(r.t, r.env, stdin, args...)
}

func runCLI(t *testing.T, env map[string]string, stdin string, args ...string) outcome {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	var stdout, stderr bytes.Buffer
	code := run(ctx, args, strings.NewReader(stdin), &stdout, &stderr, mapEnv(env))
	return outcome{code, stdout.String(), stderr.String()}
}

func mapEnv(env map[string]string) func(string) (string, bool) {
	return func(k string) (string, bool) {
		v, ok := env[k]
		return v, ok
	}
}

// results decodes stdout as result events, one per line.
func (o outcome) results(t *testing.T) []events.PurgeResult {
	t.Helper()
	var out []events.PurgeResult
	for _, l := range o.lines() {
		r, err := events.DecodeResult([]byte(l))
		if err != nil {
			t.Fatalf("stdout line is not a result: %v\n%s", err, o)
		}
		out = append(out, r)
	}
	return out
}

// waitResults polls "purge results --json" with args until it prints want
// results.
func (r *rig) waitResults(want int, args ...string) []events.PurgeResult {
	r.t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		o := r.run("", append([]string{"results", "--json"}, args...)...)
		// With --id, none yet is an error that says so.
		if o.code != 0 && !(o.code == exitError && strings.Contains(o.stderr, " result for event ") && strings.Contains(o.stderr, "(yet)")) {
			r.t.Fatalf("purge results: %s", o)
		}
		if res := o.results(r.t); len(res) >= want || time.Now().After(deadline) {
			if len(res) != want {
				r.t.Fatalf("purge results %v: %d results, want %d\n%s", args, len(res), want, o)
			}
			return res
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func mustJSON(t *testing.T, line string, v any) {
	t.Helper()
	if err := json.Unmarshal([]byte(line), v); err != nil {
		t.Fatalf("not JSON: %v\n%s", err, line)
	}
}
