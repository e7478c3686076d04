package bus_test

import (
	"context"
	"math/rand/v2"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ThreeDotsLabs/watermill/message"

	"github.com/purgebus/purgebus/bus"
	"github.com/purgebus/purgebus/events"
	"github.com/purgebus/purgebus/internal/testwait"
)

func (r *natsRig) publishN(t *testing.T, from, n int) {
	t.Helper()
	for i := from; i < from+n; i++ {
		if _, err := r.js.PublishAsync("content.changed", []byte(strconv.Itoa(i))); err != nil {
			t.Fatal(err)
		}
	}
	select {
	case <-r.js.PublishAsyncComplete():
	case <-time.After(20 * time.Second):
		t.Fatal("publishing did not complete")
	}
}

// nothingFor fails if out delivers a message within d.
func nothingFor(t *testing.T, out <-chan *message.Message, d time.Duration, when string) {
	t.Helper()
	select {
	case m, ok := <-out:
		if ok {
			t.Fatalf("message %s delivered %s", m.Payload, when)
		}
		t.Fatalf("channel closed %s", when)
	case <-time.After(d):
	}
}

// TestSubscriberPauseResume: a paused subscriber hands nothing to the
// router and pulls nothing from JetStream; messages already handed over
// are still acked and kept alive; Resume takes the rest, and messages
// published while paused arrive on their first delivery.
func TestSubscriberPauseResume(t *testing.T) {
	const ackWait = time.Second
	r := startNATS(t)
	sub, out := r.subscribe(t, bus.StreamsConfig{AckWait: ackWait}, bus.SubscriberConfig{})
	r.publishN(t, 0, 10)
	var held []*message.Message
	for range 3 {
		held = append(held, receive(t, out))
	}
	// Let the subscriber's buffer fill and one hand-off block on out.
	time.Sleep(100 * time.Millisecond)
	sub.Pause()
	sub.Pause() // idempotent
	if !sub.Paused() {
		t.Error("Paused() = false after Pause")
	}
	r.publishN(t, 10, 5)
	// Longer than AckWait: the held messages are kept alive meanwhile.
	nothingFor(t, out, 2*ackWait, "while paused")
	// Nothing was delivered since the pause (not even redelivered after
	// AckWait), no pull request waits, and the 5 new messages were never
	// pulled. The 7 pulled but not handed over were naked: JetStream
	// counts them ack pending until it redelivers them.
	info := r.consumerInfo(t)
	if info.Delivered.Consumer != 10 || info.NumPending != 5 || info.NumWaiting != 0 || info.NumRedelivered != 0 || info.NumAckPending != 10 {
		t.Errorf("while paused: %d deliveries (want 10), %d pending (want 5), %d pull requests waiting (want 0), %d redelivered (want 0), %d ack pending (want 10)",
			info.Delivered.Consumer, info.NumPending, info.NumWaiting, info.NumRedelivered, info.NumAckPending)
	}
	// Messages handed over before the pause are acked as usual.
	for _, m := range held {
		m.Ack()
	}
	testwait.Until(t, 5*time.Second, "the held messages' acks", func() bool {
		return r.streamMsgs(t, events.DefaultContentStream) == 12
	})
	if err := sub.Resume(); err != nil {
		t.Fatalf("Resume: %v", err)
	}
	if err := sub.Resume(); err != nil { // idempotent
		t.Fatalf("second Resume: %v", err)
	}
	if sub.Paused() {
		t.Error("Paused() = true after Resume")
	}
	seen := map[string]string{}
	for len(seen) < 12 {
		m := receive(t, out)
		seen[string(m.Payload)] = m.Metadata.Get(bus.MetaNumDelivered)
		m.Ack()
	}
	for i := 3; i < 15; i++ {
		n, ok := seen[strconv.Itoa(i)]
		if !ok {
			t.Errorf("message %d not delivered after Resume", i)
		}
		// Published while paused: never pulled before, so a first
		// delivery. Those pulled before the pause were delivered once.
		if want := map[bool]string{true: "1", false: "2"}[i >= 10]; n != want {
			t.Errorf("message %d is delivery %s, want %s", i, n, want)
		}
	}
	testwait.Until(t, 10*time.Second, "the stream to empty", func() bool { return r.streamMsgs(t, events.DefaultContentStream) == 0 })
}

// TestSubscriberPauseStopsHandOffAtOnce: once Pause returns, nothing more
// reaches the router, round after round, while messages keep coming.
func TestSubscriberPauseStopsHandOffAtOnce(t *testing.T) {
	const total = 400
	r := startNATS(t)
	sub, out := r.subscribe(t, bus.StreamsConfig{}, bus.SubscriberConfig{PullBatch: 20})
	r.publishN(t, 0, total)
	seen := map[string]bool{}
	for round := 0; len(seen) < total; round++ {
		if round > 200 {
			t.Fatalf("only %d of %d messages after %d rounds", len(seen), total, round)
		}
		for range 1 + round%7 {
			select {
			case m := <-out:
				seen[string(m.Payload)] = true
				m.Ack()
			case <-time.After(10 * time.Second):
				t.Fatalf("no message within 10 s; %d of %d seen", len(seen), total)
			}
			if len(seen) == total {
				break
			}
		}
		sub.Pause()
		select {
		case m := <-out:
			t.Fatalf("round %d: message %s delivered after Pause returned", round, m.Payload)
		case <-time.After(20 * time.Millisecond):
		}
		if err := sub.Resume(); err != nil {
			t.Fatal(err)
		}
	}
	testwait.Until(t, 10*time.Second, "the stream to empty", func() bool { return r.streamMsgs(t, events.DefaultContentStream) == 0 })
}

// TestSubscriberPauseChaos pauses and resumes from several goroutines
// while messages flow, are acked and nacked, and the subscriber closes at
// the end: for -race, and nothing is lost.
func TestSubscriberPauseChaos(t *testing.T) {
	const total = 1000
	r := startNATS(t)
	sub, out := r.subscribe(t, bus.StreamsConfig{}, bus.SubscriberConfig{
		PullBatch: 50, NakDelay: func(uint64) time.Duration { return 10 * time.Millisecond },
	})
	r.publishN(t, 0, total)
	var acked sync.Map
	var count atomic.Int64
	done := make(chan struct{})
	go func() {
		defer close(done)
		for m := range out {
			go func() {
				if rand.IntN(10) == 0 {
					m.Nack()
					return
				}
				if _, dup := acked.LoadOrStore(string(m.Payload), true); !dup {
					count.Add(1)
				}
				m.Ack()
			}()
		}
	}()
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for range 3 {
		wg.Go(func() {
			for {
				select {
				case <-stop:
					return
				default:
				}
				if rand.IntN(2) == 0 {
					sub.Pause()
				} else if err := sub.Resume(); err != nil {
					t.Error(err)
				}
				_ = sub.Paused()
				time.Sleep(time.Duration(rand.IntN(3000)) * time.Microsecond)
			}
		})
	}
	time.Sleep(300 * time.Millisecond)
	close(stop)
	wg.Wait()
	if err := sub.Resume(); err != nil {
		t.Fatal(err)
	}
	testwait.Until(t, 30*time.Second, "every message acked", func() bool { return count.Load() == total })
	testwait.Until(t, 10*time.Second, "the stream to empty", func() bool { return r.streamMsgs(t, events.DefaultContentStream) == 0 })
	sub.Pause()
	if err := sub.Close(); err != nil {
		t.Errorf("Close while paused: %v", err)
	}
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("channel not closed after Close")
	}
	sub.Pause() // after Close: nothing, no panic
	if err := sub.Resume(); err != nil {
		t.Errorf("Resume after Close: %v", err)
	}
}

// TestSubscribeWhilePaused: a subscription made while paused starts
// pulling at Resume.
func TestSubscribeWhilePaused(t *testing.T) {
	r := startNATS(t)
	r.provision(t, bus.StreamsConfig{})
	sub, err := bus.NewSubscriber(r.js, bus.SubscriberConfig{Stream: events.DefaultContentStream, Durable: "purgebus"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = sub.Close() })
	sub.Pause()
	out, err := sub.Subscribe(context.Background(), "x")
	if err != nil {
		t.Fatal(err)
	}
	r.publishN(t, 0, 3)
	nothingFor(t, out, 300*time.Millisecond, "to a subscription made while paused")
	if n := r.consumerInfo(t).NumAckPending; n != 0 {
		t.Errorf("%d messages pulled while paused", n)
	}
	if err := sub.Resume(); err != nil {
		t.Fatal(err)
	}
	for range 3 {
		receive(t, out).Ack()
	}
}

// TestSubscriberAdoptsDurableAckWait: InProgress follows the durable's
// AckWait even when the subscriber was told another, so a long-running
// event is not redelivered.
func TestSubscriberAdoptsDurableAckWait(t *testing.T) {
	r := startNATS(t)
	_, out := r.subscribe(t, bus.StreamsConfig{AckWait: time.Second}, bus.SubscriberConfig{AckWait: time.Minute})
	r.publishN(t, 0, 1)
	m := receive(t, out)
	nothingFor(t, out, 2500*time.Millisecond, "while the first is in progress")
	if info := r.consumerInfo(t); info.NumRedelivered != 0 || info.NumAckPending != 1 {
		t.Errorf("redelivered %d, ack pending %d", info.NumRedelivered, info.NumAckPending)
	}
	m.Ack()
}

func TestSubscriberConfirmAcks(t *testing.T) {
	r := startNATS(t)
	_, out := r.subscribe(t, bus.StreamsConfig{}, bus.SubscriberConfig{ConfirmAcks: true, AckTimeout: time.Second})
	r.publishN(t, 0, 50)
	for range 50 {
		receive(t, out).Ack()
	}
	testwait.Until(t, 10*time.Second, "the stream to empty", func() bool { return r.streamMsgs(t, events.DefaultContentStream) == 0 })
}
