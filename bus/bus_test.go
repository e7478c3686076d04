package bus_test

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/ThreeDotsLabs/watermill/message/router/middleware"
	"github.com/google/uuid"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/purgebus/purgebus/bus"
	"github.com/purgebus/purgebus/events"
	"github.com/purgebus/purgebus/internal/testwait"
)

// natsRig is an embedded nats-server with JetStream and a client of it.
type natsRig struct {
	emb *bus.Embedded
	nc  *nats.Conn
	js  jetstream.JetStream
}

func startNATS(t *testing.T) *natsRig {
	t.Helper()
	emb, err := bus.StartEmbedded(bus.EmbeddedConfig{Listen: "127.0.0.1:0", DataDir: t.TempDir()})
	if err != nil {
		t.Fatalf("StartEmbedded: %v", err)
	}
	t.Cleanup(emb.Shutdown)
	return &natsRig{emb: emb, nc: connect(t, emb), js: jetStream(t, connect(t, emb))}
}

func connect(t *testing.T, emb *bus.Embedded) *nats.Conn {
	t.Helper()
	nc, err := nats.Connect(emb.ClientURL())
	if err != nil {
		t.Fatalf("connect: %v", err)
	}
	t.Cleanup(nc.Close)
	return nc
}

func jetStream(t testing.TB, nc *nats.Conn) jetstream.JetStream {
	t.Helper()
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	return js
}

func ctxFor(t *testing.T, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}

func (r *natsRig) provision(t *testing.T, c bus.StreamsConfig) {
	t.Helper()
	if err := bus.Provision(ctxFor(t, 10*time.Second), r.js, c); err != nil {
		t.Fatalf("Provision: %v", err)
	}
}

func (r *natsRig) consumerInfo(t *testing.T) *jetstream.ConsumerInfo {
	t.Helper()
	ctx := ctxFor(t, 5*time.Second)
	c, err := r.js.Consumer(ctx, events.DefaultContentStream, "purgebus")
	if err != nil {
		t.Fatal(err)
	}
	info, err := c.Info(ctx)
	if err != nil {
		t.Fatal(err)
	}
	return info
}

func (r *natsRig) streamMsgs(t *testing.T, name string) uint64 {
	t.Helper()
	ctx := ctxFor(t, 5*time.Second)
	s, err := r.js.Stream(ctx, name)
	if err != nil {
		t.Fatal(err)
	}
	info, err := s.Info(ctx)
	if err != nil {
		t.Fatal(err)
	}
	return info.State.Msgs
}

func TestProvisionCreatesStreamsAndDurable(t *testing.T) {
	r := startNATS(t)
	r.provision(t, bus.StreamsConfig{})
	r.provision(t, bus.StreamsConfig{}) // idempotent
	ctx := ctxFor(t, 10*time.Second)
	for _, want := range []struct {
		name      string
		subjects  []string
		retention jetstream.RetentionPolicy
		maxAge    time.Duration
	}{
		{events.DefaultContentStream, events.ContentSubjects, jetstream.WorkQueuePolicy, 0},
		{events.DefaultResultStream, []string{"purge.result.>"}, jetstream.LimitsPolicy, 7 * 24 * time.Hour},
		{events.DefaultDeadLetterStream, []string{"purge.deadletter.>"}, jetstream.LimitsPolicy, 30 * 24 * time.Hour},
	} {
		s, err := r.js.Stream(ctx, want.name)
		if err != nil {
			t.Fatalf("stream %s: %v", want.name, err)
		}
		cfg := s.CachedInfo().Config
		if strings.Join(cfg.Subjects, " ") != strings.Join(want.subjects, " ") || cfg.Retention != want.retention || cfg.MaxAge != want.maxAge || cfg.Duplicates != 2*time.Minute {
			t.Errorf("stream %s: subjects %v retention %v max age %v duplicates %v", want.name, cfg.Subjects, cfg.Retention, cfg.MaxAge, cfg.Duplicates)
		}
	}
	names := 0
	for range r.js.StreamNames(ctx).Name() {
		names++
	}
	// The three streams and the object store of large dead letters'
	// payloads.
	if names != 4 {
		t.Errorf("%d streams after provisioning twice, want 4", names)
	}
	if _, err := r.js.ObjectStore(ctx, bus.DefaultPayloadBucket); err != nil {
		t.Errorf("object store %s: %v", bus.DefaultPayloadBucket, err)
	}
	info := r.consumerInfo(t)
	if c := info.Config; c.Durable != "purgebus" || c.AckPolicy != jetstream.AckExplicitPolicy || c.MaxAckPending != 1000 || c.AckWait != 30*time.Second || c.MaxDeliver != bus.DefaultMaxDeliver {
		t.Errorf("durable config %+v", c)
	}
	// The durable's tunables follow the configuration.
	r.provision(t, bus.StreamsConfig{MaxAckPending: 50, AckWait: 10 * time.Second})
	if c := r.consumerInfo(t).Config; c.MaxAckPending != 50 || c.AckWait != 10*time.Second {
		t.Errorf("after re-provisioning: MaxAckPending %d AckWait %v, want 50 and 10s", c.MaxAckPending, c.AckWait)
	}
}

func TestProvisionNamesOverlappingStream(t *testing.T) {
	for _, subjects := range [][]string{
		{"content.changed"},
		{"content.changed.>"},
		{"content.>"},
		{"content.changed", "content.changed.>"},
	} {
		t.Run(strings.Join(subjects, ","), func(t *testing.T) {
			r := startNATS(t)
			ctx := ctxFor(t, 10*time.Second)
			if _, err := r.js.CreateStream(ctx, jetstream.StreamConfig{Name: "LEGACY_EVENTS", Subjects: subjects}); err != nil {
				t.Fatal(err)
			}
			err := bus.Provision(ctx, r.js, bus.StreamsConfig{})
			if err == nil {
				t.Fatal("Provision succeeded next to a stream capturing the same subjects")
			}
			if !strings.Contains(err.Error(), "LEGACY_EVENTS") || !strings.Contains(err.Error(), events.DefaultContentStream) {
				t.Errorf("error %q does not name the overlapping stream LEGACY_EVENTS and the stream being created", err)
			}
			if strings.Count(err.Error(), "LEGACY_EVENTS") != 1 {
				t.Errorf("error %q names the overlapping stream more than once", err)
			}
		})
	}
}

// newSubscriber provisions the streams (with cfg) and subscribes.
func (r *natsRig) subscribe(t *testing.T, scfg bus.StreamsConfig, cfg bus.SubscriberConfig) (*bus.Subscriber, <-chan *message.Message) {
	t.Helper()
	r.provision(t, scfg)
	cfg.Stream, cfg.Durable = events.DefaultContentStream, "purgebus"
	sub, err := bus.NewSubscriber(r.js, cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = sub.Close() })
	out, err := sub.Subscribe(context.Background(), "ignored")
	if err != nil {
		t.Fatalf("Subscribe: %v", err)
	}
	return sub, out
}

func receive(t *testing.T, out <-chan *message.Message) *message.Message {
	t.Helper()
	select {
	case m, ok := <-out:
		if !ok {
			t.Fatal("subscriber channel closed")
		}
		return m
	case <-time.After(10 * time.Second):
		t.Fatal("no message within 10 s")
	}
	return nil
}

func TestSubscriberDeliversWithMetadata(t *testing.T) {
	r := startNATS(t)
	_, out := r.subscribe(t, bus.StreamsConfig{}, bus.SubscriberConfig{})
	ctx := ctxFor(t, 10*time.Second)

	// Core NATS, no headers.
	if err := r.nc.Publish("content.changed", []byte(`{"urls":["https://a"]}`)); err != nil {
		t.Fatal(err)
	}
	if err := r.nc.Flush(); err != nil {
		t.Fatal(err)
	}
	// JetStream with a message ID.
	if _, err := r.js.Publish(ctx, "content.changed.blog", []byte("not even json \xff"), jetstream.WithMsgID("id-b")); err != nil {
		t.Fatal(err)
	}
	// Core NATS with headers.
	hm := nats.NewMsg("content.changed.shop")
	hm.Data = []byte(`{}`)
	hm.Header.Set(jetstream.MsgIDHeader, "id-c")
	hm.Header.Set(bus.CorrelationIDHeader, "corr-c")
	if err := r.nc.PublishMsg(hm); err != nil {
		t.Fatal(err)
	}

	want := []struct {
		subject, payload, msgID, corrID string
	}{
		{"content.changed", `{"urls":["https://a"]}`, "", ""},
		{"content.changed.blog", "not even json \xff", "id-b", ""},
		{"content.changed.shop", `{}`, "id-c", "corr-c"},
	}
	before := time.Now().Add(-time.Second)
	for i, w := range want {
		m := receive(t, out)
		seq := uint64(i + 1)
		md := m.Metadata
		if string(m.Payload) != w.payload {
			t.Errorf("message %d payload %q, want %q untouched", seq, m.Payload, w.payload)
		}
		if m.UUID != bus.PositionID(events.DefaultContentStream, seq) {
			t.Errorf("message %d UUID %s, want its position ID", seq, m.UUID)
		}
		if md.Get(bus.MetaSubject) != w.subject || md.Get(bus.MetaStream) != events.DefaultContentStream ||
			md.Get(bus.MetaStreamSeq) != strconv.FormatUint(seq, 10) || md.Get(bus.MetaNumDelivered) != "1" ||
			md.Get(bus.MetaMsgID) != w.msgID || middleware.MessageCorrelationID(m) != w.corrID {
			t.Errorf("message %d metadata %v, want subject %s seq %d msgID %q correlation %q", seq, md, w.subject, seq, w.msgID, w.corrID)
		}
		at, err := time.Parse(time.RFC3339Nano, md.Get(bus.MetaReceivedAt))
		if err != nil || at.Before(before) || at.After(time.Now().Add(time.Second)) {
			t.Errorf("message %d received_at %q (%v)", seq, md.Get(bus.MetaReceivedAt), err)
		}
		if m.Context().Err() != nil {
			t.Errorf("message %d context already done", seq)
		}
		m.Ack()
	}
	testwait.Until(t, 10*time.Second, "acked messages to leave the work queue", func() bool {
		return r.streamMsgs(t, events.DefaultContentStream) == 0 && r.consumerInfo(t).NumAckPending == 0
	})
}

func TestSubscriberNackRedelivers(t *testing.T) {
	r := startNATS(t)
	var mu sync.Mutex
	var naks []uint64
	_, out := r.subscribe(t, bus.StreamsConfig{}, bus.SubscriberConfig{NakDelay: func(n uint64) time.Duration {
		mu.Lock()
		naks = append(naks, n)
		mu.Unlock()
		return 20 * time.Millisecond
	}})
	if _, err := r.js.Publish(ctxFor(t, 5*time.Second), "content.changed", []byte("x")); err != nil {
		t.Fatal(err)
	}
	for n := 1; n <= 3; n++ {
		m := receive(t, out)
		if got := m.Metadata.Get(bus.MetaNumDelivered); got != strconv.Itoa(n) {
			t.Fatalf("delivery %d has %s=%s", n, bus.MetaNumDelivered, got)
		}
		if m.UUID != bus.PositionID(events.DefaultContentStream, 1) {
			t.Errorf("delivery %d UUID %s changed", n, m.UUID)
		}
		if n < 3 {
			m.Nack()
			continue
		}
		m.Ack()
	}
	mu.Lock()
	if fmt.Sprint(naks) != "[1 2]" {
		t.Errorf("NakDelay called with %v, want [1 2]", naks)
	}
	mu.Unlock()
	testwait.Until(t, 10*time.Second, "the stream to empty", func() bool { return r.streamMsgs(t, events.DefaultContentStream) == 0 })
}

// TestSubscriberKeepsManyInFlight: the subscriber hands over as many
// messages as the durable's MaxAckPending allows before any is acked.
func TestSubscriberKeepsManyInFlight(t *testing.T) {
	const total, maxAckPending = 2000, 1000
	r := startNATS(t)
	_, out := r.subscribe(t, bus.StreamsConfig{MaxAckPending: maxAckPending}, bus.SubscriberConfig{})
	for i := range total {
		if _, err := r.js.PublishAsync("content.changed", []byte(strconv.Itoa(i))); err != nil {
			t.Fatal(err)
		}
	}
	select {
	case <-r.js.PublishAsyncComplete():
	case <-time.After(20 * time.Second):
		t.Fatal("publishing did not complete")
	}

	var held []*message.Message
	deadline := time.After(30 * time.Second)
	for len(held) < maxAckPending {
		select {
		case m := <-out:
			held = append(held, m)
		case <-deadline:
			t.Fatalf("only %d messages in flight at once, want %d", len(held), maxAckPending)
		}
	}
	if n := r.consumerInfo(t).NumAckPending; n != maxAckPending {
		t.Errorf("NumAckPending %d with %d held, want %d", n, len(held), maxAckPending)
	}
	// Release them all and take the rest.
	seen := map[string]bool{}
	for _, m := range held {
		seen[string(m.Payload)] = true
		m.Ack()
	}
	for len(seen) < total {
		select {
		case m := <-out:
			seen[string(m.Payload)] = true
			m.Ack()
		case <-time.After(30 * time.Second):
			t.Fatalf("%d of %d messages delivered", len(seen), total)
		}
	}
	testwait.Until(t, 20*time.Second, "the stream to empty", func() bool { return r.streamMsgs(t, events.DefaultContentStream) == 0 })
}

func TestSubscriberCloseWaitsForInFlight(t *testing.T) {
	r := startNATS(t)
	sub, out := r.subscribe(t, bus.StreamsConfig{}, bus.SubscriberConfig{})
	if _, err := r.js.Publish(ctxFor(t, 5*time.Second), "content.changed", []byte("x")); err != nil {
		t.Fatal(err)
	}
	m := receive(t, out)
	closed := make(chan error, 1)
	go func() { closed <- sub.Close() }()
	select {
	case err := <-closed:
		t.Fatalf("Close returned (%v) while a message was in flight", err)
	case <-time.After(300 * time.Millisecond):
	}
	m.Ack()
	select {
	case err := <-closed:
		if err != nil {
			t.Fatalf("Close: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Close did not return after the last message was acked")
	}
	select {
	case _, ok := <-out:
		if ok {
			t.Error("a message was delivered after Close")
		}
	case <-time.After(10 * time.Second):
		t.Error("the subscriber's channel was not closed")
	}
	testwait.Until(t, 10*time.Second, "the ack to reach JetStream", func() bool { return r.streamMsgs(t, events.DefaultContentStream) == 0 })
	if err := sub.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
	if _, err := sub.Subscribe(context.Background(), "x"); err == nil {
		t.Error("Subscribe after Close succeeded")
	}
}

func TestSubscriberCloseGivesUpAfterCloseTimeout(t *testing.T) {
	r := startNATS(t)
	sub, out := r.subscribe(t, bus.StreamsConfig{}, bus.SubscriberConfig{CloseTimeout: 200 * time.Millisecond})
	if _, err := r.js.Publish(ctxFor(t, 5*time.Second), "content.changed", []byte("x")); err != nil {
		t.Fatal(err)
	}
	m := receive(t, out)
	start := time.Now()
	if err := sub.Close(); err == nil {
		t.Error("Close = nil with a message never acked")
	}
	if el := time.Since(start); el < 200*time.Millisecond || el > 5*time.Second {
		t.Errorf("Close gave up after %v, want about CloseTimeout (200 ms)", el)
	}
	m.Ack() // let the message's goroutine end
}

// TestSubscriberCloseWhileDelivering closes the subscriber while messages
// stream in and are acked, to catch in-flight accounting races (-race).
func TestSubscriberCloseWhileDelivering(t *testing.T) {
	for round := range 5 {
		t.Run(strconv.Itoa(round), func(t *testing.T) {
			r := startNATS(t)
			sub, out := r.subscribe(t, bus.StreamsConfig{}, bus.SubscriberConfig{CloseTimeout: 10 * time.Second})
			for i := range 300 {
				if _, err := r.js.PublishAsync("content.changed", []byte(strconv.Itoa(i))); err != nil {
					t.Fatal(err)
				}
			}
			<-r.js.PublishAsyncComplete()
			var acked atomic.Int64
			done := make(chan struct{})
			go func() {
				defer close(done)
				for m := range out {
					m.Ack()
					acked.Add(1)
				}
			}()
			testwait.Until(t, 10*time.Second, "some messages", func() bool { return acked.Load() > int64(10*round) })
			if err := sub.Close(); err != nil {
				t.Errorf("Close: %v", err)
			}
			select {
			case <-done:
			case <-time.After(10 * time.Second):
				t.Fatal("channel not closed after Close")
			}
			// Every message handed over was acked; the rest stay stored.
			testwait.Until(t, 10*time.Second, "acks to settle", func() bool {
				return r.streamMsgs(t, events.DefaultContentStream) == uint64(300-acked.Load())
			})
		})
	}
}

func TestSubscriberStopsWithContext(t *testing.T) {
	r := startNATS(t)
	r.provision(t, bus.StreamsConfig{})
	sub, err := bus.NewSubscriber(r.js, bus.SubscriberConfig{Stream: events.DefaultContentStream, Durable: "purgebus"})
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Close()
	ctx, cancel := context.WithCancel(context.Background())
	out, err := sub.Subscribe(ctx, "x")
	if err != nil {
		t.Fatal(err)
	}
	cancel()
	select {
	case _, ok := <-out:
		if ok {
			t.Error("message after the context ended")
		}
	case <-time.After(10 * time.Second):
		t.Fatal("channel not closed after the context ended")
	}
}

func TestNewSubscriberNeedsStreamAndDurable(t *testing.T) {
	for _, cfg := range []bus.SubscriberConfig{{}, {Stream: "CONTENT"}, {Durable: "purgebus"}} {
		if _, err := bus.NewSubscriber(nil, cfg); err == nil {
			t.Errorf("NewSubscriber(%+v) = nil error", cfg)
		}
	}
	r := startNATS(t)
	sub, err := bus.NewSubscriber(r.js, bus.SubscriberConfig{Stream: "CONTENT", Durable: "missing"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := sub.Subscribe(ctxFor(t, 5*time.Second), "x"); err == nil || !strings.Contains(err.Error(), "missing") {
		t.Errorf("Subscribe to a durable that does not exist: %v", err)
	}
}

func TestPublisherDeduplicatesByMsgID(t *testing.T) {
	for _, tc := range []struct {
		name   string
		msgIDs []string
		want   uint64
	}{
		{"same ID twice", []string{"result:ev-1:1", "result:ev-1:1"}, 1},
		{"different IDs", []string{"result:ev-1:1", "result:ev-1:2"}, 2},
		{"no ID is never deduplicated", []string{"", ""}, 2},
		{"mixed", []string{"a", "b", "a", "", "b"}, 3},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := startNATS(t)
			r.provision(t, bus.StreamsConfig{})
			pub, err := bus.NewPublisher(connect(t, r.emb), 0)
			if err != nil {
				t.Fatal(err)
			}
			for _, id := range tc.msgIDs {
				if err := pub.Publish(ctxFor(t, 5*time.Second), "purge.result.succeeded.ev-1", []byte(`{"event_id":"ev-1"}`), id); err != nil {
					t.Fatalf("Publish(%q): %v", id, err)
				}
			}
			if n := r.streamMsgs(t, events.DefaultResultStream); n != tc.want {
				t.Errorf("%d messages stored, want %d", n, tc.want)
			}
		})
	}
}

func TestPublisherErrors(t *testing.T) {
	r := startNATS(t)
	r.provision(t, bus.StreamsConfig{})
	pub, err := bus.NewPublisher(connect(t, r.emb), 10)
	if err != nil {
		t.Fatal(err)
	}
	if err := pub.Publish(ctxFor(t, 5*time.Second), "no.stream.here", []byte("x"), "id"); err == nil {
		t.Error("Publish to a subject no stream captures succeeded")
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	err = pub.Publish(ctx, "purge.result.failed.x", []byte("x"), "")
	if err != nil && !errors.Is(err, context.Canceled) {
		t.Errorf("Publish with a cancelled context: %v, want nil (stored anyway) or context.Canceled", err)
	}
	// Many concurrent publishers share the window, each waits for its own ack.
	var wg sync.WaitGroup
	for i := range 100 {
		wg.Go(func() {
			if err := pub.Publish(ctxFor(t, 10*time.Second), "purge.result.succeeded.c"+strconv.Itoa(i), []byte("x"), "c"+strconv.Itoa(i)); err != nil {
				t.Errorf("concurrent Publish %d: %v", i, err)
			}
		})
	}
	wg.Wait()
	if n := r.streamMsgs(t, events.DefaultResultStream); n < 100 {
		t.Errorf("%d results stored after 100 acknowledged publishes", n)
	}
}

func TestPositionID(t *testing.T) {
	// Stable across releases: a redelivered event, or one read after an
	// upgrade, keeps its ID and its result's subject.
	golden := map[string]string{
		"CONTENT:1":                    "93d58fc2-8e54-557f-8840-d0ccd856d314",
		"CONTENT:18446744073709551615": "54e0b0ba-ba3b-5122-afc7-a09012b009c1",
	}
	for pos, want := range golden {
		stream, seqStr, _ := strings.Cut(pos, ":")
		seq, _ := strconv.ParseUint(seqStr, 10, 64)
		if got := bus.PositionID(stream, seq); got != want {
			t.Errorf("PositionID(%s, %d) = %s, want %s", stream, seq, got, want)
		}
	}
	seen := map[string]string{}
	for _, stream := range []string{"CONTENT", "OTHER", "CONTENT1"} {
		for _, seq := range []uint64{1, 2, 11, 12} {
			id := bus.PositionID(stream, seq)
			if id != bus.PositionID(stream, seq) {
				t.Fatalf("PositionID(%s, %d) not deterministic", stream, seq)
			}
			u, err := uuid.Parse(id)
			if err != nil || u.Version() != 5 {
				t.Errorf("PositionID(%s, %d) = %s is not a version-5 UUID", stream, seq, id)
			}
			if !events.ValidID(id) {
				t.Errorf("PositionID %s is not a valid event ID", id)
			}
			key := fmt.Sprintf("%s:%d", stream, seq)
			if prev, dup := seen[id]; dup {
				t.Errorf("PositionID collides for %s and %s", prev, key)
			}
			seen[id] = key
		}
	}
}

func TestStartEmbedded(t *testing.T) {
	for _, listen := range []string{"nope", "127.0.0.1:port"} {
		if e, err := bus.StartEmbedded(bus.EmbeddedConfig{Listen: listen, DataDir: t.TempDir()}); err == nil {
			e.Shutdown()
			t.Errorf("StartEmbedded(%q) succeeded", listen)
		}
	}
	r := startNATS(t)
	if u := r.emb.ClientURL(); !strings.HasPrefix(u, "nats://127.0.0.1:") || strings.HasSuffix(u, ":0") {
		t.Errorf("ClientURL %q, want a loopback URL with the port picked", u)
	}
	// In-process connections work too.
	nc, err := nats.Connect("", nats.InProcessServer(r.emb.Server()))
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	if !nc.IsConnected() {
		t.Error("in-process connection not connected")
	}
}

// TestPublisherWithoutDeadline publishes as the handler does, with a
// context without a deadline (the publisher's prepared stall option), and
// checks what is stored: the message ID header, deduplication and data.
func TestPublisherWithoutDeadline(t *testing.T) {
	r := startNATS(t)
	r.provision(t, bus.StreamsConfig{})
	nc := connect(t, r.emb)
	pub, err := bus.NewPublisher(nc, 0)
	if err != nil {
		t.Fatal(err)
	}
	for range 2 {
		if err := pub.Publish(context.Background(), "purge.result.succeeded.ev-1", []byte(`{"event_id":"ev-1"}`), "result:ev-1:7"); err != nil {
			t.Fatal(err)
		}
	}
	if err := pub.Publish(context.Background(), "purge.result.succeeded.ev-2", []byte(`{"event_id":"ev-2"}`), ""); err != nil {
		t.Fatal(err)
	}
	if n := r.streamMsgs(t, events.DefaultResultStream); n != 2 {
		t.Fatalf("%d messages stored, want 2", n)
	}
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	s, err := js.Stream(ctxFor(t, 5*time.Second), events.DefaultResultStream)
	if err != nil {
		t.Fatal(err)
	}
	for seq, want := range map[uint64]struct{ data, id string }{1: {`{"event_id":"ev-1"}`, "result:ev-1:7"}, 2: {`{"event_id":"ev-2"}`, ""}} {
		m, err := s.GetMsg(ctxFor(t, 5*time.Second), seq)
		if err != nil {
			t.Fatal(err)
		}
		if string(m.Data) != want.data || m.Header.Get(jetstream.MsgIDHeader) != want.id {
			t.Errorf("message %d: %q with Nats-Msg-Id %q, want %q with %q", seq, m.Data, m.Header.Get(jetstream.MsgIDHeader), want.data, want.id)
		}
		if want.id == "" && len(m.Header) != 0 {
			t.Errorf("message %d has headers %v, want none", seq, m.Header)
		}
	}
}

// TestPublisherRetriesLostAcks plays a stream that loses acknowledgements,
// as one does whose leader stops: a subscriber in its place answers only
// after it has swallowed the first lost publishes. A lost acknowledgement
// must not leave Publish waiting forever; it sends again with the same
// message ID, and gives up with the timeout's error after three attempts.
func TestPublisherRetriesLostAcks(t *testing.T) {
	for _, tc := range []struct {
		lost     int
		wantErr  error
		attempts int
	}{
		{lost: 0, attempts: 1},
		{lost: 1, attempts: 2},
		{lost: 2, attempts: 3},
		{lost: 3, attempts: 3, wantErr: jetstream.ErrAsyncPublishTimeout},
	} {
		t.Run(fmt.Sprintf("lost %d", tc.lost), func(t *testing.T) {
			r := startNATS(t)
			stream := connect(t, r.emb)
			var (
				mu  sync.Mutex
				ids []string
			)
			sub, err := stream.Subscribe("lossy.>", func(m *nats.Msg) {
				mu.Lock()
				ids = append(ids, m.Header.Get(jetstream.MsgIDHeader))
				n := len(ids)
				mu.Unlock()
				if n > tc.lost {
					_ = m.Respond([]byte(`{"stream":"LOSSY","seq":1}`))
				}
			})
			if err != nil {
				t.Fatal(err)
			}
			defer sub.Unsubscribe()
			if err := stream.Flush(); err != nil {
				t.Fatal(err)
			}
			pub, err := bus.NewPublisherTimeouts(connect(t, r.emb), 0, 100*time.Millisecond, 10*time.Millisecond)
			if err != nil {
				t.Fatal(err)
			}
			err = pub.Publish(ctxFor(t, 10*time.Second), "lossy.result", []byte("x"), "result:ev-1:1")
			if !errors.Is(err, tc.wantErr) || (err == nil) != (tc.wantErr == nil) {
				t.Errorf("Publish: %v, want %v", err, tc.wantErr)
			}
			mu.Lock()
			defer mu.Unlock()
			if len(ids) != tc.attempts {
				t.Errorf("%d attempts, want %d", len(ids), tc.attempts)
			}
			for i, id := range ids {
				if id != "result:ev-1:1" {
					t.Errorf("attempt %d has Nats-Msg-Id %q, want the first's", i+1, id)
				}
			}
		})
	}
}
