package akamaitest

import (
	"strings"

	"github.com/purgebus/purgebus/akamai"
)

// parseFast decodes the common form of a purge body without
// encoding/json: one JSON object with an "objects" array of strings of
// printable ASCII without spaces or escapes (url, tag) or of positive
// integer literals
// (cpcode), and for url requests an optional "hostname" string, with any
// JSON white space. It makes one string of the body and slices the objects
// from it. ok is false for anything else (escapes, spaces, non-ASCII, null,
// duplicate, unknown or differently cased members, other numbers, syntax
// errors); the caller then decodes with encoding/json, whose verdict is
// authoritative. When ok, the result equals encoding/json's (FuzzParseBody
// checks it).
func parseFast(t akamai.Type, body []byte) (pb purgeBody, hasHostname, ok bool) {
	p := fastScanner{s: string(body)}
	p.ws()
	if !p.byte('{') {
		return pb, false, false
	}
	seenObjects := false
	for {
		p.ws()
		key, ok := p.str()
		if !ok {
			return pb, false, false
		}
		p.ws()
		if !p.byte(':') {
			return pb, false, false
		}
		p.ws()
		switch {
		case key == "objects" && !seenObjects:
			seenObjects = true
			if pb.Objects, ok = p.array(t == akamai.TypeCPCode); !ok {
				return pb, false, false
			}
		case key == "hostname" && t == akamai.TypeURL && !hasHostname:
			hasHostname = true
			if pb.Hostname, ok = p.str(); !ok {
				return pb, false, false
			}
		default:
			return pb, false, false
		}
		p.ws()
		if p.byte('}') {
			break
		}
		if !p.byte(',') {
			return pb, false, false
		}
	}
	p.ws()
	pb.clean = true
	return pb, hasHostname, seenObjects && p.i == len(p.s)
}

type fastScanner struct {
	s string
	i int
}

func (p *fastScanner) ws() {
	for p.i < len(p.s) {
		switch p.s[p.i] {
		case ' ', '\t', '\n', '\r':
			p.i++
		default:
			return
		}
	}
}

// byte consumes c if it is next.
func (p *fastScanner) byte(c byte) bool {
	if p.i < len(p.s) && p.s[p.i] == c {
		p.i++
		return true
	}
	return false
}

// str consumes a string of printable ASCII without spaces or escapes.
func (p *fastScanner) str() (string, bool) {
	if !p.byte('"') {
		return "", false
	}
	end := strings.IndexByte(p.s[p.i:], '"')
	if end < 0 {
		return "", false
	}
	v := p.s[p.i : p.i+end]
	for i := 0; i < len(v); i++ {
		if c := v[i]; c <= ' ' || c >= 0x7f || c == '\\' {
			return "", false
		}
	}
	p.i += end + 1
	return v, true
}

// posInt consumes a positive integer literal of at most 18 digits without
// a leading zero, which is its own canonical decimal form.
func (p *fastScanner) posInt() (string, bool) {
	start := p.i
	for p.i < len(p.s) && '0' <= p.s[p.i] && p.s[p.i] <= '9' {
		p.i++
	}
	n := p.i - start
	if n == 0 || n > 18 || p.s[start] == '0' {
		return "", false
	}
	return p.s[start:p.i], true
}

// array consumes an array of strings, or of positive integers.
func (p *fastScanner) array(ints bool) ([]string, bool) {
	if !p.byte('[') {
		return nil, false
	}
	out := make([]string, 0, strings.Count(p.s[p.i:], ",")+1)
	p.ws()
	if p.byte(']') {
		return out, true
	}
	for {
		var (
			v  string
			ok bool
		)
		if ints {
			v, ok = p.posInt()
		} else {
			v, ok = p.str()
		}
		if !ok {
			return nil, false
		}
		out = append(out, v)
		p.ws()
		if p.byte(']') {
			return out, true
		}
		if !p.byte(',') {
			return nil, false
		}
		p.ws()
	}
}

// plainURL reports whether u, known to be printable ASCII without spaces,
// is an absolute http or https URL in the form that
// akamai.NormalizeObject returns unchanged: lower-case scheme and a host.
// Other URLs are judged by NormalizeObject itself.
func plainURL(u string) bool {
	rest, ok := strings.CutPrefix(u, "https://")
	if !ok {
		if rest, ok = strings.CutPrefix(u, "http://"); !ok {
			return false
		}
	}
	// Characters a browser would percent-encode send the URL the slow
	// way, through the same check as the client's normalisation.
	return rest != "" && strings.IndexByte("/?#:", rest[0]) < 0 && !strings.ContainsAny(rest, "\"<>\\^`{|}")
}
