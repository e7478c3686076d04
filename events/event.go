package events

import (
	"bytes"
	"errors"
	"fmt"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/go-json-experiment/json"
	"github.com/go-json-experiment/json/jsontext"

	"github.com/purgebus/purgebus/akamai"
)

// ContentChanged is the event a service publishes when content changed and
// its cached copies must be purged.
type ContentChanged struct {
	ID         string         `json:"id,omitempty"`
	URLs       []string       `json:"urls,omitempty"`
	Tags       []string       `json:"tags,omitempty"`
	CPCodes    []int64        `json:"cpcodes,omitempty"`
	Action     akamai.Action  `json:"action,omitempty"`
	Network    akamai.Network `json:"network,omitempty"`
	Source     string         `json:"source,omitempty"`
	OccurredAt time.Time      `json:"occurred_at,omitzero"`
	// Metadata is the publisher's own context (a page ID, an editor, a
	// deploy), echoed in the event's result; purgebus does not read it.
	// See CheckMetadata for its limits.
	Metadata map[string]string `json:"metadata,omitempty"`
}

// DefaultMaxEventBytes is the default size limit of an encoded event.
const DefaultMaxEventBytes = 256 << 10

// Objects returns the number of objects the event names.
func (e *ContentChanged) Objects() int { return len(e.URLs) + len(e.Tags) + len(e.CPCodes) }

// InvalidEventError reports an event that can never be purged as it is.
// Such events are answered with a failed result and dead-lettered.
type InvalidEventError struct {
	Reason string
	// Objects lists the objects Akamai would refuse, when that is the reason.
	Objects []*akamai.InvalidObjectError
}

func (e *InvalidEventError) Error() string {
	if len(e.Objects) == 0 {
		return "invalid event: " + e.Reason
	}
	var b strings.Builder
	b.WriteString("invalid event: ")
	b.WriteString(e.Reason)
	for i, o := range e.Objects {
		if i == 5 {
			fmt.Fprintf(&b, "; and %d more", len(e.Objects)-i)
			break
		}
		b.WriteString("; ")
		b.WriteString(strings.TrimPrefix(o.Error(), "akamai: "))
	}
	return b.String()
}

// Decode decodes and validates an encoded event. Events larger than
// maxBytes (DefaultMaxEventBytes when 0) are refused. The error is an
// *InvalidEventError; the returned event is as complete as the input
// allowed, so its ID and Source can still label a failed result.
func Decode(data []byte, maxBytes int) (ContentChanged, error) {
	var e ContentChanged
	if maxBytes <= 0 {
		maxBytes = DefaultMaxEventBytes
	}
	if len(data) > maxBytes {
		e.ID, e.Source = peekLabels(data[:min(len(data), 4096)])
		return e, &InvalidEventError{Reason: fmt.Sprintf("event is %d bytes; the limit is %d", len(data), maxBytes)}
	}
	if !utf8.Valid(data) {
		return e, &InvalidEventError{Reason: "event is not valid UTF-8"}
	}
	// The usual event takes the fast path; anything it does not take
	// for certain, the library decides and explains.
	if decodeFast(data, &e) {
		if err := e.Normalize(); err != nil {
			return e, err
		}
		return e, nil
	}
	e = ContentChanged{}
	return decodeLibrary(data, e)
}

// decodeLibrary is Decode's path through the library, for data that is
// valid UTF-8 and within the size limit. Not inlined: its frame would
// grow Decode's, and so the fast path's stack on the router's fresh
// goroutines.
//
//go:noinline
func decodeLibrary(data []byte, e ContentChanged) (ContentChanged, error) {
	if err := unmarshal(data, &e); err != nil {
		var labels ContentChanged
		labels.ID, labels.Source = peekLabels(data)
		if errors.Is(err, errTrailingData) {
			return e, &InvalidEventError{Reason: "undecodable JSON: " + err.Error()}
		}
		if name, ok := duplicateName(err); ok {
			return labels, &InvalidEventError{Reason: fmt.Sprintf("undecodable JSON: duplicate key %q: "+
				"refused as ambiguous (decoders disagree on which value counts)", strings.TrimPrefix(name, "/"))}
		}
		return labels, &InvalidEventError{Reason: "undecodable JSON: " + err.Error()}
	}
	if err := e.Normalize(); err != nil {
		return e, err
	}
	return e, nil
}

// peekLabels recovers id and source from an event that did not decode as a
// whole (or was cut short), so its failed result can still reach a
// subscriber waiting for it. It reads top-level fields in order and stops
// at the first it cannot read.
func peekLabels(data []byte) (id, source string) {
	dec := jsontext.NewDecoder(bytes.NewReader(data), jsontext.AllowDuplicateNames(true), jsontext.AllowInvalidUTF8(true))
	if tok, err := dec.ReadToken(); err != nil || tok.Kind() != '{' {
		return "", ""
	}
	for dec.PeekKind() == '"' {
		name, err := dec.ReadToken()
		if err != nil {
			return id, source
		}
		key := name.String() // before the decoder moves on
		v, err := dec.ReadValue()
		if err != nil {
			return id, source
		}
		switch key {
		case "id":
			_ = json.Unmarshal(v, &id)
		case "source":
			_ = json.Unmarshal(v, &source)
		}
	}
	return id, source
}

// Normalize fills in the defaults (invalidate, production) and checks and
// normalizes every object the way Fast Purge expects it (see
// akamai.NormalizeObject). It returns an *InvalidEventError naming every
// bad object; no object of an invalid event is purged.
func (e *ContentChanged) Normalize() error {
	if e.Action == "" {
		e.Action = akamai.ActionInvalidate
	}
	if e.Network == "" {
		e.Network = akamai.NetworkProduction
	}
	if !e.Action.Valid() {
		return &InvalidEventError{Reason: fmt.Sprintf("action %q is neither invalidate nor delete", e.Action)}
	}
	if !e.Network.Valid() {
		return &InvalidEventError{Reason: fmt.Sprintf("network %q is neither production nor staging", e.Network)}
	}
	if e.Objects() == 0 {
		return &InvalidEventError{Reason: "no objects: at least one of urls, tags or cpcodes is required"}
	}
	if err := CheckMetadata(e.Metadata); err != nil {
		return &InvalidEventError{Reason: err.Error()}
	}
	var bad []*akamai.InvalidObjectError
	check := func(t akamai.Type, objs []string) {
		for i, o := range objs {
			n, err := akamai.NormalizeObject(t, o)
			if err != nil {
				var ie *akamai.InvalidObjectError
				if errors.As(err, &ie) {
					bad = append(bad, ie)
				}
				continue
			}
			objs[i] = n
		}
	}
	check(akamai.TypeURL, e.URLs)
	check(akamai.TypeTag, e.Tags)
	for _, c := range e.CPCodes {
		if c <= 0 {
			bad = append(bad, &akamai.InvalidObjectError{Type: akamai.TypeCPCode, Object: fmt.Sprint(c), Reason: "CP code must be a positive integer"})
		}
	}
	if len(bad) > 0 {
		return &InvalidEventError{Reason: fmt.Sprintf("%d invalid object(s)", len(bad)), Objects: bad}
	}
	return nil
}

// Encode returns the event as compact JSON.
func (e *ContentChanged) Encode() ([]byte, error) { return marshal(e) }

// PeekID returns the event ID that data names in its "id" field, when
// that is a valid ID, without decoding the whole event; "" otherwise.
// Only the first 64 KiB are read.
func PeekID(data []byte) string {
	id, _ := peekLabels(data[:min(len(data), 64<<10)])
	if !ValidID(id) {
		return ""
	}
	return id
}
