package events_test

import (
	"bytes"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/purgebus/purgebus/akamai"
	"github.com/purgebus/purgebus/events"
)

func TestResultRoundTrip(t *testing.T) {
	at := time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)
	r := events.PurgeResult{
		EventID: "e1",
		Outcome: events.OutcomePartial,
		Source:  "cms",
		Purges: []events.Purge{
			{PurgeID: "p1", SupportID: "s1", EstimatedSeconds: 5, HTTPStatus: 201, Type: akamai.TypeURL, Action: akamai.ActionInvalidate, Network: akamai.NetworkProduction, Objects: []string{"https://a.example/?x=1&y=<2>"}, AcceptedAt: at},
			{PurgeID: "p2", SupportID: "s2", EstimatedSeconds: 5, HTTPStatus: 201, Type: akamai.TypeCPCode, Action: akamai.ActionInvalidate, Network: akamai.NetworkProduction, Objects: []string{"12345"}, AcceptedAt: at},
		},
		Failures:            []events.Failure{{Type: akamai.TypeCPCode, Objects: []string{"999"}, HTTPStatus: 403, Title: "unauthorized cpcode", Detail: "999"}},
		ReceivedAt:          at,
		CompletedAt:         at.Add(time.Second),
		EstimatedCompleteAt: at.Add(6 * time.Second),
	}
	data, err := r.Encode()
	if err != nil {
		t.Fatal(err)
	}
	if bytes.ContainsAny(data, "\n") {
		t.Errorf("result is not one line: %s", data)
	}
	for _, want := range []string{`"objects":[12345]`, `"objects":[999]`, `y=<2>`, `"event_id":"e1"`, `"purge_id":"p1"`, `"estimated_complete_at":"2026-11-25T12:00:06Z"`} {
		if !strings.Contains(string(data), want) {
			t.Errorf("encoded result lacks %s: %s", want, data)
		}
	}
	got, err := events.DecodeResult(data)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, r) {
		t.Errorf("round trip:\n got %+v\nwant %+v", got, r)
	}
}

func TestEmptyListsAreArrays(t *testing.T) {
	r := events.PurgeResult{EventID: "e", Outcome: events.OutcomeFailed}
	data, err := r.Encode()
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(data), `"purges":[]`) || !strings.Contains(string(data), `"failures":[]`) {
		t.Errorf("want empty arrays, not null: %s", data)
	}
}

func TestOutcomeOf(t *testing.T) {
	for _, tt := range []struct {
		purged, failed int
		want           events.Outcome
	}{{3, 0, events.OutcomeSucceeded}, {2, 1, events.OutcomePartial}, {0, 2, events.OutcomeFailed}, {0, 0, events.OutcomeFailed}} {
		if got := events.OutcomeOf(tt.purged, tt.failed); got != tt.want {
			t.Errorf("OutcomeOf(%d, %d) = %s, want %s", tt.purged, tt.failed, got, tt.want)
		}
	}
}

func TestDeadLetterPayload(t *testing.T) {
	for _, payload := range [][]byte{[]byte(`{"urls":[`), {0xff, 0xfe}} {
		d := events.DeadLetter{EventID: "e", Reason: "r", Subject: "content.changed"}
		if len(payload) == 2 {
			d.PayloadBase64 = payload
		} else {
			d.Payload = string(payload)
		}
		if !bytes.Equal(d.OriginalPayload(), payload) {
			t.Errorf("OriginalPayload = %q, want %q", d.OriginalPayload(), payload)
		}
	}
}

// TestEscalationRoundTrip: a purge covered by an escalation carries the
// covering object on the wire, and decodes back.
func TestEscalationRoundTrip(t *testing.T) {
	r := events.PurgeResult{EventID: "e", Outcome: events.OutcomeSucceeded, Purges: []events.Purge{{
		PurgeID: "edcp-1", SupportID: "edcp-1", EstimatedSeconds: 5, HTTPStatus: 201,
		Type: akamai.TypeURL, Action: akamai.ActionInvalidate, Network: akamai.NetworkProduction,
		Objects:    []string{"https://www.example.com/a"},
		Escalation: &events.Escalation{Type: akamai.TypeCPCode, Object: "12345", Reason: "flood"},
	}}, Failures: []events.Failure{}}
	data, err := r.Encode()
	if err != nil {
		t.Fatal(err)
	}
	if want := `"escalation":{"type":"cpcode","object":"12345","reason":"flood"},"objects":["https://www.example.com/a"]`; !strings.Contains(string(data), want) {
		t.Errorf("encoded %s, want it to contain %s", data, want)
	}
	got, err := events.DecodeResult(data)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, r) {
		t.Errorf("round trip:\n got %+v\nwant %+v", got, r)
	}
	r.Purges[0].Escalation = nil
	if data, _ := r.Encode(); strings.Contains(string(data), "escalation") {
		t.Errorf("a purge without escalation encodes it: %s", data)
	}
}
