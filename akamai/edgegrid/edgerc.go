package edgegrid

import (
	"bufio"
	"fmt"
	"io"
	"strings"
)

// ParseError reports a malformed .edgerc file. It never quotes the offending
// line, which may hold a secret.
type ParseError struct {
	Path   string // file name; empty when parsing a bare io.Reader
	Line   int    // 1-based line number
	Reason string // what is wrong, e.g. "expected key = value"
}

// Error implements error.
func (e *ParseError) Error() string {
	name := e.Path
	if name == "" {
		name = ".edgerc"
	}
	return fmt.Sprintf("edgegrid: %s line %d: %s", name, e.Line, e.Reason)
}

// ParseEdgerc parses an .edgerc INI file into sections of key/value pairs.
//
// Section names keep their case; keys are lower-cased. A line is a
// "[section]" header, a "key = value" (or "key: value") pair, blank, or a
// comment starting with ';' or '#'. Only the first '=' or ':' separates key
// from value, so base64 secrets containing '=', '+' and '/' survive. A value
// may be wrapped in double or single quotes, which are removed; an unquoted
// value ends at a ';' or '#' preceded by whitespace (an inline comment).
// Repeated sections merge and a repeated key keeps its last value. A key
// before the first section header is an error, as in Python's configparser.
// Errors are *ParseError values.
func ParseEdgerc(r io.Reader) (map[string]map[string]string, error) {
	sections := make(map[string]map[string]string)
	var current map[string]string
	sc := bufio.NewScanner(r)
	for n := 1; sc.Scan(); n++ {
		line := sc.Text()
		if n == 1 {
			line = strings.TrimPrefix(line, "\uFEFF")
		}
		line = strings.TrimSpace(line)
		if line == "" || line[0] == ';' || line[0] == '#' {
			continue
		}
		if line[0] == '[' {
			end := strings.IndexByte(line, ']')
			if end < 0 {
				return nil, &ParseError{Line: n, Reason: "unterminated section header"}
			}
			name := strings.TrimSpace(line[1:end])
			if name == "" {
				return nil, &ParseError{Line: n, Reason: "empty section name"}
			}
			if !isCommentOrEmpty(line[end+1:]) {
				return nil, &ParseError{Line: n, Reason: "unexpected text after section header"}
			}
			if sections[name] == nil {
				sections[name] = make(map[string]string)
			}
			current = sections[name]
			continue
		}
		sep := strings.IndexAny(line, "=:")
		if sep < 0 {
			return nil, &ParseError{Line: n, Reason: "expected key = value"}
		}
		key := strings.ToLower(strings.TrimSpace(line[:sep]))
		if key == "" {
			return nil, &ParseError{Line: n, Reason: "missing key before '='"}
		}
		if current == nil {
			return nil, &ParseError{Line: n, Reason: describeKey(key) + " outside of any [section]"}
		}
		val, reason := parseValue(strings.TrimSpace(line[sep+1:]))
		if reason != "" {
			return nil, &ParseError{Line: n, Reason: reason + " for " + describeKey(key)}
		}
		current[key] = val
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("edgegrid: reading .edgerc: %w", err)
	}
	return sections, nil
}

// parseValue unquotes v or strips its inline comment. A non-empty reason
// says why v is malformed.
func parseValue(v string) (val, reason string) {
	if v != "" && (v[0] == '"' || v[0] == '\'') {
		end := strings.IndexByte(v[1:], v[0])
		if end < 0 {
			return "", "unterminated quoted value"
		}
		if !isCommentOrEmpty(v[end+2:]) {
			return "", "unexpected text after quoted value"
		}
		return v[1 : end+1], ""
	}
	if isCommentOrEmpty(v) {
		return "", ""
	}
	for i := 1; i < len(v); i++ {
		if (v[i] == ';' || v[i] == '#') && (v[i-1] == ' ' || v[i-1] == '\t') {
			return strings.TrimSpace(v[:i]), ""
		}
	}
	return v, ""
}

// describeKey names key in an error if it is a known .edgerc key. Any other
// "key" could be part of a pasted secret, so errors do not quote it.
func describeKey(key string) string {
	switch key {
	case "host", "client_token", "client_secret", "access_token",
		"max_body", "max-body", "account_key", "account-key", "headers_to_sign":
		return "key " + key
	}
	return "an unrecognised key"
}

// isCommentOrEmpty reports whether s is blank or a comment.
func isCommentOrEmpty(s string) bool {
	s = strings.TrimSpace(s)
	return s == "" || s[0] == ';' || s[0] == '#'
}
