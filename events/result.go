package events

import (
	"fmt"
	"strconv"
	"time"

	"github.com/go-json-experiment/json"
	"github.com/go-json-experiment/json/jsontext"

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
	// Truncated says that the result was shortened to fit the NATS
	// server's message size (see EncodeWithin): long texts were cut and
	// objects left out of the lists, each Purge and Failure counting its
	// own in ObjectsOmitted. The outcome and the counts stay exact.
	Truncated bool `json:"truncated,omitzero"`
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
	// ObjectsOmitted counts the objects of this request left out of
	// Objects to fit the result in a message (PurgeResult.Truncated).
	ObjectsOmitted int `json:"objects_omitted,omitzero"`
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
	HTTPStatus int      `json:"http_status,omitzero"`
	Title      string   `json:"title"`
	Detail     string   `json:"detail,omitempty"`
	SupportID  string   `json:"support_id,omitempty"`
	// ObjectsOmitted counts the failed objects left out of Objects to
	// fit the result in a message (PurgeResult.Truncated).
	ObjectsOmitted int `json:"objects_omitted,omitzero"`
}

// objectList encodes objects of one type: CP codes as integers, the rest
// as strings.
type objectList struct {
	typ  akamai.Type
	objs []string
}

// MarshalJSONTo writes l as a JSON array, [] when nil. A CP code that is
// not an int64 written as a JSON integer ("+1", "01", "1e3") is an error.
func (l objectList) MarshalJSONTo(enc *jsontext.Encoder) error {
	if err := enc.WriteToken(jsontext.BeginArray); err != nil {
		return err
	}
	for _, o := range l.objs {
		if err := writeObject(enc, l.typ, o); err != nil {
			return err
		}
	}
	return enc.WriteToken(jsontext.EndArray)
}

func writeObject(enc *jsontext.Encoder, t akamai.Type, o string) error {
	if t != akamai.TypeCPCode {
		return enc.WriteToken(jsontext.String(o))
	}
	n, err := strconv.ParseInt(o, 10, 64)
	if err != nil {
		return fmt.Errorf("CP code %q: %w", o, err)
	}
	if strconv.FormatInt(n, 10) == o {
		return enc.WriteToken(jsontext.Int(n))
	}
	// "-0" is a JSON integer written otherwise; the encoder refuses
	// what is not JSON ("+1", "01").
	return enc.WriteValue(jsontext.Value(o))
}

// UnmarshalJSONFrom reads a JSON array of strings and numbers, keeping
// each number as written.
func (l *objectList) UnmarshalJSONFrom(dec *jsontext.Decoder) error {
	tok, err := dec.ReadToken()
	if err != nil {
		return err
	}
	if tok.Kind() != '[' {
		return fmt.Errorf("objects: want an array, found a JSON %s", tok.Kind())
	}
	l.objs = []string{}
	for dec.PeekKind() != ']' {
		tok, err := dec.ReadToken()
		if err != nil {
			return err
		}
		if k := tok.Kind(); k != '"' && k != '0' {
			return fmt.Errorf("objects: want strings or numbers, found a JSON %s", k)
		}
		l.objs = append(l.objs, tok.String()) // a number's String is its text
	}
	_, err = dec.ReadToken()
	return err
}

type (
	purgeJSON   Purge
	failureJSON Failure
)

// purgeWire and failureWire are Purge and Failure as on the wire: their
// tagged fields (embedded, so new fields encode without more code), then
// the objects in their wire types.
type (
	purgeWire struct {
		purgeJSON
		Objects objectList `json:"objects"`
	}
	failureWire struct {
		failureJSON
		Objects objectList `json:"objects"`
	}
)

// MarshalJSONTo encodes p with its objects in their wire types.
func (p Purge) MarshalJSONTo(enc *jsontext.Encoder) error {
	return json.MarshalEncode(enc, &purgeWire{purgeJSON(p), objectList{p.Type, p.Objects}})
}

// UnmarshalJSONFrom decodes p, objects included.
func (p *Purge) UnmarshalJSONFrom(dec *jsontext.Decoder) error {
	var v purgeWire
	if err := json.UnmarshalDecode(dec, &v); err != nil {
		return err
	}
	*p = Purge(v.purgeJSON)
	p.Objects = v.Objects.objs
	return nil
}

// MarshalJSON encodes p for encoding/json as MarshalJSONTo does.
func (p Purge) MarshalJSON() ([]byte, error) { return marshal(p) }

// UnmarshalJSON decodes p for encoding/json as UnmarshalJSONFrom does.
func (p *Purge) UnmarshalJSON(data []byte) error { return json.Unmarshal(data, p) }

// MarshalJSONTo encodes f with its objects in their wire types.
func (f Failure) MarshalJSONTo(enc *jsontext.Encoder) error {
	return json.MarshalEncode(enc, &failureWire{failureJSON(f), objectList{f.Type, f.Objects}})
}

// UnmarshalJSONFrom decodes f, objects included.
func (f *Failure) UnmarshalJSONFrom(dec *jsontext.Decoder) error {
	var v failureWire
	if err := json.UnmarshalDecode(dec, &v); err != nil {
		return err
	}
	*f = Failure(v.failureJSON)
	f.Objects = v.Objects.objs
	return nil
}

// MarshalJSON encodes f for encoding/json as MarshalJSONTo does.
func (f Failure) MarshalJSON() ([]byte, error) { return marshal(f) }

// UnmarshalJSON decodes f for encoding/json as UnmarshalJSONFrom does.
func (f *Failure) UnmarshalJSON(data []byte) error { return json.Unmarshal(data, f) }

// Encode returns the result as compact one-line JSON, without HTML
// escaping, nil lists as [], from a hand-written encoder where it knows
// every field (result_encode.go says why), else from the library.
func (r *PurgeResult) Encode() ([]byte, error) {
	if handWritten {
		if b, ok := appendResult(make([]byte, 0, resultSizeHint(r)), r); ok {
			return b, nil
		}
	}
	// Something the hand-written encoder does not know, or refuses:
	// the library, and its error.
	return encodeLibrary(r)
}

// encodeLibrary is Encode through the library. Not inlined: its frame
// would grow Encode's, and so the hand-written path's stack on the
// router's fresh goroutines.
//
//go:noinline
func encodeLibrary(r *PurgeResult) ([]byte, error) { return marshal(r) }

// DecodeResult decodes a result. A name repeated in one object is an
// error, as in events.
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
	// PayloadBase64 holds it otherwise. When PayloadTruncated is set they
	// hold only its beginning.
	Payload       string              `json:"payload,omitempty"`
	PayloadBase64 []byte              `json:"payload_base64,omitempty"`
	Headers       map[string][]string `json:"headers,omitempty"`
	ReceivedAt    time.Time           `json:"received_at"`
	DeadAt        time.Time           `json:"dead_at"`
	// PayloadBytes and PayloadSHA256 (hex) describe the whole original
	// event, whether or not Payload holds all of it.
	PayloadBytes  int    `json:"payload_bytes,omitzero"`
	PayloadSHA256 string `json:"payload_sha256,omitempty"`
	// PayloadTruncated says that the dead letter holds only the beginning
	// of the event, which as a whole would not fit a NATS message once
	// quoted: the whole event is the object PayloadObject of the
	// JetStream object store bucket PayloadBucket (both empty if it
	// could not be stored).
	PayloadTruncated bool   `json:"payload_truncated,omitzero"`
	PayloadBucket    string `json:"payload_bucket,omitempty"`
	PayloadObject    string `json:"payload_object,omitempty"`
}

// Encode returns the dead letter as compact one-line JSON.
func (d *DeadLetter) Encode() ([]byte, error) { return marshal(d) }

// OriginalPayload returns the event exactly as it was published, or its
// beginning when PayloadTruncated is set (see PayloadBucket).
func (d *DeadLetter) OriginalPayload() []byte {
	if d.PayloadBase64 != nil {
		return d.PayloadBase64
	}
	return []byte(d.Payload)
}
