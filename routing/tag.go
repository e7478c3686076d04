package routing

import (
	"errors"
	"slices"
	"strings"

	"github.com/purgebus/purgebus/akamai"
)

// tagPattern is an exact cache tag, a prefix ("news-*"), or "*".
type tagPattern struct {
	any    bool
	prefix bool
	tag    string // the tag, or the prefix without '*'
}

// parseTagPattern parses a tag pattern. Tags are case-sensitive, as Akamai
// treats them.
func parseTagPattern(s string) (tagPattern, error) {
	if s == "*" {
		return tagPattern{any: true}, nil
	}
	p := tagPattern{tag: s}
	if strings.HasSuffix(s, "*") {
		p.prefix, p.tag = true, s[:len(s)-1]
	}
	if strings.Contains(p.tag, "*") {
		return p, errors.New(`"*" may only end a tag pattern, as in news-*`)
	}
	if _, err := akamai.NormalizeObject(akamai.TypeTag, p.tag); err != nil {
		var ie *akamai.InvalidObjectError
		if errors.As(err, &ie) {
			return p, errors.New(ie.Reason)
		}
		return p, err
	}
	return p, nil
}

// tagTable maps tag patterns to values: an exact tag wins over a prefix, a
// longer prefix over a shorter one, and any prefix over "*".
type tagTable[T any] struct {
	exact    map[string]T
	prefixes map[string]T
	lens     []int // distinct prefix lengths, longest first
	any      T
	hasAny   bool
}

func newTagTable[T any]() *tagTable[T] {
	return &tagTable[T]{exact: map[string]T{}, prefixes: map[string]T{}}
}

// add adds p; it reports false if p was already present.
func (t *tagTable[T]) add(p tagPattern, v T) bool {
	switch {
	case p.any:
		if t.hasAny {
			return false
		}
		t.any, t.hasAny = v, true
	case p.prefix:
		if _, dup := t.prefixes[p.tag]; dup {
			return false
		}
		t.prefixes[p.tag] = v
		if !slices.Contains(t.lens, len(p.tag)) {
			t.lens = append(t.lens, len(p.tag))
			slices.SortFunc(t.lens, func(a, b int) int { return b - a })
		}
	default:
		if _, dup := t.exact[p.tag]; dup {
			return false
		}
		t.exact[p.tag] = v
	}
	return true
}

// lookup returns the value of the most specific pattern matching tag.
func (t *tagTable[T]) lookup(tag string) (T, bool) {
	if v, ok := t.exact[tag]; ok {
		return v, true
	}
	for _, n := range t.lens {
		if n <= len(tag) {
			if v, ok := t.prefixes[tag[:n]]; ok {
				return v, true
			}
		}
	}
	return t.any, t.hasAny
}
