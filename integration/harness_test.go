package integration

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/purgebus/purgebus/akamai"
	"github.com/purgebus/purgebus/akamai/akamaitest"
	"github.com/purgebus/purgebus/bus"
	"github.com/purgebus/purgebus/consumer"
	"github.com/purgebus/purgebus/events"
	"github.com/purgebus/purgebus/handler"
)

// rig is one end-to-end set-up: a fake Akamai, the consumer with its
// embedded NATS (real wiring from package consumer), and a client
// connection for publishing and reading results.
type rig struct {
	t       testing.TB
	fake    *akamaitest.Server
	cfg     consumer.Config
	cons    *consumer.Consumer
	nc      *nats.Conn
	js      jetstream.JetStream
	dataDir string
}

type rigOption func(*consumer.Config)

func newRig(t testing.TB, fakeOpts akamaitest.Options, opts ...rigOption) *rig {
	t.Helper()
	fake := akamaitest.NewServer(fakeOpts)
	t.Cleanup(fake.Close)
	r := &rig{t: t, fake: fake, dataDir: t.TempDir()}
	r.cfg = consumer.Config{
		Embedded: bus.EmbeddedConfig{Listen: "127.0.0.1:0", DataDir: r.dataDir},
		Akamai:   akamai.Config{Credentials: fake.Credentials(), BaseURL: fake.URL()},
		Coalescer: handler.CoalescerConfig{
			Backoff: func(int) time.Duration { return 20 * time.Millisecond },
		},
		ShutdownTimeout: 10 * time.Second,
		Logger:          testLogger(t),
	}
	for _, o := range opts {
		o(&r.cfg)
	}
	r.start()
	t.Cleanup(r.stop)
	return r
}

func testLogger(t testing.TB) *slog.Logger {
	if os.Getenv("PURGEBUS_TEST_LOG") != "" {
		return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	return slog.New(slog.DiscardHandler)
}

func (r *rig) start() {
	r.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	c, err := consumer.Start(ctx, r.cfg)
	if err != nil {
		r.t.Fatalf("consumer.Start: %v", err)
	}
	r.cons = c
	nc, err := nats.Connect(c.NATSURL())
	if err != nil {
		r.t.Fatalf("connect: %v", err)
	}
	r.nc = nc
	if r.js, err = jetstream.New(nc); err != nil {
		r.t.Fatal(err)
	}
}

func (r *rig) stop() {
	if r.nc != nil {
		r.nc.Close()
		r.nc = nil
	}
	if r.cons != nil {
		if err := r.cons.Close(); err != nil {
			r.t.Logf("consumer close: %v", err)
		}
		r.cons = nil
	}
}

func (r *rig) publisher(subject string) *events.Publisher {
	r.t.Helper()
	p, err := events.NewPublisher(r.nc, events.PublisherConfig{Subject: subject})
	if err != nil {
		r.t.Fatal(err)
	}
	return p
}

// results reads the result stream until it holds want results or the
// timeout passes, and returns them by event ID (every copy kept, so
// duplicates show).
func (r *rig) results(want int, timeout time.Duration) map[string][]events.PurgeResult {
	r.t.Helper()
	return readStream(r.t, r.js, events.DefaultResultStream, want, timeout, func(data []byte) (string, events.PurgeResult) {
		res, err := events.DecodeResult(data)
		if err != nil {
			r.t.Fatalf("undecodable result %s: %v", data, err)
		}
		return res.EventID, res
	})
}

func (r *rig) deadLetters(want int, timeout time.Duration) map[string][]events.DeadLetter {
	r.t.Helper()
	return readStream(r.t, r.js, events.DefaultDeadLetterStream, want, timeout, func(data []byte) (string, events.DeadLetter) {
		var d events.DeadLetter
		if err := json.Unmarshal(data, &d); err != nil {
			r.t.Fatalf("undecodable dead letter %s: %v", data, err)
		}
		return d.EventID, d
	})
}

func readStream[T any](t testing.TB, js jetstream.JetStream, stream string, want int, timeout time.Duration, decode func([]byte) (string, T)) map[string][]T {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	cons, err := js.OrderedConsumer(ctx, stream, jetstream.OrderedConsumerConfig{})
	if err != nil {
		t.Fatalf("read %s: %v", stream, err)
	}
	out := map[string][]T{}
	n := 0
	var mu sync.Mutex
	for n < want {
		batch, err := cons.FetchNoWait(500)
		if err != nil {
			t.Fatalf("fetch %s: %v", stream, err)
		}
		got := 0
		for m := range batch.Messages() {
			id, v := decode(m.Data())
			mu.Lock()
			out[id] = append(out[id], v)
			mu.Unlock()
			n++
			got++
		}
		if got == 0 {
			select {
			case <-ctx.Done():
				t.Fatalf("%s holds %d messages after %v, want %d", stream, n, timeout, want)
			case <-time.After(20 * time.Millisecond):
			}
		}
	}
	// Anything beyond want is a duplicate or a stray: collect it too.
	time.Sleep(50 * time.Millisecond)
	if batch, err := cons.FetchNoWait(500); err == nil {
		for m := range batch.Messages() {
			id, v := decode(m.Data())
			out[id] = append(out[id], v)
		}
	}
	return out
}

func url(i int) string { return fmt.Sprintf("https://www.example.com/page/%d?a=1&b=2", i) }
