package events

import (
	"time"

	"github.com/go-json-experiment/json"
	"unicode/utf16"
	"unicode/utf8"
)

// decodeFast decodes the common shape of an event without the library
// (github.com/go-json-experiment/json, see unmarshal): one JSON object
// whose keys are the field names exactly as tagged, each at most once,
// with values of the right types (no null), plus unknown keys in ASCII
// that no field name matches even case-insensitively, each at most once,
// with any JSON value whose objects repeat no name; whitespace around.
// For such input it fills e exactly as the library would and returns
// true. For anything else (a syntax error, a wrong type, a repeated name,
// null, a key differing from a field's name only in case, trailing data,
// deep nesting) it returns false, having perhaps filled e partly: Decode
// then starts over with the library, which decides, and explains any
// refusal. data must be valid UTF-8.
//
// It is kept for speed, as measured on 2026-12-04 on a busy 2-core
// machine, go run ./cmd/purgeload --only 2, runs alternated: the
// consumer's CPU per event was 61.9 µs (median of 4) with this path and
// 66.5 µs without it, the library decoding every event (7 %, over the 5 %
// that justifies hand-written code); BenchmarkDecodeNewGoroutine, a
// fresh goroutine per event as the consumer's router runs it: 2.0–2.6 µs
// here, 3.4–4.5 µs through the library, whose deep reflection grows the
// goroutine's small stack.
//
// decode_fast_test.go checks it against the library on tables, random
// and fuzzed input.
func decodeFast(data []byte, e *ContentChanged) bool {
	p := fastParser{data: data}
	p.space()
	if !p.byte('{') {
		return false
	}
	p.space()
	var seen uint16
	var unknown [][]byte // unknown keys so far, quoted
	if !p.byte('}') {
		for {
			key, ok := p.rawString()
			if !ok {
				return false
			}
			p.space()
			if !p.byte(':') {
				return false
			}
			p.space()
			f := fieldOf(key)
			if f != fieldNone {
				if seen&(1<<f) != 0 {
					return false // encoding/json's last-wins on a repeat: let it
				}
				seen |= 1 << f
			}
			switch f {
			case fieldID:
				ok = p.string(&e.ID)
			case fieldSource:
				ok = p.string(&e.Source)
			case fieldAction:
				ok = p.string((*string)(&e.Action))
			case fieldNetwork:
				ok = p.string((*string)(&e.Network))
			case fieldURLs:
				e.URLs, ok = p.strings()
			case fieldTags:
				e.Tags, ok = p.strings()
			case fieldCPCodes:
				e.CPCodes, ok = p.ints()
			case fieldOccurredAt:
				ok = p.time(&e.OccurredAt)
			case fieldMetadata:
				e.Metadata, ok = p.stringMap()
			default:
				// The library refuses a repeated name, unknown or not.
				ok = unknownKeyOK(key) && !repeated(unknown, key) && p.skip(0)
				unknown = append(unknown, key)
			}
			if !ok {
				return false
			}
			p.space()
			if p.byte('}') {
				break
			}
			if !p.byte(',') {
				return false
			}
			p.space()
		}
	}
	p.space()
	return p.i == len(p.data)
}

// The fields of ContentChanged, by bit in decodeFast's seen.
const (
	fieldID = iota
	fieldURLs
	fieldTags
	fieldCPCodes
	fieldAction
	fieldNetwork
	fieldSource
	fieldOccurredAt
	fieldMetadata
	fieldNone
)

// fieldOf returns the field whose JSON name is exactly key (still quoted
// as it came; a name with an escape is no match).
func fieldOf(key []byte) int {
	switch string(key) {
	case `"id"`:
		return fieldID
	case `"urls"`:
		return fieldURLs
	case `"tags"`:
		return fieldTags
	case `"cpcodes"`:
		return fieldCPCodes
	case `"action"`:
		return fieldAction
	case `"network"`:
		return fieldNetwork
	case `"source"`:
		return fieldSource
	case `"occurred_at"`:
		return fieldOccurredAt
	case `"metadata"`:
		return fieldMetadata
	}
	return fieldNone
}

// unknownKeyOK reports whether encoding/json certainly ignores the key
// (quoted, as it came), no field name being exactly its name: it is ASCII
// without escapes (escapes and non-ASCII letters such as K, the Kelvin
// sign, would need encoding/json's folding) and no field name equals it
// ignoring case.
func unknownKeyOK(key []byte) bool {
	var lower [len(`"occurred_at"`)]byte
	for i, c := range key {
		if c >= utf8.RuneSelf || c == '\\' {
			return false
		}
		if i < len(lower) {
			if 'A' <= c && c <= 'Z' {
				c += 'a' - 'A'
			}
			lower[i] = c
		}
	}
	return len(key) > len(lower) || fieldOf(lower[:len(key)]) == fieldNone
}

// repeated reports whether names holds name.
func repeated(names [][]byte, name []byte) bool {
	for _, n := range names {
		if string(n) == string(name) {
			return true
		}
	}
	return false
}

// fastParser reads JSON from data at i.
type fastParser struct {
	data []byte
	i    int
}

func (p *fastParser) space() {
	for p.i < len(p.data) {
		switch p.data[p.i] {
		case ' ', '\t', '\n', '\r':
			p.i++
		default:
			return
		}
	}
}

// byte consumes c if it is next.
func (p *fastParser) byte(c byte) bool {
	if p.i < len(p.data) && p.data[p.i] == c {
		p.i++
		return true
	}
	return false
}

// rawString consumes a string and returns it with its quotes and escapes,
// having checked its syntax as encoding/json's scanner does.
func (p *fastParser) rawString() ([]byte, bool) {
	raw, _, ok := p.scanString()
	return raw, ok
}

// scanString consumes a string, checking its syntax, and returns it
// quoted, and whether it holds escapes.
func (p *fastParser) scanString() (raw []byte, escaped, ok bool) {
	d := p.data
	start := p.i
	if start >= len(d) || d[start] != '"' {
		return nil, false, false
	}
	for j := start + 1; j < len(d); {
		switch c := d[j]; {
		case c == '"':
			p.i = j + 1
			return d[start:p.i], escaped, true
		case c < ' ':
			return nil, false, false
		case c == '\\':
			escaped = true
			if j+1 >= len(d) {
				return nil, false, false
			}
			switch d[j+1] {
			case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
				j += 2
			case 'u':
				if j+6 > len(d) || hex4(d[j+2:j+6]) < 0 {
					return nil, false, false
				}
				j += 6
			default:
				return nil, false, false
			}
		default:
			j++
		}
	}
	return nil, false, false
}

// string decodes a string into *s.
func (p *fastParser) string(s *string) bool {
	raw, escaped, ok := p.scanString()
	if !ok {
		return false
	}
	raw = raw[1 : len(raw)-1]
	if !escaped {
		// Valid UTF-8 (Decode checked), no escape: encoding/json takes
		// the bytes as they are.
		*s = string(raw)
	} else {
		var ok bool
		if *s, ok = unescape(raw); !ok {
			return false
		}
	}
	return true
}

// strings decodes an array of strings: [] is an empty slice, not nil, as
// encoding/json makes it.
func (p *fastParser) strings() ([]string, bool) {
	if !p.byte('[') {
		return nil, false
	}
	p.space()
	if p.byte(']') {
		return []string{}, true
	}
	// Count the elements first, to allocate once: a string holds no
	// ',' or ']' but within its quotes.
	out := make([]string, 0, p.countElems())
	for {
		var s string
		if !p.string(&s) {
			return nil, false
		}
		out = append(out, s)
		p.space()
		if p.byte(']') {
			return out, true
		}
		if !p.byte(',') {
			return nil, false
		}
		p.space()
	}
}

// countElems estimates the elements of the array of strings just opened:
// exact for valid input.
func (p *fastParser) countElems() int {
	n, inStr := 1, false
	d := p.data
	for j := p.i; j < len(d); j++ {
		switch c := d[j]; {
		case inStr && c == '\\':
			j++
		case c == '"':
			inStr = !inStr
		case inStr:
		case c == ',':
			n++
		case c == ']':
			return n
		}
	}
	return n
}

// stringMap decodes an object of strings: {} is an empty map, not nil, and
// a repeated key's last value wins, as encoding/json makes them.
func (p *fastParser) stringMap() (map[string]string, bool) {
	if !p.byte('{') {
		return nil, false
	}
	m := make(map[string]string)
	p.space()
	if p.byte('}') {
		return m, true
	}
	for {
		var k, v string
		if !p.string(&k) {
			return nil, false
		}
		p.space()
		if !p.byte(':') {
			return nil, false
		}
		p.space()
		if !p.string(&v) {
			return nil, false
		}
		if _, dup := m[k]; dup {
			return nil, false // the library refuses a repeated name
		}
		m[k] = v
		p.space()
		if p.byte('}') {
			return m, true
		}
		if !p.byte(',') {
			return nil, false
		}
		p.space()
	}
}

// ints decodes an array of int64s: JSON integers in range, as
// encoding/json takes them (no fraction or exponent, even if integral).
func (p *fastParser) ints() ([]int64, bool) {
	if !p.byte('[') {
		return nil, false
	}
	p.space()
	if p.byte(']') {
		return []int64{}, true
	}
	var out []int64
	for {
		n, ok := p.int()
		if !ok {
			return nil, false
		}
		out = append(out, n)
		p.space()
		if p.byte(']') {
			return out, true
		}
		if !p.byte(',') {
			return nil, false
		}
		p.space()
	}
}

// int decodes a JSON integer within int64: -?(0|[1-9][0-9]*) followed by
// neither a fraction nor an exponent.
func (p *fastParser) int() (int64, bool) {
	d := p.data
	j := p.i
	neg := j < len(d) && d[j] == '-'
	if neg {
		j++
	}
	start := j
	var u uint64
	for j < len(d) && '0' <= d[j] && d[j] <= '9' {
		u = u*10 + uint64(d[j]-'0')
		j++
	}
	digits := j - start
	switch {
	case digits == 0, digits > 1 && d[start] == '0', digits > 19:
		return 0, false
	case j < len(d) && (d[j] == '.' || d[j] == 'e' || d[j] == 'E'):
		return 0, false
	case neg && u > 1<<63, !neg && u > 1<<63-1:
		return 0, false
	}
	p.i = j
	if neg {
		return -int64(u), true // -(1<<63) wraps to itself: MinInt64
	}
	return int64(u), true
}

// time decodes a time as the library does (its RFC 3339 is stricter than
// time.Time.UnmarshalJSON's): the literal, quotes and escapes included,
// goes to it.
func (p *fastParser) time(t *time.Time) bool {
	raw, ok := p.rawString()
	return ok && json.Unmarshal(raw, t) == nil
}

// skip consumes any JSON value, checking its syntax.
func (p *fastParser) skip(depth int) bool {
	if depth > 64 || p.i >= len(p.data) {
		return false
	}
	switch c := p.data[p.i]; {
	case c == '"':
		var v string
		return p.string(&v) // the library checks what it skips too

	case c == '{':
		p.i++
		p.space()
		if p.byte('}') {
			return true
		}
		var names [][]byte
		for {
			// The library refuses a repeated name at any depth; a name
			// with escapes may repeat another written otherwise.
			name, escaped, ok := p.scanString()
			if !ok || escaped || repeated(names, name) {
				return false
			}
			names = append(names, name)
			p.space()
			if !p.byte(':') {
				return false
			}
			p.space()
			if !p.skip(depth + 1) {
				return false
			}
			p.space()
			if p.byte('}') {
				return true
			}
			if !p.byte(',') {
				return false
			}
			p.space()
		}
	case c == '[':
		p.i++
		p.space()
		if p.byte(']') {
			return true
		}
		for {
			if !p.skip(depth + 1) {
				return false
			}
			p.space()
			if p.byte(']') {
				return true
			}
			if !p.byte(',') {
				return false
			}
			p.space()
		}
	case c == '-' || '0' <= c && c <= '9':
		return p.number()
	default:
		for _, lit := range [...]string{"true", "false", "null"} {
			if len(p.data)-p.i >= len(lit) && string(p.data[p.i:p.i+len(lit)]) == lit {
				p.i += len(lit)
				return true
			}
		}
		return false
	}
}

// number consumes a JSON number: -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?
func (p *fastParser) number() bool {
	d := p.data
	j := p.i
	digits := func() int {
		s := j
		for j < len(d) && '0' <= d[j] && d[j] <= '9' {
			j++
		}
		return j - s
	}
	if j < len(d) && d[j] == '-' {
		j++
	}
	if j < len(d) && d[j] == '0' {
		j++
	} else if digits() == 0 {
		return false
	}
	if j < len(d) && d[j] == '.' {
		j++
		if digits() == 0 {
			return false
		}
	}
	if j < len(d) && (d[j] == 'e' || d[j] == 'E') {
		j++
		if j < len(d) && (d[j] == '+' || d[j] == '-') {
			j++
		}
		if digits() == 0 {
			return false
		}
	}
	p.i = j
	return true
}

// hex4 returns the value of four hex digits, or -1.
func hex4(b []byte) rune {
	var r rune
	for _, c := range b {
		switch {
		case '0' <= c && c <= '9':
			c -= '0'
		case 'a' <= c && c <= 'f':
			c -= 'a' - 10
		case 'A' <= c && c <= 'F':
			c -= 'A' - 10
		default:
			return -1
		}
		r = r*16 + rune(c)
	}
	return r
}

// unescape decodes the inside of a string whose syntax scanString
// checked. A surrogate half that is not the first of a valid \u pair is
// !ok: the library refuses it as invalid UTF-8.
func unescape(s []byte) (string, bool) {
	b := make([]byte, 0, len(s))
	for i := 0; i < len(s); {
		c := s[i]
		if c != '\\' {
			b = append(b, c)
			i++
			continue
		}
		switch s[i+1] {
		case 'b':
			b = append(b, '\b')
		case 'f':
			b = append(b, '\f')
		case 'n':
			b = append(b, '\n')
		case 'r':
			b = append(b, '\r')
		case 't':
			b = append(b, '\t')
		case 'u':
			r := hex4(s[i+2 : i+6])
			i += 6
			if utf16.IsSurrogate(r) {
				r2 := rune(-1)
				if i+6 <= len(s) && s[i] == '\\' && s[i+1] == 'u' {
					r2 = hex4(s[i+2 : i+6])
				}
				if dec := utf16.DecodeRune(r, r2); dec != utf8.RuneError {
					b = utf8.AppendRune(b, dec)
					i += 6
					continue
				}
				return "", false
			}
			b = utf8.AppendRune(b, r)
			continue
		default: // '"', '\\', '/'
			b = append(b, s[i+1])
		}
		i += 2
	}
	return string(b), true
}
