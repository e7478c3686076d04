package events

import (
	"encoding/json"
	"strconv"
	"time"

	"github.com/purgebus/purgebus/akamai"
)

// Outcome is how an event ended.
type Outcome string

// The three outcomes.
const (
	// OutcomeSucceeded means every object of the event was purged.
	OutcomeSucceeded Outcome = "succeeded"
	// OutcomePartial means some objects were purged and some failed.
	OutcomePartial Outcome = "partial"
	// OutcomeFailed means no object was purged.
	OutcomeFailed Outcome = "failed"
)

// PurgeResult is the one result the consumer publishes for every event.
type PurgeResult struct {
	EventID string  `json:"event_id"`
	Outcome Outcome `json:"outcome"`
	Source  string  `json:"source,omitempty"`
	// Purges lists the Fast Purge requests Akamai accepted, each with only
	// this event's objects.
	Purges []Purge `json:"purges"`
	// Failures lists the objects that could not be purged, and why.
	Failures   []Failure `json:"failures"`
	ReceivedAt time.Time `json:"received_at"`
	// CompletedAt is when the outcome was decided.
	CompletedAt time.Time `json:"completed_at"`
	// EstimatedCompleteAt is when Akamai expects the last purge to have
	// reached the edge; zero when nothing was purged.
	EstimatedCompleteAt time.Time `json:"estimated_complete_at,omitzero"`
	// Subject is the subject the event was published to.
	Subject string `json:"subject,omitempty"`
	// CorrelationID follows the event through logs to its result.
	CorrelationID string `json:"correlation_id,omitempty"`
	// Metadata is the event's metadata, echoed.
	Metadata map[string]string `json:"metadata,omitempty"`
}

// Purge is one Fast Purge request that Akamai accepted, as it concerns one
// event.
type Purge struct {
	PurgeID          string         `json:"purge_id"`
	SupportID        string         `json:"support_id"`
	EstimatedSeconds int            `json:"estimated_seconds"`
	HTTPStatus       int            `json:"http_status"`
	Type             akamai.Type    `json:"type"`
	Action           akamai.Action  `json:"action"`
	Network          akamai.Network `json:"network"`
	// Account is the Akamai account that purged, when purgebus routes to
	// several (see package routing).
	Account string `json:"account,omitempty"`
	// Objects are the event's own objects in this request. CP codes are
	// JSON integers on the wire.
	Objects    []string  `json:"-"`
	AcceptedAt time.Time `json:"accepted_at,omitzero"`
	// Escalation is set when the objects were not purged one by one but
	// covered by the purge of a CP code or cache tag (PurgeID, SupportID,
	// EstimatedSeconds, HTTPStatus and AcceptedAt are that purge's): a
	// flood of a route's URLs escalated, see package handler. Type stays
	// the objects' own type.
	Escalation *Escalation `json:"escalation,omitempty"`
}

// Escalation says which object's purge covered a Purge's objects, and
// why purgebus purged it instead of them.
type Escalation struct {
	// Type is the covering object's type: cpcode or tag.
	Type akamai.Type `json:"type"`
	// Object is the CP code (in decimal) or cache tag.
	Object string `json:"object"`
	// Reason says why, such as how long the route's waiting URLs would
	// have taken.
	Reason string `json:"reason"`
}

// Failure is a group of an event's objects that could not be purged.
type Failure struct {
	Type    akamai.Type    `json:"type,omitempty"`
	Action  akamai.Action  `json:"action,omitempty"`
	Network akamai.Network `json:"network,omitempty"`
	// Objects are the failed objects; CP codes are JSON integers.
	Objects    []string `json:"-"`
	HTTPStatus int      `json:"http_status,omitempty"`
	Title      string   `json:"title"`
	Detail     string   `json:"detail,omitempty"`
	SupportID  string   `json:"support_id,omitempty"`
}

// objectList encodes objects of one type: CP codes as integers, the rest
// as strings.
type objectList struct {
	typ  akamai.Type
	objs []string
}

func (l objectList) MarshalJSON() ([]byte, error) {
	if l.objs == nil {
		return []byte("[]"), nil
	}
	if l.typ != akamai.TypeCPCode {
		return marshal(l.objs)
	}
	b := []byte{'['}
	for i, o := range l.objs {
		if i > 0 {
			b = append(b, ',')
		}
		if _, err := strconv.ParseInt(o, 10, 64); err != nil {
			return nil, err
		}
		b = append(b, o...)
	}
	return append(b, ']'), nil
}

func (l *objectList) UnmarshalJSON(data []byte) error {
	var raw []json.RawMessage
	if err := json.Unmarshal(data, &raw); err != nil {
		return err
	}
	l.objs = make([]string, len(raw))
	for i, r := range raw {
		if len(r) > 0 && r[0] == '"' {
			if err := json.Unmarshal(r, &l.objs[i]); err != nil {
				return err
			}
			continue
		}
		var n json.Number
		if err := json.Unmarshal(r, &n); err != nil {
			return err
		}
		l.objs[i] = n.String()
	}
	return nil
}

type purgeJSON Purge

// MarshalJSON encodes p with its objects in their wire types.
func (p Purge) MarshalJSON() ([]byte, error) {
	return marshal(struct {
		purgeJSON
		Objects objectList `json:"objects"`
	}{purgeJSON(p), objectList{p.Type, p.Objects}})
}

// UnmarshalJSON decodes p, objects included.
func (p *Purge) UnmarshalJSON(data []byte) error {
	var v struct {
		purgeJSON
		Objects objectList `json:"objects"`
	}
	if err := json.Unmarshal(data, &v); err != nil {
		return err
	}
	*p = Purge(v.purgeJSON)
	p.Objects = v.Objects.objs
	return nil
}

type failureJSON Failure

// MarshalJSON encodes f with its objects in their wire types.
func (f Failure) MarshalJSON() ([]byte, error) {
	return marshal(struct {
		failureJSON
		Objects objectList `json:"objects"`
	}{failureJSON(f), objectList{f.Type, f.Objects}})
}

// UnmarshalJSON decodes f, objects included.
func (f *Failure) UnmarshalJSON(data []byte) error {
	var v struct {
		failureJSON
		Objects objectList `json:"objects"`
	}
	if err := json.Unmarshal(data, &v); err != nil {
		return err
	}
	*f = Failure(v.failureJSON)
	f.Objects = v.Objects.objs
	return nil
}

// Encode returns the result as compact one-line JSON: what encoding/json
// writes for it (without HTML escaping, nil lists as []), from a
// hand-written encoder (result_encode.go).
func (r *PurgeResult) Encode() ([]byte, error) {
	if b, ok := appendResult(make([]byte, 0, resultSizeHint(r)), r); ok {
		return b, nil
	}
	// Something encoding/json refuses: its error.
	return r.encodeJSON()
}

// encodeJSON is Encode through encoding/json: the reference that the
// hand-written encoder matches, and the source of its errors.
func (r *PurgeResult) encodeJSON() ([]byte, error) {
	c := *r
	if c.Purges == nil {
		c.Purges = []Purge{}
	}
	if c.Failures == nil {
		c.Failures = []Failure{}
	}
	return marshal(&c)
}

// DecodeResult decodes a result.
func DecodeResult(data []byte) (PurgeResult, error) {
	var r PurgeResult
	err := json.Unmarshal(data, &r)
	return r, err
}

// OutcomeOf returns the outcome of an event with the given numbers of
// purged and failed objects.
func OutcomeOf(purged, failed int) Outcome {
	switch {
	case failed == 0 && purged > 0:
		return OutcomeSucceeded
	case purged > 0:
		return OutcomePartial
	}
	return OutcomeFailed
}

// DeadLetter is the copy of an event that can never succeed, kept with the
// reason so it can be inspected and replayed once the cause is fixed.
type DeadLetter struct {
	EventID string `json:"event_id"`
	Reason  string `json:"reason"`
	Source  string `json:"source,omitempty"`
	// Subject is the subject the event was published to.
	Subject string `json:"subject"`
	// Payload is the original event, when it is valid UTF-8 text;
	// PayloadBase64 holds it otherwise.
	Payload       string              `json:"payload,omitempty"`
	PayloadBase64 []byte              `json:"payload_base64,omitempty"`
	Headers       map[string][]string `json:"headers,omitempty"`
	ReceivedAt    time.Time           `json:"received_at"`
	DeadAt        time.Time           `json:"dead_at"`
}

// Encode returns the dead letter as compact one-line JSON.
func (d *DeadLetter) Encode() ([]byte, error) { return marshal(d) }

// OriginalPayload returns the event exactly as it was published.
func (d *DeadLetter) OriginalPayload() []byte {
	if d.PayloadBase64 != nil {
		return d.PayloadBase64
	}
	return []byte(d.Payload)
}
