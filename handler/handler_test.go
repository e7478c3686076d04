package handler

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/ThreeDotsLabs/watermill/message/router/middleware"

	"github.com/purgebus/purgebus/akamai"
	"github.com/purgebus/purgebus/akamai/akamaitest"
	"github.com/purgebus/purgebus/bus"
	"github.com/purgebus/purgebus/events"
)

// published is one message a Handler published.
type published struct {
	subject string
	data    []byte
	msgID   string
}

// recorder is a Publisher that records what it is given. Publishing to
// NATS for real is covered by the bus and integration tests.
type recorder struct {
	mu   sync.Mutex
	msgs []published
	err  error // returned by Publish when set
}

func (r *recorder) Publish(_ context.Context, subject string, data []byte, msgID string) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.err != nil {
		return r.err
	}
	r.msgs = append(r.msgs, published{subject, append([]byte(nil), data...), msgID})
	return nil
}

func (r *recorder) all() []published {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.msgs)
}

// delivery describes the JetStream delivery a test message imitates.
type testDelivery struct {
	seq       uint64
	delivered int
	msgID     string // the Nats-Msg-Id header
	subject   string
	corrID    string
}

var receivedAt = time.Date(2026, 11, 25, 12, 0, 0, 123456789, time.UTC)

// newMsg builds a message the way bus.Subscriber does.
func newMsg(payload []byte, d testDelivery) *message.Message {
	if d.subject == "" {
		d.subject = "content.changed.test"
	}
	if d.delivered == 0 {
		d.delivered = 1
	}
	m := message.NewMessage(bus.PositionID(events.DefaultContentStream, d.seq), payload)
	m.Metadata.Set(bus.MetaSubject, d.subject)
	m.Metadata.Set(bus.MetaStream, events.DefaultContentStream)
	m.Metadata.Set(bus.MetaStreamSeq, strconv.FormatUint(d.seq, 10))
	m.Metadata.Set(bus.MetaNumDelivered, strconv.Itoa(d.delivered))
	m.Metadata.Set(bus.MetaMsgID, d.msgID)
	m.Metadata.Set(bus.MetaReceivedAt, receivedAt.Format(time.RFC3339Nano))
	if d.corrID != "" {
		middleware.SetCorrelationID(d.corrID, m)
	}
	return m
}

func eventJSON(t *testing.T, e events.ContentChanged) []byte {
	t.Helper()
	b, err := e.Encode()
	if err != nil {
		t.Fatal(err)
	}
	return b
}

type handlerRig struct {
	fake *akamaitest.Server
	c    *Coalescer
	pub  *recorder
	h    *Handler
}

func newHandlerRig(t *testing.T, ccfg CoalescerConfig, hcfg Config) *handlerRig {
	t.Helper()
	fake, client := newFake(t, akamaitest.Options{})
	if ccfg.Linger == 0 {
		ccfg.Linger = 10 * time.Millisecond
	}
	c := newCoalescer(t, client, ccfg)
	pub := &recorder{}
	return &handlerRig{fake: fake, c: c, pub: pub, h: New(c, pub, hcfg)}
}

func decodeResult(t *testing.T, p published) events.PurgeResult {
	t.Helper()
	r, err := events.DecodeResult(p.data)
	if err != nil {
		t.Fatalf("undecodable result on %s: %v: %s", p.subject, err, p.data)
	}
	if strings.Contains(string(p.data), "\n") {
		t.Errorf("result is not one line: %s", p.data)
	}
	return r
}

func TestHandleValidEvent(t *testing.T) {
	r := newHandlerRig(t, CoalescerConfig{}, Config{})
	urls := []string{"https://www.example.com/a", "https://www.example.com/b?x=1&y=2"}
	payload := eventJSON(t, events.ContentChanged{ID: "ev-1", URLs: urls, Tags: []string{"news"}, CPCodes: []int64{12345}, Source: "cms"})
	if err := r.h.Handle(newMsg(payload, testDelivery{seq: 7, msgID: "hdr-ignored"})); err != nil {
		t.Fatalf("Handle: %v", err)
	}
	msgs := r.pub.all()
	if len(msgs) != 1 {
		t.Fatalf("published %d messages, want exactly the result", len(msgs))
	}
	p := msgs[0]
	if p.subject != "purge.result.succeeded.ev-1" || p.msgID != "result:ev-1:7" {
		t.Errorf("published on %q with msgID %q, want purge.result.succeeded.ev-1 and result:ev-1:7", p.subject, p.msgID)
	}
	res := decodeResult(t, p)
	if res.EventID != "ev-1" || res.Outcome != events.OutcomeSucceeded || res.Source != "cms" || res.Subject != "content.changed.test" {
		t.Errorf("result %+v", res)
	}
	if !res.ReceivedAt.Equal(receivedAt) {
		t.Errorf("received_at %v, want the delivery's %v", res.ReceivedAt, receivedAt)
	}
	if res.CorrelationID != "ev-1" {
		t.Errorf("correlation_id %q, want the event ID without a correlation header", res.CorrelationID)
	}
	if len(res.Failures) != 0 {
		t.Errorf("failures %+v", res.Failures)
	}
	accepted := map[string]akamaitest.Purge{}
	for _, fp := range r.fake.Purges() {
		accepted[fp.ID] = fp
	}
	byType := map[akamai.Type][]string{}
	var latest time.Time
	for _, rp := range res.Purges {
		fp, ok := accepted[rp.PurgeID]
		if !ok {
			t.Errorf("purge %s is not one Akamai accepted", rp.PurgeID)
		}
		if fp.Type != rp.Type || rp.HTTPStatus != 201 || rp.EstimatedSeconds != akamaitest.DefaultEstimatedSeconds || rp.Action != akamai.ActionInvalidate || rp.Network != akamai.NetworkProduction {
			t.Errorf("purge %+v", rp)
		}
		byType[rp.Type] = append(byType[rp.Type], rp.Objects...)
		if e := rp.AcceptedAt.Add(time.Duration(rp.EstimatedSeconds) * time.Second); e.After(latest) {
			latest = e
		}
	}
	if !slices.Equal(byType[akamai.TypeURL], urls) || !slices.Equal(byType[akamai.TypeTag], []string{"news"}) || !slices.Equal(byType[akamai.TypeCPCode], []string{"12345"}) {
		t.Errorf("purged objects by type %v", byType)
	}
	if res.EstimatedCompleteAt.IsZero() || !res.EstimatedCompleteAt.Equal(latest) {
		t.Errorf("estimated_complete_at %v, want the latest accepted_at + estimated_seconds %v", res.EstimatedCompleteAt, latest)
	}
	if res.CompletedAt.Before(res.EstimatedCompleteAt.Add(-akamaitest.DefaultEstimatedSeconds * time.Second)) {
		t.Errorf("completed_at %v is before the purges were accepted", res.CompletedAt)
	}
}

// TestHandleResultsCarryOnlyOwnObjects: two events merged into one request
// each list only their own objects under the shared purge ID.
func TestHandleResultsCarryOnlyOwnObjects(t *testing.T) {
	// Three distinct URLs fill the batch: it goes once both are in.
	r := newHandlerRig(t, CoalescerConfig{Linger: 10 * time.Second, MaxObjects: map[akamai.Type]int{akamai.TypeURL: 3}}, Config{})
	shared := "https://www.example.com/shared"
	evs := map[string][]string{
		"ev-a": {"https://www.example.com/a", shared},
		"ev-b": {"https://www.example.com/b", shared},
	}
	var wg sync.WaitGroup
	seq := uint64(0)
	for id, urls := range evs {
		seq++
		m := newMsg(eventJSON(t, events.ContentChanged{ID: id, URLs: urls}), testDelivery{seq: seq})
		wg.Go(func() {
			if err := r.h.Handle(m); err != nil {
				t.Errorf("Handle %s: %v", id, err)
			}
		})
	}
	wg.Wait()
	if n := len(r.fake.Purges()); n != 1 {
		t.Fatalf("%d requests, want 1 shared request", n)
	}
	purgeID := r.fake.Purges()[0].ID
	msgs := r.pub.all()
	if len(msgs) != 2 {
		t.Fatalf("published %d results, want 2", len(msgs))
	}
	for _, p := range msgs {
		res := decodeResult(t, p)
		if len(res.Purges) != 1 {
			t.Fatalf("%s: %d purges, want 1", res.EventID, len(res.Purges))
		}
		if got := res.Purges[0]; got.PurgeID != purgeID || !slices.Equal(got.Objects, evs[res.EventID]) {
			t.Errorf("%s: purge %s with objects %v, want %s with %v", res.EventID, got.PurgeID, got.Objects, purgeID, evs[res.EventID])
		}
	}
}

func TestHandleOutcomes(t *testing.T) {
	good := []string{"https://www.example.com/ok1", "https://www.example.com/ok2"}
	bad := "https://www.example.com/forbidden"
	for _, tc := range []struct {
		name         string
		urls         []string
		unauthorized []string
		want         events.Outcome
		wantPurged   int
		wantFailed   int
	}{
		{"all purged", good, nil, events.OutcomeSucceeded, 2, 0},
		{"one forbidden", append(slices.Clone(good), bad), []string{bad}, events.OutcomePartial, 2, 1},
		{"all forbidden", []string{bad}, []string{bad}, events.OutcomeFailed, 0, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := newHandlerRig(t, CoalescerConfig{}, Config{})
			r.fake.Unauthorized(tc.unauthorized...)
			if err := r.h.Handle(newMsg(eventJSON(t, events.ContentChanged{ID: "ev-o", URLs: tc.urls}), testDelivery{seq: 3})); err != nil {
				t.Fatalf("Handle: %v (a permanent failure is a final outcome)", err)
			}
			msgs := r.pub.all()
			if len(msgs) != 1 || msgs[0].subject != events.ResultSubject(tc.want, "ev-o") {
				t.Fatalf("published %+v, want one result on %s", msgs, events.ResultSubject(tc.want, "ev-o"))
			}
			res := decodeResult(t, msgs[0])
			purged, failed := 0, 0
			for _, p := range res.Purges {
				purged += len(p.Objects)
			}
			for _, f := range res.Failures {
				failed += len(f.Objects)
				if f.HTTPStatus != 403 || !slices.Equal(f.Objects, []string{bad}) || f.Title == "" {
					t.Errorf("failure %+v, want Akamai's 403 for %s", f, bad)
				}
			}
			if res.Outcome != tc.want || purged != tc.wantPurged || failed != tc.wantFailed {
				t.Errorf("outcome %s with %d purged, %d failed; want %s, %d, %d", res.Outcome, purged, failed, tc.want, tc.wantPurged, tc.wantFailed)
			}
			if (tc.wantPurged == 0) != res.EstimatedCompleteAt.IsZero() {
				t.Errorf("estimated_complete_at %v with %d purged", res.EstimatedCompleteAt, purged)
			}
			if r.pub.all()[0].msgID != "result:ev-o:3" {
				t.Errorf("msgID %q", r.pub.all()[0].msgID)
			}
		})
	}
}

func TestHandleInvalidEventIsDeadLettered(t *testing.T) {
	for _, tc := range []struct {
		name      string
		payload   []byte
		id        string // expected event ID
		reason    string // in the dead letter's reason
		failedObj string // an object named in the result's failures
		source    string
	}{
		{"not JSON", []byte("not json"), "", "undecodable JSON", "", ""},
		{"wrong field type", []byte(`{"id":"ev-t","urls":"https://www.example.com/a","source":"cms"}`), "ev-t", "undecodable JSON", "", "cms"},
		{"no objects", []byte(`{"id":"ev-empty","source":"cms"}`), "ev-empty", "no objects", "", "cms"},
		{"invalid object", []byte(`{"id":"ev-bad","urls":["ftp://example.com/x","https://www.example.com/ok"]}`), "ev-bad", "invalid object", "ftp://example.com/x", ""},
		{"invalid id", []byte(`{"id":"bad id!","urls":["https://www.example.com/a"]}`), "", "id", "", ""},
		{"unknown action", []byte(`{"id":"ev-act","urls":["https://www.example.com/a"],"action":"explode"}`), "ev-act", "action", "", ""},
		{"too large", []byte(`{"id":"ev-big","urls":["https://www.example.com/` + strings.Repeat("x", 300) + `"]}`), "ev-big", "limit", "", ""},
		{"invalid UTF-8", []byte("{\"id\":\"ev-u\",\"urls\":[\"https://www.example.com/\xff\"]}"), "", "UTF-8", "", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := newHandlerRig(t, CoalescerConfig{}, Config{MaxEventBytes: 300})
			m := newMsg(tc.payload, testDelivery{seq: 42})
			id := tc.id
			if id == "" {
				id = m.UUID
			}
			if err := r.h.Handle(m); err != nil {
				t.Fatalf("Handle = %v; an invalid event is final (acked)", err)
			}
			msgs := r.pub.all()
			if len(msgs) != 2 {
				t.Fatalf("published %d messages, want a dead letter and a result", len(msgs))
			}
			dlMsg, resMsg := msgs[0], msgs[1]
			if dlMsg.subject != "purge.deadletter."+id || dlMsg.msgID != "deadletter:"+id+":42" {
				t.Errorf("dead letter on %q msgID %q", dlMsg.subject, dlMsg.msgID)
			}
			var dl events.DeadLetter
			if err := json.Unmarshal(dlMsg.data, &dl); err != nil {
				t.Fatalf("dead letter: %v", err)
			}
			if dl.EventID != id || !strings.Contains(dl.Reason, tc.reason) || dl.Subject != "content.changed.test" || dl.Source != tc.source {
				t.Errorf("dead letter %+v, want event %s, reason with %q", dl, id, tc.reason)
			}
			if string(dl.OriginalPayload()) != string(tc.payload) {
				t.Errorf("dead letter payload %q, want the original %q", dl.OriginalPayload(), tc.payload)
			}
			if resMsg.subject != "purge.result.failed."+id || resMsg.msgID != "result:"+id+":42" {
				t.Errorf("result on %q msgID %q", resMsg.subject, resMsg.msgID)
			}
			res := decodeResult(t, resMsg)
			if res.EventID != id || res.Outcome != events.OutcomeFailed || len(res.Purges) != 0 || len(res.Failures) == 0 {
				t.Errorf("result %+v", res)
			}
			if tc.failedObj != "" {
				var named bool
				for _, f := range res.Failures {
					named = named || slices.Contains(f.Objects, tc.failedObj)
				}
				if !named {
					t.Errorf("failures %+v do not name %s", res.Failures, tc.failedObj)
				}
			}
			if n := len(r.fake.Requests()); n != 0 {
				t.Errorf("%d Akamai requests for an invalid event", n)
			}
		})
	}
}

// TestHandleTransientFailurePublishesNothing: while Akamai fails, Handle
// returns an error (the router naks, JetStream redelivers) and publishes
// no result; the redelivery then succeeds and publishes one.
func TestHandleTransientFailurePublishesNothing(t *testing.T) {
	r := newHandlerRig(t, CoalescerConfig{MaxAttempts: 2}, Config{})
	// Two keys (url, tag) with two attempts each: four failing requests.
	r.fake.FailNext(4, 503)
	payload := eventJSON(t, events.ContentChanged{ID: "ev-tr", URLs: []string{"https://www.example.com/a"}, Tags: []string{"t1"}})
	err := r.h.Handle(newMsg(payload, testDelivery{seq: 9}))
	if err == nil || !errors.Is(err, ErrTransient) {
		t.Fatalf("Handle = %v, want a transient error", err)
	}
	if msgs := r.pub.all(); len(msgs) != 0 {
		t.Fatalf("published %d messages on a transient failure: %+v", len(msgs), msgs)
	}
	if err := r.h.Handle(newMsg(payload, testDelivery{seq: 9, delivered: 2})); err != nil {
		t.Fatalf("redelivery: %v", err)
	}
	msgs := r.pub.all()
	if len(msgs) != 1 || msgs[0].subject != "purge.result.succeeded.ev-tr" || msgs[0].msgID != "result:ev-tr:9" {
		t.Fatalf("after redelivery published %+v", msgs)
	}
}

func TestHandlePublishFailureIsAnError(t *testing.T) {
	r := newHandlerRig(t, CoalescerConfig{}, Config{})
	r.pub.err = errors.New("nats: no responders")
	for _, payload := range [][]byte{
		eventJSON(t, events.ContentChanged{ID: "ev-p", URLs: []string{"https://www.example.com/a"}}),
		[]byte("not json"),
	} {
		if err := r.h.Handle(newMsg(payload, testDelivery{seq: 1})); err == nil || !strings.Contains(err.Error(), "no responders") {
			t.Errorf("Handle(%s) = %v, want the publish error (the event must not be acked)", payload, err)
		}
	}
}

func TestHandleEventIDPrecedence(t *testing.T) {
	for _, tc := range []struct {
		name   string
		jsonID string
		msgID  string
		want   string // "" means the message's position UUID
	}{
		{"JSON id wins over header", "ev-json", "hdr-1", "ev-json"},
		{"header without JSON id", "", "hdr-1", "hdr-1"},
		{"neither: position UUID", "", "", ""},
		{"invalid header ignored", "", "has space", ""},
		{"over-long header ignored", "", strings.Repeat("h", events.MaxIDLength+1), ""},
		{"JSON id with header-like chars", "a:b=c+d_e-f", "hdr-2", "a:b=c+d_e-f"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := newHandlerRig(t, CoalescerConfig{}, Config{})
			m := newMsg(eventJSON(t, events.ContentChanged{ID: tc.jsonID, URLs: []string{"https://www.example.com/id"}}), testDelivery{seq: 5, msgID: tc.msgID})
			want := tc.want
			if want == "" {
				want = bus.PositionID(events.DefaultContentStream, 5)
			}
			if err := r.h.Handle(m); err != nil {
				t.Fatal(err)
			}
			msgs := r.pub.all()
			if len(msgs) != 1 {
				t.Fatalf("published %d", len(msgs))
			}
			if msgs[0].subject != "purge.result.succeeded."+want || msgs[0].msgID != "result:"+want+":5" {
				t.Errorf("published on %q msgID %q, want event ID %q", msgs[0].subject, msgs[0].msgID, want)
			}
			if res := decodeResult(t, msgs[0]); res.EventID != want || res.CorrelationID != want {
				t.Errorf("result event_id %q correlation_id %q, want %q", res.EventID, res.CorrelationID, want)
			}
		})
	}
	t.Run("invalid JSON id falls back for the dead letter", func(t *testing.T) {
		r := newHandlerRig(t, CoalescerConfig{}, Config{})
		m := newMsg([]byte(`{"id":"no spaces allowed","urls":["https://www.example.com/a"]}`), testDelivery{seq: 6, msgID: "hdr-3"})
		if err := r.h.Handle(m); err != nil {
			t.Fatal(err)
		}
		msgs := r.pub.all()
		if len(msgs) != 2 || msgs[0].subject != "purge.deadletter.hdr-3" || msgs[1].subject != "purge.result.failed.hdr-3" {
			t.Errorf("published %+v, want dead letter and failed result under hdr-3", msgs)
		}
	})
}

func TestHandleCorrelationID(t *testing.T) {
	r := newHandlerRig(t, CoalescerConfig{}, Config{})
	m := newMsg(eventJSON(t, events.ContentChanged{ID: "ev-c", URLs: []string{"https://www.example.com/c"}}), testDelivery{seq: 1, corrID: "req-77"})
	if err := r.h.Handle(m); err != nil {
		t.Fatal(err)
	}
	msgs := r.pub.all()
	if len(msgs) != 1 {
		t.Fatalf("published %d", len(msgs))
	}
	if res := decodeResult(t, msgs[0]); res.CorrelationID != "req-77" || res.EventID != "ev-c" {
		t.Errorf("correlation_id %q event_id %q, want req-77 and ev-c", res.CorrelationID, res.EventID)
	}
}

// TestHandleEchoesMetadata: the event's metadata comes back in its
// result, whatever the outcome, unless the metadata itself is what made
// the event invalid.
func TestHandleEchoesMetadata(t *testing.T) {
	meta := map[string]string{"page": "42", "editor": "Zoë"}
	tooLong := map[string]string{"k": strings.Repeat("v", events.MaxMetadataValueBytes+1)}
	for _, tc := range []struct {
		name    string
		ev      events.ContentChanged
		outcome events.Outcome
		want    map[string]string
	}{
		{"succeeded", events.ContentChanged{ID: "ev-m1", URLs: []string{"https://www.example.com/m"}, Metadata: meta}, events.OutcomeSucceeded, meta},
		{"invalid object", events.ContentChanged{ID: "ev-m2", URLs: []string{"ftp://www.example.com/m"}, Metadata: meta}, events.OutcomeFailed, meta},
		{"invalid metadata", events.ContentChanged{ID: "ev-m3", URLs: []string{"https://www.example.com/m"}, Metadata: tooLong}, events.OutcomeFailed, nil},
		{"none", events.ContentChanged{ID: "ev-m4", URLs: []string{"https://www.example.com/m"}}, events.OutcomeSucceeded, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := newHandlerRig(t, CoalescerConfig{}, Config{})
			if err := r.h.Handle(newMsg(eventJSON(t, tc.ev), testDelivery{seq: 1})); err != nil {
				t.Fatal(err)
			}
			msgs := r.pub.all()
			res := decodeResult(t, msgs[len(msgs)-1])
			if res.Outcome != tc.outcome || !maps.Equal(res.Metadata, tc.want) || (tc.want == nil) != (res.Metadata == nil) {
				t.Errorf("outcome %s metadata %q, want %s and %q", res.Outcome, res.Metadata, tc.outcome, tc.want)
			}
		})
	}
}

func TestPoisonMiddleware(t *testing.T) {
	const poisonAfter = 3
	r := newHandlerRig(t, CoalescerConfig{}, Config{PoisonAfter: poisonAfter})
	panics := r.h.PoisonMiddleware(func(*message.Message) ([]*message.Message, error) { panic("boom") })
	payload := eventJSON(t, events.ContentChanged{ID: "ev-poison", URLs: []string{"https://www.example.com/p"}, Source: "cms"})
	for delivered := 1; delivered <= poisonAfter+1; delivered++ {
		t.Run(fmt.Sprintf("delivery %d", delivered), func(t *testing.T) {
			r.pub.mu.Lock()
			r.pub.msgs = nil
			r.pub.mu.Unlock()
			out, err := panics(newMsg(payload, testDelivery{seq: 11, delivered: delivered, msgID: "ev-poison"}))
			msgs := r.pub.all()
			if out != nil {
				t.Errorf("produced messages %v", out)
			}
			if delivered < poisonAfter {
				if err == nil || !strings.Contains(err.Error(), "boom") {
					t.Errorf("err = %v, want the panic as an error so the event is redelivered", err)
				}
				if len(msgs) != 0 {
					t.Errorf("published %d messages before PoisonAfter", len(msgs))
				}
				return
			}
			if err != nil {
				t.Errorf("err = %v, want nil: the event is dead-lettered and acked", err)
			}
			if len(msgs) != 2 || msgs[0].subject != "purge.deadletter.ev-poison" || msgs[1].subject != "purge.result.failed.ev-poison" {
				t.Fatalf("published %+v, want dead letter then failed result", msgs)
			}
			var dl events.DeadLetter
			if err := json.Unmarshal(msgs[0].data, &dl); err != nil {
				t.Fatal(err)
			}
			if !strings.Contains(dl.Reason, "panicked") || !strings.Contains(dl.Reason, "boom") || string(dl.OriginalPayload()) != string(payload) {
				t.Errorf("dead letter %+v", dl)
			}
			if msgs[0].msgID != "deadletter:ev-poison:11" || msgs[1].msgID != "result:ev-poison:11" {
				t.Errorf("msgIDs %q %q", msgs[0].msgID, msgs[1].msgID)
			}
		})
	}
	t.Run("no panic passes through", func(t *testing.T) {
		sentinel := errors.New("sentinel")
		h := r.h.PoisonMiddleware(func(*message.Message) ([]*message.Message, error) { return nil, sentinel })
		if _, err := h(newMsg(payload, testDelivery{seq: 12, delivered: poisonAfter + 5})); !errors.Is(err, sentinel) {
			t.Errorf("err = %v, want the handler's own error", err)
		}
	})
}
