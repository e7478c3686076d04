package routing

import (
	"errors"
	"strings"
)

// patternKind orders host patterns by specificity: a higher kind wins.
type patternKind int

const (
	patternAny      patternKind = iota // "*": every host
	patternWildcard                    // "*.example.org": any subdomain of example.org
	patternExact                       // "www.example.org"
)

// hostPattern is a parsed, lower-cased host pattern.
type hostPattern struct {
	kind patternKind
	name string // "" for patternAny; the part after "*." for patternWildcard
}

// parseHostPattern parses "*", "*.example.org" or "www.example.org"
// (any case). The error message is meant for operators.
func parseHostPattern(s string) (hostPattern, error) {
	switch {
	case s == "*":
		return hostPattern{kind: patternAny}, nil
	case strings.HasPrefix(s, "["):
		return hostPattern{}, errors.New(`IPv6 literals cannot be routed but by "*"`)
	case strings.Contains(s, "://"), strings.ContainsAny(s, "/?#:@"):
		return hostPattern{}, errors.New("a host pattern is a bare host name such as www.example.com or *.example.com, without scheme, port or path")
	case strings.Contains(strings.TrimPrefix(s, "*."), "*"):
		return hostPattern{}, errors.New(`"*" may only stand alone or as the first label, as in *.example.com`)
	case strings.HasPrefix(s, "*."):
		name, err := patternHost(s[2:])
		return hostPattern{kind: patternWildcard, name: name}, err
	}
	name, err := patternHost(s)
	return hostPattern{kind: patternExact, name: name}, err
}

// patternHost checks and lower-cases the host name of a pattern.
func patternHost(s string) (string, error) {
	switch {
	case s == "":
		return "", errors.New("empty host name")
	case strings.HasSuffix(s, "."):
		return "", errors.New("host name must not end with a dot")
	}
	h, ok := canonicalHost(s)
	if !ok {
		return "", errors.New("not a valid host name: labels of 1-63 letters, digits, '-' or '_' separated by dots, 253 characters at most")
	}
	return h, nil
}

// canonicalHost returns s lower-cased if it is a valid host name: ASCII
// labels of letters, digits, '-' and '_', each 1-63 bytes, 253 bytes in
// all. IPv4 addresses qualify. Only ASCII letters are folded, so that no
// Unicode case folding (the Kelvin sign lower-cases to 'k') can make a
// host match a pattern it does not spell.
func canonicalHost(s string) (string, bool) {
	if len(s) == 0 || len(s) > 253 {
		return "", false
	}
	label := 0
	upper := false
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '.':
			if label == 0 {
				return "", false
			}
			label = 0
			continue
		case 'A' <= c && c <= 'Z':
			upper = true
		case 'a' <= c && c <= 'z', '0' <= c && c <= '9', c == '-', c == '_':
		default:
			return "", false
		}
		if label++; label > 63 {
			return "", false
		}
	}
	if label == 0 {
		return "", false
	}
	if !upper {
		return s, true
	}
	b := []byte(s)
	for i, c := range b {
		if 'A' <= c && c <= 'Z' {
			b[i] = c + 'a' - 'A'
		}
	}
	return string(b), true
}

// urlHost returns the host of an absolute URL, or the origin host of an
// ARL ("/L/512/6848/1h/www.example.com/a.jpg"): lower-cased, without port
// and without one trailing dot. ok is false when the host is not a plain
// host name (userinfo, an IPv6 literal, percent-encoding, ...); such a
// host matches only the "*" pattern. raw is the host as written, for
// messages.
func urlHost(u string) (host, raw string, ok bool) {
	if i := strings.Index(u, "://"); i >= 0 && !strings.HasPrefix(u, "/") {
		raw = u[i+3:]
	} else if rest, isARL := arlRest(u); isARL {
		raw = rest
	} else {
		return "", "", false
	}
	if end := strings.IndexAny(raw, "/?#"); end >= 0 {
		raw = raw[:end]
	}
	h := raw
	if j := strings.LastIndexByte(h, ':'); j >= 0 && allDigits(h[j+1:]) {
		h = h[:j]
	}
	h = strings.TrimSuffix(h, ".")
	host, ok = canonicalHost(h)
	if !ok {
		return "", raw, false
	}
	return host, raw, true
}

// arlRest returns what follows the four fields before the host of an ARL
// (/<type code>/<serial>/<CP code>/<TTL>/<host>/<path>).
func arlRest(u string) (string, bool) {
	if len(u) < 2 || u[0] != '/' || u[1] == '/' {
		return "", false
	}
	rest := u[1:]
	for range 4 {
		i := strings.IndexByte(rest, '/')
		if i <= 0 {
			return "", false
		}
		rest = rest[i+1:]
	}
	return rest, true
}

func allDigits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

// hostTable maps host patterns to values; the most specific pattern that
// matches wins, whatever the order the patterns were added in.
type hostTable[T any] struct {
	exact  map[string]T
	wild   map[string]T // by the name after "*."
	any    T
	hasAny bool
}

func newHostTable[T any]() *hostTable[T] {
	return &hostTable[T]{exact: map[string]T{}, wild: map[string]T{}}
}

// add adds p; it reports false if p was already present.
func (t *hostTable[T]) add(p hostPattern, v T) bool {
	switch p.kind {
	case patternAny:
		if t.hasAny {
			return false
		}
		t.any, t.hasAny = v, true
	case patternWildcard:
		if _, dup := t.wild[p.name]; dup {
			return false
		}
		t.wild[p.name] = v
	default:
		if _, dup := t.exact[p.name]; dup {
			return false
		}
		t.exact[p.name] = v
	}
	return true
}

// lookup returns the value of the most specific pattern matching host: an
// exact name, then the wildcard with the longest name, then "*". A host
// that is not valid (see urlHost) matches only "*".
func (t *hostTable[T]) lookup(host string, valid bool) (T, bool) {
	if valid {
		if v, ok := t.exact[host]; ok {
			return v, true
		}
		if len(t.wild) > 0 {
			for i := 0; i < len(host); i++ {
				if host[i] == '.' {
					if v, ok := t.wild[host[i+1:]]; ok {
						return v, true
					}
				}
			}
		}
	}
	return t.any, t.hasAny
}
