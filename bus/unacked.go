package bus

import (
	"fmt"
	"sync"
	"time"

	"github.com/purgebus/purgebus/events"
)

// UnackedEvent is an event this subscriber was given and has not acked
// yet: being handled, or nacked and waiting for its redelivery.
type UnackedEvent struct {
	// EventID is the event's ID as the handler sees it (its "id", else
	// its Nats-Msg-Id, else its position's UUID).
	EventID   string
	StreamSeq uint64
	// Delivered counts the event's deliveries so far.
	Delivered uint64
	// Since is when this process first took the event.
	Since time.Time
}

// Age is how long the event has been unacknowledged at now.
func (e UnackedEvent) Age(now time.Time) time.Duration { return now.Sub(e.Since) }

func (e UnackedEvent) String() string {
	return fmt.Sprintf("event %s (stream sequence %d, %d deliveries) unacknowledged for %s",
		e.EventID, e.StreamSeq, e.Delivered, time.Since(e.Since).Round(time.Second))
}

// unacked tracks the events a subscriber holds unacknowledged, by stream
// sequence, from their first hand-off in this process to their ack. They
// are at most the durable's MaxAckPending: JetStream counts a nacked
// event as pending until it is acked. An event nacked here may come back
// to another replica, or never (its last delivery): its entry goes once
// it is overdue, its nak delay and a grace past.
type unacked struct {
	grace time.Duration

	mu     sync.Mutex
	events map[uint64]*unackedEntry
}

type unackedEntry struct {
	UnackedEvent
	msg    *inflightMsg // while handed out, else nil
	due    time.Time    // after a nak: when it is overdue
	logged bool         // reported stuck
}

func newUnacked(grace time.Duration) *unacked {
	return &unacked{grace: grace, events: map[uint64]*unackedEntry{}}
}

// handed records the hand-off of f.
func (u *unacked) handed(f *inflightMsg, now time.Time) {
	u.mu.Lock()
	e := u.events[f.seq]
	if e == nil {
		e = &unackedEntry{UnackedEvent: UnackedEvent{StreamSeq: f.seq, Since: now}}
		u.events[f.seq] = e
	}
	e.Delivered, e.msg, e.due = f.delivered, f, time.Time{}
	u.mu.Unlock()
}

// acked forgets f's event.
func (u *unacked) acked(f *inflightMsg) {
	u.mu.Lock()
	delete(u.events, f.seq)
	u.mu.Unlock()
}

// nacked records that f's event is to come back after delay; last means
// it will not (its last delivery), and it is forgotten.
func (u *unacked) nacked(f *inflightMsg, delay time.Duration, last bool, now time.Time) {
	u.mu.Lock()
	defer u.mu.Unlock()
	e := u.events[f.seq]
	if e == nil {
		return
	}
	if last {
		delete(u.events, f.seq)
		return
	}
	if e.EventID == "" {
		e.EventID = eventID(f)
	}
	e.msg, e.due = nil, now.Add(delay+u.grace)
}

// eventID is the ID the handler gives f's event.
func eventID(f *inflightMsg) string {
	if id := events.PeekID(f.m.Data()); id != "" {
		return id
	}
	if h := f.m.Headers(); h != nil {
		if id := h.Get("Nats-Msg-Id"); events.ValidID(id) {
			return id
		}
	}
	return f.wm.UUID
}

// scan forgets the overdue events and returns the oldest of the rest, if
// any, and those unacknowledged for longer than stuckAfter that it had
// not reported yet (stuckAfter 0: none).
func (u *unacked) scan(now time.Time, stuckAfter time.Duration) (oldest UnackedEvent, ok bool, stuck []UnackedEvent) {
	u.mu.Lock()
	defer u.mu.Unlock()
	for seq, e := range u.events {
		if !e.due.IsZero() && now.After(e.due) {
			delete(u.events, seq)
			continue
		}
		if stuckAfter > 0 && !e.logged && now.Sub(e.Since) > stuckAfter {
			e.logged = true
			u.name(e)
			stuck = append(stuck, e.UnackedEvent)
		}
		if !ok || e.Since.Before(oldest.Since) {
			u.name(e)
			oldest, ok = e.UnackedEvent, true
		}
	}
	return oldest, ok, stuck
}

// name sets e's event ID from the message it holds, if not known yet.
// u.mu is held.
func (u *unacked) name(e *unackedEntry) {
	if e.EventID == "" && e.msg != nil {
		e.EventID = eventID(e.msg)
	}
}
