package integration

import (
	"context"
	"fmt"
	"net"
	"path/filepath"
	"slices"
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
	"github.com/purgebus/purgebus/internal/testwait"
)

// TestNATSServerRestart runs the consumer (the real wiring, in process)
// against a NATS server of its own that is shut down mid-run and started
// again on the same port and store directory, as an operator's restart or
// upgrade would. The consumer must reconnect by itself and every event,
// those in flight at the shutdown and those published after the restart,
// must still get a succeeded result, with nothing dead-lettered.
func TestNATSServerRestart(t *testing.T) {
	const n = 2000 // half before the restart, half after
	dir := t.TempDir()
	natsCfg := bus.EmbeddedConfig{Listen: "127.0.0.1:0", DataDir: filepath.Join(dir, "nats")}
	srv, err := bus.StartEmbedded(natsCfg)
	if err != nil {
		t.Fatal(err)
	}
	// The restart must come back on the same port: the consumer only
	// knows that URL.
	natsURL := srv.ClientURL()
	addr := srv.Server().Addr().(*net.TCPAddr)
	natsCfg.Listen = addr.String()
	defer func() {
		if srv != nil {
			srv.Shutdown()
		}
	}()

	fake := akamaitest.NewServer(akamaitest.Options{Buckets: akamaitest.BucketConfig{Disabled: true}})
	t.Cleanup(fake.Close)
	// Slow purges keep events in flight when the server goes away.
	fake.SetLatency(200 * time.Millisecond)

	cons, err := consumer.Start(context.Background(), consumer.Config{
		NATSURL:   natsURL,
		Provision: true, // a fresh server: the consumer creates the streams
		Akamai:    akamai.Config{Credentials: fake.Credentials(), BaseURL: fake.URL()},
		Coalescer: handler.CoalescerConfig{
			Backoff: func(int) time.Duration { return 50 * time.Millisecond },
			// Small requests, a few at a time: results trickle in, so the
			// shutdown finds events in flight.
			MaxObjects:  map[akamai.Type]int{akamai.TypeURL: 40},
			MaxInFlight: 2,
		},
		// Acks lost with the connection are made good by redelivery
		// after AckWait; keep it short so the test is too.
		Streams:         bus.StreamsConfig{AckWait: 3 * time.Second},
		ShutdownTimeout: 10 * time.Second,
		Logger:          testLogger(t),
	})
	if err != nil {
		t.Fatal(err)
	}
	defer func() {
		if err := cons.Close(); err != nil {
			t.Logf("consumer close: %v", err)
		}
	}()

	// The test's own connection rides out the restart too.
	nc, err := nats.Connect(natsURL, nats.MaxReconnects(-1), nats.ReconnectWait(100*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}

	want := map[string][]string{}
	publish := func(from, to int) {
		t.Helper()
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		for i := from; i < to; i++ {
			id := fmt.Sprintf("nr-%d", i)
			want[id] = []string{url(2 * i), url(2*i + 1)}
			ev := events.ContentChanged{ID: id, URLs: want[id]}
			data, err := ev.Encode()
			if err != nil {
				t.Fatal(err)
			}
			msg := nats.NewMsg(events.SubjectContentChanged)
			msg.Data = data
			msg.Header.Set(jetstream.MsgIDHeader, id)
			if _, err := js.PublishMsg(ctx, msg); err != nil {
				t.Fatalf("publish %s: %v", id, err)
			}
		}
	}

	publish(0, n/2)
	// Shut the server down once some, not all, events are done.
	testwait.Until(t, 30*time.Second, "the first results", func() bool {
		return streamMsgCount(t, js, events.DefaultResultStream) >= 100
	})
	before := streamMsgCount(t, js, events.DefaultResultStream)
	srv.Shutdown()
	if before >= n/2 {
		t.Fatalf("all %d events had results before the shutdown; the test needs some in flight", before)
	}
	t.Logf("NATS shut down with %d of %d results in", before, n/2)

	// Down long enough for the consumer's connections to notice and
	// start reconnecting, and for purges in flight to finish meanwhile.
	time.Sleep(1500 * time.Millisecond)
	if srv, err = bus.StartEmbedded(natsCfg); err != nil {
		t.Fatalf("restart NATS on %s: %v", natsCfg.Listen, err)
	}
	if got := srv.ClientURL(); got != natsURL {
		t.Fatalf("NATS came back at %s, not %s", got, natsURL)
	}
	testwait.Until(t, 15*time.Second, "the test's connection to reconnect", nc.IsConnected)

	// Events published after the restart can only be handled by a
	// consumer that reconnected.
	publish(n/2, n)

	results := watchResultStream(t, js)
	if !results.waitAll(n, time.Now().Add(60*time.Second)) {
		var missing []string
		for id := range want {
			if !results.has(id) {
				missing = append(missing, id)
			}
		}
		slices.Sort(missing)
		t.Fatalf("%d of %d events have no result after the restart, e.g. %v", len(missing), n, missing[:min(10, len(missing))])
	}
	all := results.snapshot()
	for id, urls := range want {
		for _, r := range all[id] {
			var got []string
			for _, p := range r.Purges {
				got = append(got, p.Objects...)
			}
			slices.Sort(got)
			if r.Outcome != events.OutcomeSucceeded || !slices.Equal(got, slices.Sorted(slices.Values(urls))) {
				t.Fatalf("%s: outcome %s, purged %v, failures %+v; want %v succeeded", id, r.Outcome, got, r.Failures, urls)
			}
		}
	}
	purged := map[string]bool{}
	for _, u := range fake.PurgedObjects(akamai.TypeURL) {
		purged[u] = true
	}
	for id, urls := range want {
		for _, u := range urls {
			if !purged[u] {
				t.Fatalf("%s: %s never reached Akamai", id, u)
			}
		}
	}
	if n := streamMsgCount(t, js, events.DefaultDeadLetterStream); n != 0 {
		t.Errorf("%d dead letters, want none", n)
	}
	testwait.Until(t, 15*time.Second, "every event to be acknowledged", func() bool {
		return durableAckPending(js) == 0 && streamMsgCount(t, js, events.DefaultContentStream) == 0
	})
	select {
	case err := <-cons.Err():
		t.Errorf("the consumer's router stopped: %v", err)
	default:
	}
}
