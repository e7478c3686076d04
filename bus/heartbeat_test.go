package bus

import (
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/nats-io/nats.go/jetstream"
)

// progressMsg is a jetstream.Msg that records when InProgress was sent.
type progressMsg struct {
	jetstream.Msg // nil: any other method panics
	mu            sync.Mutex
	at            []time.Time
}

func (m *progressMsg) InProgress() error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.at = append(m.at, time.Now())
	return nil
}

func (m *progressMsg) sent() []time.Time {
	m.mu.Lock()
	defer m.mu.Unlock()
	return append([]time.Time(nil), m.at...)
}

// TestHeartbeat: a message that waits has InProgress at most an interval
// after its hand-off and then at most an interval apart; one settled
// quickly has none; none is sent once a message is removed; the timer
// stops when nothing is in flight, and starts again with the next message.
func TestHeartbeat(t *testing.T) {
	const interval = 100 * time.Millisecond
	// Timers on a loaded machine (and under the race detector) fire
	// late: tolerate as much again.
	const slack = interval
	h := newHeartbeat(interval)

	long := &progressMsg{}
	start := time.Now()
	fl := &inflightMsg{m: long, last: start}
	h.add(fl)
	quick := &progressMsg{}
	fq := &inflightMsg{m: quick, last: time.Now()}
	h.add(fq)
	time.Sleep(interval / 8)
	h.remove(fq)

	time.Sleep(6 * interval)
	h.remove(fl)
	removed := time.Now()
	sent := long.sent()
	if len(sent) < 3 {
		t.Fatalf("%d InProgress in %v, want one every %v at most", len(sent), removed.Sub(start), interval)
	}
	prev := start
	for i, at := range append(sent, removed) {
		if gap := at.Sub(prev); gap > interval+slack {
			t.Errorf("InProgress %d came %v after the previous sign of life, want at most %v", i, gap, interval)
		}
		prev = at
	}
	if n := len(quick.sent()); n != 0 {
		t.Errorf("a message settled at once had %d InProgress", n)
	}

	time.Sleep(2 * interval)
	if n := len(long.sent()); n != len(sent) {
		t.Errorf("%d InProgress after the message was removed", n-len(sent))
	}
	h.mu.Lock()
	armed := h.armed
	h.mu.Unlock()
	if armed {
		t.Error("timer still set with nothing in flight")
	}

	again := &progressMsg{}
	fa := &inflightMsg{m: again, last: time.Now()}
	h.add(fa)
	defer h.remove(fa)
	for deadline := time.Now().Add(5 * time.Second); len(again.sent()) == 0; time.Sleep(interval / 10) {
		if time.Now().After(deadline) {
			t.Fatal("no InProgress for a message added after the timer stopped")
		}
	}
}

// TestHeartbeatConcurrent adds and removes messages from many goroutines
// while beats run (for the race detector), and checks that the list ends
// empty.
func TestHeartbeatConcurrent(t *testing.T) {
	h := newHeartbeat(4 * time.Millisecond)
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			for i := range 200 {
				f := &inflightMsg{m: &progressMsg{}, last: time.Now()}
				h.add(f)
				// Some live past a beat or two, most do not.
				time.Sleep(time.Duration(i%7) * time.Duration(i%3) * time.Millisecond)
				h.remove(f)
			}
		})
	}
	wg.Wait()
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.head != nil || h.tail != nil {
		t.Error("messages left in the list")
	}
}

func TestPositionIDIsNameBasedUUID(t *testing.T) {
	for _, stream := range []string{"", "CONTENT", "a-stream-name-long-enough-to-outgrow-the-stack-buffer-of-positionid-which-is-96-bytes-long"} {
		for _, seq := range []uint64{0, 1, 42, 1 << 40, 1<<64 - 1} {
			want := uuid.NewSHA1(eventNamespace, []byte(stream+":"+strconv.FormatUint(seq, 10))).String()
			if got := PositionID(stream, seq); got != want {
				t.Errorf("PositionID(%q, %d) = %s, want %s", stream, seq, got, want)
			}
		}
	}
}
