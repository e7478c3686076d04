package events_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"maps"
	"slices"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/purgebus/purgebus/akamai"
	"github.com/purgebus/purgebus/events"
)

// fuzzDecodeSeeds cover every branch of Decode and Normalize; with f.Add
// they run in every `go test`, and they are where `go test -fuzz` starts.
var fuzzDecodeSeeds = []struct {
	data  string
	limit uint32 // maxBytes; 0 means DefaultMaxEventBytes
}{
	{`{"id":"e1","urls":["https://www.example.com/a"],"tags":["news"],"cpcodes":[12345],"action":"delete","network":"staging","source":"cms","occurred_at":"2026-11-25T12:00:00Z"}`, 0},
	{`{"urls":["https://www.example.com/a","http://www.example.com/b?x=1&y=2"]}`, 0},
	{`{"urls":["HTTPS://www.example.com/café?q=日本&r=<1>#{x}"],"occurred_at":"2026-11-25T12:00:00.123456789+05:30"}`, 0},
	{`{"urls":["/L/512/6848/1h/www.example1.com/","/=/1/2/3d/h.example.com/a b"]}`, 0},
	{`{"urls":["https://e.com/%3C%3e%zz%"],"tags":["a&b","!#$%'+-.^_` + "`" + `|~&"],"cpcodes":[1,9223372036854775807]}`, 0},
	{"\ufeff{\"urls\":[\"https://e.com/\"]}", 0},
	{`  {"URLS":["https://e.com/"],"Action":"delete","unknown":{"deep":[1,2,{"x":null}]}}  ` + "\n", 0},
	{`{"urls":["https://e.com/\u0041\ud800"],"source":"\u00e9"}`, 0},
	{`{"urls":["https://e.com/a"],"urls":["https://e.com/b"]}`, 0},
	{`{"urls":null,"tags":["t"]}`, 0},
	{`null`, 0},
	{`[]`, 0},
	{`"x"`, 0},
	{``, 0},
	{`{}`, 0},
	{`{"urls":[],"tags":[],"cpcodes":[]}`, 0},
	{`{"urls":"https://e.com/"}`, 0},
	{`{"cpcodes":["12345"]}`, 0},
	{`{"cpcodes":[1e3]}`, 0},
	{`{"cpcodes":[99999999999999999999]}`, 0},
	{`{"cpcodes":[0,-1]}`, 0},
	{`{"urls":["ftp://e.com/","/a","//e.com/","https://bücher.de/","https://e.com/a` + "\\n" + `b"]}`, 0},
	{`{"tags":["has space","` + strings.Repeat("t", 129) + `"]}`, 0},
	{`{"urls":["https://e.com/"],"action":"nuke"}`, 0},
	{`{"urls":["https://e.com/"],"network":"qa"}`, 0},
	{`{"urls":["https://e.com/"],"occurred_at":"yesterday"}`, 0},
	{`{"urls":["https://e.com/"],"occurred_at":"0000-01-01T00:00:00+01:00"}`, 0},
	{`{"urls":["https://e.com/"],"metadata":{"page":"42","by":"Zoë"}}`, 0},
	{`{"urls":["https://e.com/"],"metadata":{"":"empty key"}}`, 0},
	{`{"urls":["https://e.com/"],"metadata":{"` + strings.Repeat("k", 129) + `":"v"}}`, 0},
	{`{"urls":["https://e.com/"],"metadata":{"k":"` + strings.Repeat("v", 1025) + `"}}`, 0},
	{`{"urls":["https://e.com/"],"metadata":{"k":"\ud800"}}`, 0},
	{`{"urls":[`, 0},
	{`{"urls":["https://e.com/"]} {}`, 0},
	{"{\"urls\":[\"https://e.com/\xff\"]}", 0},
	// Regressions: json.Decoder.More reports false before a closing '}'
	// or ']' too, so Decode took these as one event followed by nothing
	// and purged a malformed event.
	{`{"urls":["https://e.com/"]}}`, 0},
	{`{"urls":["https://e.com/"]}]`, 0},
	// Size limit: one byte under, at and over.
	{`{"id":"big","urls":["https://e.com/"]}`, 37},
	{`{"id":"big","urls":["https://e.com/"]}`, 38},
	{`{"id":"big","urls":["https://e.com/"]}`, 39},
	{`{"id":"big","urls":["https://e.com/` + strings.Repeat("x", events.DefaultMaxEventBytes) + `"]}`, 0},
}

// FuzzDecode checks Decode and Normalize on arbitrary input: no panic;
// every refusal is an *InvalidEventError with a reason; input over the
// limit is always refused; and an accepted event is one JSON object whose
// objects are all normalized (http(s) URLs or ARLs, valid tags, positive
// CP codes), that normalizes to itself, and that survives encoding and
// decoding again unchanged.
func FuzzDecode(f *testing.F) {
	for _, s := range fuzzDecodeSeeds {
		f.Add([]byte(s.data), s.limit)
	}
	f.Fuzz(func(t *testing.T, data []byte, limit uint32) {
		maxBytes := int(limit % (2 * events.DefaultMaxEventBytes))
		effective := maxBytes
		if effective == 0 {
			effective = events.DefaultMaxEventBytes
		}
		e, err := events.Decode(data, maxBytes)
		e2, err2 := events.Decode(data, maxBytes)
		if !sameEvent(e, e2) || (err == nil) != (err2 == nil) {
			t.Fatalf("Decode is not deterministic: %+v, %v then %+v, %v", e, err, e2, err2)
		}
		if err != nil {
			var ie *events.InvalidEventError
			if !errors.As(err, &ie) || ie.Reason == "" || err.Error() == "" {
				t.Fatalf("Decode(%q) error %T %v, want an *InvalidEventError with a reason", data, err, err)
			}
			if sizeRefusal := strings.Contains(ie.Reason, "the limit is"); sizeRefusal != (len(data) > effective) {
				t.Fatalf("%d bytes, limit %d: reason %q", len(data), effective, ie.Reason)
			}
			return
		}
		if len(data) > effective {
			t.Fatalf("accepted %d bytes over the %d-byte limit", len(data), effective)
		}
		if !utf8.Valid(data) {
			t.Fatalf("accepted invalid UTF-8 %q", data)
		}
		if !json.Valid(data) {
			t.Fatalf("accepted %q, which is not one JSON value", data)
		}
		checkNormalized(t, e)

		again := cloneEvent(e)
		if err := again.Normalize(); err != nil || !sameEvent(again, e) {
			t.Fatalf("Normalize is not idempotent: %+v → %+v, %v", e, again, err)
		}
		enc, err := e.Encode()
		if err != nil {
			t.Fatalf("Encode of an accepted event: %v", err)
		}
		if bytes.ContainsAny(enc, "\r\n") || !json.Valid(enc) {
			t.Fatalf("Encode gave %q: not one line of JSON", enc)
		}
		// Normalization can lengthen URLs (%XX for one byte), so the
		// encoded event may exceed the input's limit: decode it without.
		back, err := events.Decode(enc, len(enc))
		if err != nil {
			t.Fatalf("re-decoding %q: %v", enc, err)
		}
		if !sameEvent(back, e) {
			t.Fatalf("round trip changed the event:\n%+v\n%+v", e, back)
		}
	})
}

// checkNormalized asserts the form the consumer relies on when it purges
// an accepted event.
func checkNormalized(t *testing.T, e events.ContentChanged) {
	t.Helper()
	if !e.Action.Valid() || !e.Network.Valid() || e.Objects() == 0 {
		t.Fatalf("accepted event with action %q, network %q, %d objects", e.Action, e.Network, e.Objects())
	}
	for _, u := range e.URLs {
		// Absolute http(s), or an ARL, which starts with one '/'.
		abs := strings.HasPrefix(u, "http://") || strings.HasPrefix(u, "https://")
		arl := strings.HasPrefix(u, "/") && !strings.HasPrefix(u, "//")
		if !abs && !arl {
			t.Fatalf("accepted URL %q is neither an absolute http(s) URL nor an ARL", u)
		}
		if n, err := akamai.NormalizeObject(akamai.TypeURL, u); err != nil || n != u {
			t.Fatalf("accepted URL %q is not normalized: %q, %v", u, n, err)
		}
		for i := 0; i < len(u); i++ {
			if c := u[i]; c <= ' ' || c >= 0x7f {
				t.Fatalf("accepted URL %q has byte %#x", u, c)
			}
		}
	}
	for _, tag := range e.Tags {
		if n, err := akamai.NormalizeObject(akamai.TypeTag, tag); err != nil || n != tag {
			t.Fatalf("accepted tag %q is invalid: %v", tag, err)
		}
	}
	for _, c := range e.CPCodes {
		if c <= 0 {
			t.Fatalf("accepted CP code %d", c)
		}
	}
}

func cloneEvent(e events.ContentChanged) events.ContentChanged {
	e.URLs = slices.Clone(e.URLs)
	e.Tags = slices.Clone(e.Tags)
	e.CPCodes = slices.Clone(e.CPCodes)
	e.Metadata = maps.Clone(e.Metadata)
	return e
}

// sameEvent compares events as the wire sees them: an empty list is an
// absent one, and times are equal instants (a decoded offset has a new
// *time.Location each time).
func sameEvent(a, b events.ContentChanged) bool {
	return a.ID == b.ID && a.Source == b.Source && a.Action == b.Action && a.Network == b.Network &&
		slices.Equal(a.URLs, b.URLs) && slices.Equal(a.Tags, b.Tags) && slices.Equal(a.CPCodes, b.CPCodes) &&
		maps.Equal(a.Metadata, b.Metadata) &&
		a.OccurredAt.Equal(b.OccurredAt) && a.OccurredAt.Format("Z07:00") == b.OccurredAt.Format("Z07:00")
}

// TestDecodeSizeLimit: the limit is inclusive, applies before anything
// is parsed, and 0 means DefaultMaxEventBytes.
func TestDecodeSizeLimit(t *testing.T) {
	ev := []byte(`{"id":"big","source":"s","urls":["https://e.com/"]}`)
	n := len(ev)
	tests := []struct {
		name     string
		data     []byte
		maxBytes int
		refused  bool
	}{
		{"under", ev, n + 1, false},
		{"at", ev, n, false},
		{"over", ev, n - 1, true},
		{"default at", padEvent(events.DefaultMaxEventBytes), 0, false},
		{"default over", padEvent(events.DefaultMaxEventBytes + 1), 0, true},
		{"negative means default", padEvent(events.DefaultMaxEventBytes + 1), -1, true},
		// Refused for size before its JSON is looked at.
		{"over and malformed", []byte(`{"id":"big","urls":[` + strings.Repeat(" ", 100)), 50, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e, err := events.Decode(tt.data, tt.maxBytes)
			var ie *events.InvalidEventError
			refused := errors.As(err, &ie) && strings.Contains(ie.Reason, "the limit is")
			if refused != tt.refused {
				t.Fatalf("%d bytes, max %d: err %v, want refused=%v", len(tt.data), tt.maxBytes, err, tt.refused)
			}
			if !tt.refused && err != nil {
				t.Fatalf("Decode: %v", err)
			}
			if e.ID != "big" {
				t.Errorf("ID = %q, want big (a refused event keeps its label)", e.ID)
			}
		})
	}
}

// padEvent returns a valid event of exactly n bytes, padded in its source
// (a URL that long would be refused for its own size).
func padEvent(n int) []byte {
	head := `{"id":"big","urls":["https://e.com/"],"source":"`
	tail := `"}`
	return []byte(head + strings.Repeat("x", n-len(head)-len(tail)) + tail)
}
