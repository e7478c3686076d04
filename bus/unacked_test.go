package bus

import (
	"testing"
	"time"

	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// testMsg is a jetstream.Msg with a payload and headers; nothing else of
// it is used.
type testMsg struct {
	jetstream.Msg
	data   []byte
	header nats.Header
}

func (m testMsg) Data() []byte         { return m.data }
func (m testMsg) Headers() nats.Header { return m.header }

func inflight(seq, delivered uint64, data string, msgID string) *inflightMsg {
	h := nats.Header{}
	if msgID != "" {
		h.Set(jetstream.MsgIDHeader, msgID)
	}
	return &inflightMsg{m: testMsg{data: []byte(data), header: h}, wm: message.NewMessage(PositionID("CONTENT", seq), nil), seq: seq, delivered: delivered}
}

// TestUnacked follows events through hand-offs, naks and acks: the
// oldest is the one first taken, whatever its redeliveries; acked events,
// last deliveries and events overdue after a nak (taken by another
// replica) are forgotten; each stuck event is reported once, named as
// the handler names it.
func TestUnacked(t *testing.T) {
	t0 := time.Date(2026, 12, 4, 12, 0, 0, 0, time.UTC)
	u := newUnacked(30 * time.Second)
	a := inflight(1, 1, `{"id":"ev-a","urls":["x"]}`, "")
	b := inflight(2, 1, `not json`, "msg-b")
	c := inflight(3, 1, `{}`, "")
	u.handed(a, t0)
	u.handed(b, t0.Add(time.Second))
	u.handed(c, t0.Add(2*time.Second))

	oldest, ok, stuck := u.scan(t0.Add(5*time.Second), time.Minute)
	if !ok || oldest.EventID != "ev-a" || oldest.StreamSeq != 1 || len(stuck) != 0 {
		t.Fatalf("oldest %+v %v, stuck %v", oldest, ok, stuck)
	}
	// a fails and comes back: still the oldest, since its first hand-off.
	u.nacked(a, 10*time.Second, false, t0.Add(6*time.Second))
	a2 := inflight(1, 2, `{"id":"ev-a","urls":["x"]}`, "")
	u.handed(a2, t0.Add(16*time.Second))
	u.acked(c)
	oldest, _, stuck = u.scan(t0.Add(90*time.Second), time.Minute)
	if oldest.EventID != "ev-a" || oldest.Delivered != 2 || len(stuck) != 2 || stuck[0].EventID == stuck[1].EventID {
		t.Fatalf("oldest %+v, stuck %+v: want a and b stuck", oldest, stuck)
	}
	for _, s := range stuck {
		if s.EventID != "ev-a" && s.EventID != "msg-b" {
			t.Errorf("stuck event named %q", s.EventID)
		}
	}
	if _, _, again := u.scan(t0.Add(100*time.Second), time.Minute); len(again) != 0 {
		t.Errorf("reported again: %+v", again)
	}
	// a's last delivery fails: it never comes back. b is nacked and goes
	// to another replica: forgotten once overdue.
	u.nacked(a2, time.Second, true, t0.Add(101*time.Second))
	u.nacked(b, 5*time.Second, false, t0.Add(101*time.Second))
	if oldest, ok, _ := u.scan(t0.Add(120*time.Second), time.Minute); !ok || oldest.StreamSeq != 2 {
		t.Errorf("before b is overdue: oldest %+v %v", oldest, ok)
	}
	if oldest, ok, _ := u.scan(t0.Add(140*time.Second), time.Minute); ok {
		t.Errorf("after b is overdue: oldest %+v, want none", oldest)
	}
}

// BenchmarkUnacked is the tracker's cost per event on the usual path: a
// hand-off and an ack.
func BenchmarkUnacked(b *testing.B) {
	u := newUnacked(time.Minute)
	now := time.Now()
	fs := make([]*inflightMsg, 1000)
	for i := range fs {
		fs[i] = inflight(uint64(i), 1, `{}`, "")
	}
	b.ReportAllocs()
	for i := range b.N {
		f := fs[i%len(fs)]
		u.handed(f, now)
		u.acked(f)
	}
}
