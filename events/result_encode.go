package events

import (
	"reflect"
	"slices"
	"strconv"
	"time"
	"unicode/utf8"

	"github.com/purgebus/purgebus/akamai"
)

// This file is the hand-written encoder behind PurgeResult.Encode, kept
// beside the library (github.com/go-json-experiment/json, wire.go) for
// speed, as measured on 2026-12-04 on a busy 2-core machine:
//
//   - BenchmarkResultEncodeNewGoroutine (a fresh goroutine per result, as
//     the consumer's router runs each event): library 11.6–13.7 µs,
//     hand-written 2.4–3.0 µs. The library's reflection runs deep and
//     grows the goroutine's small stack (runtime.copystack) on every
//     result; on a long-lived goroutine (BenchmarkResultEncode) it is
//     3.8–4.7 µs against 1.4–1.9 µs.
//   - purgeload figure 2 (50,000 events, CPU profile of the consumer's
//     drain): decoding, encoding and the fake Akamai's parsing took 16 %
//     of the process's CPU through the library and 2.8 % hand-written;
//     the consumer's CPU per event was 77–85 µs against 66 µs, so the
//     encoder alone is worth about 12 % of figure 2, over the 5 % that
//     justifies keeping hand-written code. Decoding through the library
//     costs 1.5 µs more per event (2 %) and stays there.
//
// It writes byte for byte what encoding/json wrote for a PurgeResult
// (HTML escaping off, nil lists as [], CP codes as integers), which the
// library writes too but for invalid UTF-8 (\ufffd here, U+FFFD itself
// there: the same JSON string). encode_test.go compares both with
// encoding/json on tables, random results and fuzzed input. Whatever the
// library would refuse (a CP code that is not a JSON integer, a time
// outside RFC 3339) makes appendResult report !ok, and Encode takes the
// library, which returns the error. A field added to PurgeResult, Purge or
// Failure but not to handWrittenFields turns this path off (the library
// encodes every field from its tags) until the encoder learns it;
// TestHandWrittenEncoderCoversResult says so.

// handWrittenFields are the fields of each type appendResult writes, in
// order.
var handWrittenFields = map[reflect.Type][]string{
	reflect.TypeFor[PurgeResult](): {"EventID", "Outcome", "Source", "Purges", "Failures", "ReceivedAt", "CompletedAt",
		"EstimatedCompleteAt", "Subject", "CorrelationID", "Metadata", "Truncated"},
	reflect.TypeFor[Purge](): {"PurgeID", "SupportID", "EstimatedSeconds", "HTTPStatus", "Type", "Action", "Network",
		"Account", "Objects", "AcceptedAt", "Escalation", "ObjectsOmitted"},
	reflect.TypeFor[Failure](): {"Type", "Action", "Network", "Objects", "HTTPStatus", "Title", "Detail", "SupportID", "ObjectsOmitted"},
}

// handWritten reports whether appendResult knows every field.
var handWritten = coversFields(handWrittenFields)

func coversFields(known map[reflect.Type][]string) bool {
	for t, names := range known {
		if t.NumField() != len(names) {
			return false
		}
		for i, n := range names {
			if t.Field(i).Name != n {
				return false
			}
		}
	}
	return true
}

// appendResult appends r as JSON to b. ok is false, and b is to be
// discarded, when the library would fail on r.
func appendResult(b []byte, r *PurgeResult) (_ []byte, ok bool) {
	b = append(b, `{"event_id":`...)
	b = appendJSONString(b, r.EventID)
	b = append(b, `,"outcome":`...)
	b = appendJSONString(b, string(r.Outcome))
	if r.Source != "" {
		b = append(b, `,"source":`...)
		b = appendJSONString(b, r.Source)
	}
	b = append(b, `,"purges":[`...)
	for i := range r.Purges {
		if i > 0 {
			b = append(b, ',')
		}
		if b, ok = appendPurge(b, &r.Purges[i]); !ok {
			return b, false
		}
	}
	b = append(b, `],"failures":[`...)
	for i := range r.Failures {
		if i > 0 {
			b = append(b, ',')
		}
		if b, ok = appendFailure(b, &r.Failures[i]); !ok {
			return b, false
		}
	}
	b = append(b, `],"received_at":`...)
	if b, ok = appendJSONTime(b, r.ReceivedAt); !ok {
		return b, false
	}
	b = append(b, `,"completed_at":`...)
	if b, ok = appendJSONTime(b, r.CompletedAt); !ok {
		return b, false
	}
	if !r.EstimatedCompleteAt.IsZero() {
		b = append(b, `,"estimated_complete_at":`...)
		if b, ok = appendJSONTime(b, r.EstimatedCompleteAt); !ok {
			return b, false
		}
	}
	if r.Subject != "" {
		b = append(b, `,"subject":`...)
		b = appendJSONString(b, r.Subject)
	}
	if r.CorrelationID != "" {
		b = append(b, `,"correlation_id":`...)
		b = appendJSONString(b, r.CorrelationID)
	}
	if len(r.Metadata) > 0 {
		b = append(b, `,"metadata":`...)
		b = appendStringMap(b, r.Metadata)
	}
	if r.Truncated {
		b = append(b, `,"truncated":true`...)
	}
	return append(b, '}'), true
}

// appendStringMap appends m as encoding/json encodes a map[string]string:
// keys sorted bytewise.
func appendStringMap(b []byte, m map[string]string) []byte {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	b = append(b, '{')
	for i, k := range keys {
		if i > 0 {
			b = append(b, ',')
		}
		b = appendJSONString(b, k)
		b = append(b, ':')
		b = appendJSONString(b, m[k])
	}
	return append(b, '}')
}

// appendPurge appends p as Purge.MarshalJSON encodes it.
func appendPurge(b []byte, p *Purge) (_ []byte, ok bool) {
	b = append(b, `{"purge_id":`...)
	b = appendJSONString(b, p.PurgeID)
	b = append(b, `,"support_id":`...)
	b = appendJSONString(b, p.SupportID)
	b = append(b, `,"estimated_seconds":`...)
	b = strconv.AppendInt(b, int64(p.EstimatedSeconds), 10)
	b = append(b, `,"http_status":`...)
	b = strconv.AppendInt(b, int64(p.HTTPStatus), 10)
	b = append(b, `,"type":`...)
	b = appendJSONString(b, string(p.Type))
	b = append(b, `,"action":`...)
	b = appendJSONString(b, string(p.Action))
	b = append(b, `,"network":`...)
	b = appendJSONString(b, string(p.Network))
	if p.Account != "" {
		b = append(b, `,"account":`...)
		b = appendJSONString(b, p.Account)
	}
	if !p.AcceptedAt.IsZero() {
		b = append(b, `,"accepted_at":`...)
		if b, ok = appendJSONTime(b, p.AcceptedAt); !ok {
			return b, false
		}
	}
	if e := p.Escalation; e != nil {
		b = append(b, `,"escalation":{"type":`...)
		b = appendJSONString(b, string(e.Type))
		b = append(b, `,"object":`...)
		b = appendJSONString(b, e.Object)
		b = append(b, `,"reason":`...)
		b = appendJSONString(b, e.Reason)
		b = append(b, '}')
	}
	b = appendOmitted(b, p.ObjectsOmitted)
	b = append(b, `,"objects":`...)
	if b, ok = appendObjects(b, p.Type, p.Objects); !ok {
		return b, false
	}
	return append(b, '}'), true
}

// appendFailure appends f as Failure.MarshalJSON encodes it.
func appendFailure(b []byte, f *Failure) (_ []byte, ok bool) {
	// Every field before title may be omitted: each brings its comma.
	b = append(b, '{')
	if f.Type != "" {
		b = append(b, `"type":`...)
		b = append(appendJSONString(b, string(f.Type)), ',')
	}
	if f.Action != "" {
		b = append(b, `"action":`...)
		b = append(appendJSONString(b, string(f.Action)), ',')
	}
	if f.Network != "" {
		b = append(b, `"network":`...)
		b = append(appendJSONString(b, string(f.Network)), ',')
	}
	if f.HTTPStatus != 0 {
		b = append(b, `"http_status":`...)
		b = append(strconv.AppendInt(b, int64(f.HTTPStatus), 10), ',')
	}
	b = append(b, `"title":`...)
	b = appendJSONString(b, f.Title)
	if f.Detail != "" {
		b = append(b, `,"detail":`...)
		b = appendJSONString(b, f.Detail)
	}
	if f.SupportID != "" {
		b = append(b, `,"support_id":`...)
		b = appendJSONString(b, f.SupportID)
	}
	b = appendOmitted(b, f.ObjectsOmitted)
	b = append(b, `,"objects":`...)
	if b, ok = appendObjects(b, f.Type, f.Objects); !ok {
		return b, false
	}
	return append(b, '}'), true
}

// appendOmitted appends the objects_omitted member unless n is 0.
func appendOmitted(b []byte, n int) []byte {
	if n == 0 {
		return b
	}
	b = append(b, `,"objects_omitted":`...)
	return strconv.AppendInt(b, int64(n), 10)
}

// appendObjects appends objs as objectList.MarshalJSON encodes them: CP
// codes as JSON integers, the rest as strings, nil as []. A CP code that
// is not an int64 (objectList's error) or not a JSON integer (encoding/json
// refuses "+1" or "01" as MarshalJSON output) is !ok.
func appendObjects(b []byte, t akamai.Type, objs []string) (_ []byte, ok bool) {
	b = append(b, '[')
	for i, o := range objs {
		if i > 0 {
			b = append(b, ',')
		}
		if t == akamai.TypeCPCode {
			if !jsonInt64(o) {
				return b, false
			}
			b = append(b, o...)
		} else {
			b = appendJSONString(b, o)
		}
	}
	return append(b, ']'), true
}

// jsonInt64 reports whether s is an int64 in decimal (strconv.ParseInt)
// and, written as it is, a JSON number: no '+', no leading zero.
func jsonInt64(s string) bool {
	if _, err := strconv.ParseInt(s, 10, 64); err != nil {
		return false
	}
	d := s
	if d[0] == '-' {
		d = d[1:]
	}
	// ParseInt succeeded: d is one or more digits, or starts with '+'.
	return d[0] != '+' && (d[0] != '0' || len(d) == 1)
}

// appendJSONTime appends t as time.Time.MarshalJSON does. Times that
// MarshalJSON refuses (year outside 0–9999, zone offset of 24 h or more)
// are !ok.
func appendJSONTime(b []byte, t time.Time) (_ []byte, ok bool) {
	b = append(b, '"')
	// AppendText and MarshalJSON both write t.appendStrictRFC3339.
	out, err := t.AppendText(b)
	if err != nil {
		return b, false
	}
	return append(out, '"'), true
}

// jsonSafe marks the ASCII bytes encoding/json writes as they are in a
// string when HTML escaping is off: everything from space on but '"' and
// '\\' (DEL included).
var jsonSafe = func() (t [utf8.RuneSelf]bool) {
	for c := ' '; c < utf8.RuneSelf; c++ {
		t[c] = c != '"' && c != '\\'
	}
	return t
}()

const hexDigits = "0123456789abcdef"

// appendJSONString appends s quoted as encoding/json's appendString does
// with escapeHTML false: '"' and '\\' escaped with a backslash; \b, \f,
// \n, \r and \t short; other control bytes as \u00XX; each invalid UTF-8
// byte as \ufffd; U+2028 and U+2029 as \u2028 and \u2029; everything else
// as it is.
func appendJSONString(b []byte, s string) []byte {
	b = append(b, '"')
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			if jsonSafe[c] {
				i++
				continue
			}
			b = append(b, s[start:i]...)
			switch c {
			case '\\', '"':
				b = append(b, '\\', c)
			case '\b':
				b = append(b, '\\', 'b')
			case '\f':
				b = append(b, '\\', 'f')
			case '\n':
				b = append(b, '\\', 'n')
			case '\r':
				b = append(b, '\\', 'r')
			case '\t':
				b = append(b, '\\', 't')
			default:
				b = append(b, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xF])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			b = append(b, s[start:i]...)
			b = append(b, `\ufffd`...)
			i++
			start = i
			continue
		}
		if r == '\u2028' || r == '\u2029' {
			b = append(b, s[start:i]...)
			b = append(b, '\\', 'u', '2', '0', '2', hexDigits[r&0xF])
			i += size
			start = i
			continue
		}
		i += size
	}
	b = append(b, s[start:]...)
	return append(b, '"')
}

// resultSizeHint estimates the encoded size of r, to allocate once.
func resultSizeHint(r *PurgeResult) int {
	n := 200 + len(r.EventID) + len(r.Source) + len(r.Subject) + len(r.CorrelationID)
	for k, v := range r.Metadata {
		n += len(k) + len(v) + 6
	}
	for i := range r.Purges {
		p := &r.Purges[i]
		n += 200 + len(p.PurgeID) + len(p.SupportID) + len(p.Account)
		if e := p.Escalation; e != nil {
			n += 50 + len(e.Type) + len(e.Object) + len(e.Reason)
		}
		for _, o := range p.Objects {
			n += len(o) + 3
		}
	}
	for i := range r.Failures {
		f := &r.Failures[i]
		n += 150 + len(f.Title) + len(f.Detail) + len(f.SupportID)
		for _, o := range f.Objects {
			n += len(o) + 3
		}
	}
	// Room for a few escapes.
	return n + n/8
}
