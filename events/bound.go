package events

import (
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"unicode/utf8"

	"github.com/purgebus/purgebus/akamai"
)

// The consumer publishes one result and at most one dead letter per
// event, and a NATS server refuses any message larger than its
// max_payload. Quoting inflates an event (a control byte becomes six, an
// invalid UTF-8 byte in base64 four thirds), and an invalid object may be
// quoted in a result several times over, so neither fits as a matter of
// course: EncodeWithin shortens them until they do.

// MaxTextBytes is how much of a free text (a reason, a title, a detail, a
// source, a correlation ID) a shortened result or dead letter keeps, in
// bytes of JSON; less if even that does not fit.
const MaxTextBytes = 1024

// minTextBytes is the least of a text that shortening keeps.
const minTextBytes = 16

// MaxPayloadPrefix is how much of the original event a dead letter keeps
// inline when the whole event does not fit (PayloadTruncated).
const MaxPayloadPrefix = 4096

// ErrNoRoom is returned when a size limit is too small for even the
// shortest form of a result or dead letter.
var ErrNoRoom = errors.New("events: the message size limit leaves no room for a result or dead letter")

// EncodeWithin returns r encoded, as Encode does, in at most limit bytes.
// A result too large is shortened, on a copy, until it fits: long texts
// are cut to MaxTextBytes; when even the failures without their objects
// are too many (thousands of objects failing each for a reason of its
// own), the last ones are replaced by one Failure titled
// MoreFailuresTitle that counts their objects; then objects are left out
// from the end of the lists (each Purge and Failure counting its own in
// ObjectsOmitted). Truncated is set. The outcome stays exact; only names
// and reasons are missing.
func (r *PurgeResult) EncodeWithin(limit int) ([]byte, error) {
	b, err := r.Encode()
	if err != nil || len(b) <= limit {
		return b, err
	}
	for textBytes := MaxTextBytes; ; textBytes /= 4 {
		b, err := r.shorten(limit, textBytes)
		if !errors.Is(err, ErrNoRoom) || textBytes/4 < minTextBytes {
			return b, err
		}
	}
}

// shorten is EncodeWithin for a result that does not fit, with texts of
// at most textBytes.
func (r *PurgeResult) shorten(limit, textBytes int) ([]byte, error) {
	c := *r
	c.Truncated = true
	c.Source, c.CorrelationID, c.Subject = cutJSON(c.Source, textBytes), cutJSON(c.CorrelationID, textBytes), cutJSON(c.Subject, textBytes)
	if len(r.Metadata) > 0 {
		// Metadata cut short would be wrong: the entries too long go.
		c.Metadata = map[string]string{}
		for k, v := range r.Metadata {
			if jsonSize(k)+jsonSize(v) <= textBytes {
				c.Metadata[k] = v
			}
		}
	}
	purges := append([]Purge(nil), r.Purges...)
	failures := append([]Failure(nil), r.Failures...)
	for i := range failures {
		failures[i].Title, failures[i].Detail = cutJSON(failures[i].Title, textBytes), cutJSON(failures[i].Detail, textBytes)
	}
	c.Purges, c.Failures = purges, failures
	src := r.Failures // the failures whose objects keep takes
	if b, err := c.keepObjects(r.Purges, src, 0); err != nil || len(b) > limit {
		// Keep the first f failures, without objects, and one that
		// stands for the rest: the largest f that fits, found by adding
		// up their sizes. The one that stands for all of them has the
		// longest count: the sum is an upper bound.
		failures = failures[:len(failures):len(failures)]
		fit := func(f int) bool {
			c.Failures = append(failures[:f:f], moreFailures(r.Failures[f:]))
			b, err := c.keepObjects(r.Purges, append(r.Failures[:f:f], c.Failures[f]), 0)
			return err == nil && len(b) <= limit
		}
		c.Failures = []Failure{moreFailures(r.Failures)}
		base, err := c.keepObjects(r.Purges, c.Failures, 0)
		if err != nil {
			return nil, err
		}
		room, f := limit-len(base), 0
		for ; f < len(failures); f++ {
			fc := failures[f]
			fc.Objects, fc.ObjectsOmitted = nil, fc.ObjectsOmitted+len(fc.Objects)
			b, ok := appendFailure(nil, &fc)
			if !ok || len(b)+1 > room {
				break
			}
			room -= len(b) + 1
		}
		for ; f >= 0 && !fit(f); f-- {
		}
		if f < 0 {
			return nil, fmt.Errorf("%w: result of event %s needs more than %d bytes", ErrNoRoom, CutText(r.EventID, 64), limit)
		}
		c.Failures = append(failures[:f:f], moreFailures(r.Failures[f:]))
		src = append(r.Failures[:f:f], c.Failures[f])
	}
	return c.fitObjects(r, src, limit)
}

// MoreFailuresTitle is the title of the Failure that stands for the
// failures a shortened result leaves out (see EncodeWithin).
const MoreFailuresTitle = "more failures"

// moreFailures is one Failure that stands for fs, counting their objects.
func moreFailures(fs []Failure) Failure {
	n := 0
	for _, f := range fs {
		n += len(f.Objects) + f.ObjectsOmitted
	}
	return Failure{Title: MoreFailuresTitle, Detail: fmt.Sprintf("%d more failures left out to fit the result in a message", len(fs)), ObjectsOmitted: n}
}

// keepObjects encodes c with the first k objects of purges and failures,
// in that order, in c's own Purges and Failures (copies of those).
func (c *PurgeResult) keepObjects(purges []Purge, failures []Failure, k int) ([]byte, error) {
	for i, p := range purges {
		n := min(k, len(p.Objects))
		c.Purges[i].Objects, c.Purges[i].ObjectsOmitted = p.Objects[:n], p.ObjectsOmitted+len(p.Objects)-n
		k -= n
	}
	for i, f := range failures {
		n := min(k, len(f.Objects))
		c.Failures[i].Objects, c.Failures[i].ObjectsOmitted = f.Objects[:n], f.ObjectsOmitted+len(f.Objects)-n
		k -= n
	}
	return c.Encode()
}

// fitObjects encodes c, whose purges are r's and whose failures are
// failures, with as many objects as fit in limit.
func (c *PurgeResult) fitObjects(r *PurgeResult, failures []Failure, limit int) ([]byte, error) {
	// Keep the first k objects of the lists, in order: the largest k
	// that fits, by bisection (a handful of encodings, on a rare path).
	keep := func(k int) ([]byte, error) { return c.keepObjects(r.Purges, failures, k) }
	// Every object omitted, the counts are longest: what room is left
	// takes the first objects, by their sizes, and the result fits.
	b, err := keep(0)
	if err != nil || len(b) > limit {
		if err == nil {
			err = fmt.Errorf("%w: result of event %s needs more than %d bytes", ErrNoRoom, CutText(r.EventID, 64), limit)
		}
		return nil, err
	}
	room, k := limit-len(b), 0
	take := func(t akamai.Type, objs []string) bool {
		for i, o := range objs {
			n := len(o) // a CP code, unquoted
			if t != akamai.TypeCPCode {
				n = jsonSize(o) + 2
			}
			if i > 0 {
				n++ // the comma
			}
			if n > room {
				return false
			}
			room -= n
			k++
		}
		return true
	}
	for _, p := range r.Purges {
		if !take(p.Type, p.Objects) {
			return keep(k)
		}
	}
	for _, f := range failures {
		if !take(f.Type, f.Objects) {
			return keep(k)
		}
	}
	return keep(k)
}

// SetPayload puts the original event in d, whole, with its size and
// SHA-256.
func (d *DeadLetter) SetPayload(payload []byte) {
	d.PayloadBytes = len(payload)
	sum := sha256.Sum256(payload)
	d.PayloadSHA256 = hex.EncodeToString(sum[:])
	d.Payload, d.PayloadBase64, d.PayloadTruncated = "", nil, false
	if utf8.Valid(payload) {
		d.Payload = string(payload)
	} else {
		d.PayloadBase64 = payload
	}
}

// Fits reports whether d, encoded, fits in limit bytes as it is. It
// measures the payload as JSON rather than encoding it: an event near a
// megabyte of control bytes would take six.
func (d *DeadLetter) Fits(limit int) bool {
	c := *d
	c.Payload, c.PayloadBase64 = "", nil
	b, err := c.Encode()
	if err != nil {
		return false
	}
	n := len(b)
	switch {
	case d.PayloadBase64 != nil:
		n += len(`,"payload_base64":""`) + base64.StdEncoding.EncodedLen(len(d.PayloadBase64))
	case d.Payload != "":
		n += len(`,"payload":""`) + jsonSize(d.Payload)
	}
	return n <= limit
}

// EncodeWithin returns d encoded in at most limit bytes. A dead letter
// too large keeps, on a copy, only the beginning of its payload (at most
// MaxPayloadPrefix bytes, fewer if need be; PayloadTruncated set) and of
// its reason, source and headers (MaxTextBytes); the whole event is for
// the caller to store where PayloadBucket and PayloadObject say. Set the
// payload with SetPayload first.
func (d *DeadLetter) EncodeWithin(limit int) ([]byte, error) {
	if d.Fits(limit) {
		return d.Encode()
	}
	for textBytes := MaxTextBytes; ; textBytes /= 4 {
		b, err := d.shorten(limit, textBytes)
		if !errors.Is(err, ErrNoRoom) || textBytes/4 < minTextBytes {
			return b, err
		}
	}
}

// shorten is EncodeWithin for a dead letter that does not fit, with
// texts of at most textBytes.
func (d *DeadLetter) shorten(limit, textBytes int) ([]byte, error) {
	c := *d
	c.Reason, c.Source, c.Subject = cutJSON(c.Reason, textBytes), cutJSON(c.Source, textBytes), cutJSON(c.Subject, textBytes)
	if len(d.Headers) > 0 {
		// Headers cut short would be wrong: those too long go.
		c.Headers = map[string][]string{}
		for k, vs := range d.Headers {
			for _, v := range vs {
				if jsonSize(k)+jsonSize(v) <= textBytes {
					c.Headers[k] = append(c.Headers[k], v)
				}
			}
		}
	}
	whole := d.OriginalPayload()
	var b []byte
	var err error
	for n := min(len(whole), MaxPayloadPrefix); ; n /= 2 {
		c.PayloadTruncated = true
		if c.PayloadBase64 != nil {
			c.PayloadBase64 = whole[:n]
		} else {
			c.Payload = d.Payload[:runeCut(d.Payload, n)]
		}
		if b, err = c.Encode(); err != nil || len(b) <= limit {
			return b, err
		}
		if n == 0 {
			return nil, fmt.Errorf("%w: dead letter of event %s needs more than %d bytes", ErrNoRoom, CutText(d.EventID, 64), limit)
		}
	}
}

// runeCut returns the longest length up to n at which s can be cut
// between characters.
func runeCut(s string, n int) int {
	if n >= len(s) {
		return len(s)
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return n
}

// jsonRuneSize is the size of the character at the start of s as
// appendJSONString writes it, and the bytes it takes in s.
func jsonRuneSize(s string) (out, in int) {
	c := s[0]
	if c < utf8.RuneSelf {
		switch {
		case jsonSafe[c]:
			return 1, 1
		case c == '"' || c == '\\' || c == '\b' || c == '\f' || c == '\n' || c == '\r' || c == '\t':
			return 2, 1
		}
		return 6, 1 // \u00XX
	}
	r, size := utf8.DecodeRuneInString(s)
	if r == utf8.RuneError && size == 1 || r == '\u2028' || r == '\u2029' {
		return 6, size // \ufffd, \u2028, \u2029
	}
	return size, size
}

// jsonSize is the size of s quoted as JSON, quotes excluded.
func jsonSize(s string) int {
	n := 0
	for i := 0; i < len(s); {
		out, in := jsonRuneSize(s[i:])
		n, i = n+out, i+in
	}
	return n
}

// cutJSON returns s if it takes at most n bytes quoted as JSON (quotes
// excluded), else its longest beginning, cut between characters, that
// does with "…" appended.
func cutJSON(s string, n int) string {
	const ellipsis = "…"
	size, i := 0, 0
	for i < len(s) {
		out, in := jsonRuneSize(s[i:])
		if size+out > n-len(ellipsis) {
			break
		}
		size, i = size+out, i+in
	}
	if i == len(s) {
		return s
	}
	if jsonSize(s[i:])+size <= n {
		return s
	}
	if i == 0 {
		return ""
	}
	return s[:i] + ellipsis
}

// CutText returns s if it is at most n bytes, else its longest beginning,
// cut between characters, that fits n bytes with "…" appended.
func CutText(s string, n int) string {
	if len(s) <= n {
		return s
	}
	const ellipsis = "…"
	cut := runeCut(s, max(n-len(ellipsis), 0))
	if cut == 0 {
		return ""
	}
	return s[:cut] + ellipsis
}
