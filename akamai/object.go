package akamai

import (
	"fmt"
	"strconv"
	"strings"
	"unicode/utf8"
)

// Type is the kind of object a purge request names.
type Type string

// The three object types of Fast Purge.
const (
	TypeURL    Type = "url"
	TypeCPCode Type = "cpcode"
	TypeTag    Type = "tag"
)

// Action says what a purge does to the cached objects.
type Action string

// The two purge actions. Akamai recommends ActionInvalidate: the edge
// revalidates with the origin, and can still serve the stale copy if the
// origin is down.
const (
	ActionInvalidate Action = "invalidate"
	ActionDelete     Action = "delete"
)

// Network is the Akamai network a purge applies to.
type Network string

// The two networks.
const (
	NetworkProduction Network = "production"
	NetworkStaging    Network = "staging"
)

// Types lists every object type, in a stable order.
var Types = []Type{TypeURL, TypeCPCode, TypeTag}

// Valid reports whether t is one of the three object types.
func (t Type) Valid() bool { return t == TypeURL || t == TypeCPCode || t == TypeTag }

// Valid reports whether a is one of the two actions.
func (a Action) Valid() bool { return a == ActionInvalidate || a == ActionDelete }

// Valid reports whether n is one of the two networks.
func (n Network) Valid() bool { return n == NetworkProduction || n == NetworkStaging }

// MaxTagLength is the longest cache tag Akamai purges; a longer one is
// silently ignored by Akamai, so it is rejected here.
const MaxTagLength = 128

// InvalidObjectError reports an object that Akamai would refuse. Such an
// object is never sent.
type InvalidObjectError struct {
	Type   Type
	Object string
	Reason string
}

func (e *InvalidObjectError) Error() string {
	obj := e.Object
	if len(obj) > 200 {
		cut := 200
		for cut > 0 && !utf8.RuneStart(obj[cut]) {
			cut-- // whole characters only
		}
		obj = obj[:cut] + "…"
	}
	return fmt.Sprintf("akamai: invalid %s %q: %s", e.Type, obj, e.Reason)
}

// NormalizeObject validates obj as an object of type t and returns the form
// in which it is sent to Akamai. URLs are absolute http or https URLs, or
// ARLs (Akamai Resource Locators, "/L/512/6848/1h/www.example.com/a.jpg"):
// in their path and query, spaces, non-ASCII bytes and the characters
// "<>\^`{|} are percent-encoded (existing %XX escapes are kept as they
// are), and a URL's scheme is lower-cased. URLs with user info
// (user:password@), an invalid port, a '%' that does not start a %XX escape
// or a fragment (#…) are refused: Akamai caches by host, path and query
// alone, so none of them can name a cached object. CP codes are written in
// canonical decimal. The error is an *InvalidObjectError.
func NormalizeObject(t Type, obj string) (string, error) {
	switch t {
	case TypeURL:
		return normalizeURL(obj)
	case TypeTag:
		if err := validateTag(obj); err != nil {
			return "", err
		}
		return obj, nil
	case TypeCPCode:
		return normalizeCPCode(obj)
	}
	return "", &InvalidObjectError{Type: t, Object: obj, Reason: "unknown object type"}
}

// maxObjectBytes is the largest encoded object that still fits a request
// on its own.
const maxObjectBytes = MaxBodyBytes - bodyOverhead

// normalizeURL normalizes a URL or an ARL; both are url objects, and
// Akamai takes them in the same request.
func normalizeURL(raw string) (string, error) {
	bad := func(reason string) (string, error) {
		return "", &InvalidObjectError{Type: TypeURL, Object: raw, Reason: reason}
	}
	if raw == "" {
		return bad("empty URL")
	}
	var (
		prefix string // the normalized ARL fields, or scheme and "://"
		rest   string // the host and what follows it
		lower  bool   // the scheme is to be lowercased
	)
	if isARL(raw) {
		// The four fields before the host need no encoding: arlPrefix
		// accepted only digits and a type code in them.
		n, reason := arlPrefix(raw)
		if reason != "" {
			return bad(reason)
		}
		prefix, rest = raw[:n], raw[n:]
	} else {
		schemeEnd := strings.Index(raw, "://")
		if schemeEnd < 0 {
			return bad("not an absolute http or https URL, nor an ARL (/L/…)")
		}
		scheme := raw[:schemeEnd]
		switch {
		case scheme == "http" || scheme == "https":
		case asciiEqualFold(scheme, "http") || asciiEqualFold(scheme, "https"):
			lower = true
		default:
			return bad("scheme must be http or https")
		}
		prefix, rest = raw[:schemeEnd+3], raw[schemeEnd+3:]
	}
	hostEnd := strings.IndexAny(rest, "/?#")
	if hostEnd < 0 {
		hostEnd = len(rest)
	}
	host := rest[:hostEnd]
	if host == "" || strings.HasPrefix(host, ":") {
		return bad("missing host")
	}
	if reason, redact := structureProblem(rest, hostEnd); reason != "" {
		if redact {
			return "", &InvalidObjectError{Type: TypeURL, Object: raw[:len(raw)-len(rest)] + redactAuthority(rest), Reason: reason}
		}
		return bad(reason)
	}
	// Check everything first: the usual URL is normalized already, and
	// is returned as it is rather than copied.
	escapes := 0
	for i := 0; i < len(rest); i++ {
		c := rest[i]
		switch {
		case c < 0x20 || c == 0x7f:
			return bad("control character in URL")
		case i >= hostEnd && (c >= 0x80 || escapeByte(c)):
			// Path, query and fragment: what may not appear in a URL is
			// percent-encoded, so that Akamai gets a valid URL (RFC
			// 3986); browsers request non-ASCII and "<> this way too.
			escapes++
		case c >= 0x80:
			return bad("non-ASCII host: use its punycode (xn--) form")
		case c == ' ':
			return bad("space in host")
		case escapeByte(c):
			// A host cannot be percent-encoded; these are not host
			// characters, and a browser would not send them either.
			return bad(fmt.Sprintf("character %q is not allowed in a host", c))
		}
	}
	u := raw
	if lower || escapes > 0 {
		u = rewriteURL(prefix, rest, hostEnd, lower, escapes)
	}
	if n := encodedStringSize(u); n > maxObjectBytes {
		return bad(fmt.Sprintf("URL is %d bytes encoded; a request body holds at most %d", n, maxObjectBytes))
	}
	return u, nil
}

// asciiEqualFold reports whether strings.ToLower(s) is lower, an ASCII
// lowercase string. Unlike strings.EqualFold, it takes no other letter
// for an ASCII one ('ſ' folds to 's', but ToLower keeps it).
func asciiEqualFold(s, lower string) bool {
	if len(s) != len(lower) {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		if c != lower[i] {
			return false
		}
	}
	return true
}

// rewriteURL returns prefix, lowercased if lower, and rest with the bytes
// from hostEnd on that escapeByte names, and non-ASCII bytes,
// percent-encoded; escapes is how many there are. normalizeURL has
// checked both.
func rewriteURL(prefix, rest string, hostEnd int, lower bool, escapes int) string {
	var b strings.Builder
	b.Grow(len(prefix) + len(rest) + 2*escapes)
	if lower {
		prefix = strings.ToLower(prefix)
	}
	b.WriteString(prefix)
	b.WriteString(rest[:hostEnd])
	for i := hostEnd; i < len(rest); i++ {
		if c := rest[i]; c >= 0x80 || escapeByte(c) {
			b.WriteByte('%')
			b.WriteByte(upperHex[c>>4])
			b.WriteByte(upperHex[c&15])
		} else {
			b.WriteByte(c)
		}
	}
	return b.String()
}

const upperHex = "0123456789ABCDEF"

// escapeByte reports whether the ASCII byte c is percent-encoded in a
// path, query or fragment: the space and the printable characters that
// RFC 3986 allows nowhere in a URL. '%' is not among them, so existing
// escapes are never encoded twice; a stray '%' is left as a browser
// leaves it, since encoding it would name another cache key.
func escapeByte(c byte) bool {
	return escapeBytes[c]
}

// escapeBytes marks the bytes escapeByte reports: normalizeURL asks for
// every byte of every URL, and a table answers fastest.
var escapeBytes = [256]bool{' ': true, '"': true, '<': true, '>': true, '\\': true, '^': true, '`': true, '{': true, '|': true, '}': true}

// isARL reports whether raw is meant as an ARL rather than a URL: it
// starts with a single '/' (a URL starts with its scheme, and "//host" is
// a scheme-relative URL, which is refused).
func isARL(raw string) bool {
	return len(raw) > 1 && raw[0] == '/' && raw[1] != '/'
}

// arlPrefix checks the fields of an ARL before its origin host and returns
// their length, or why raw is not an ARL.
//
// An ARL is a cache key as the X-Cache-Key response header shows it
// (Akamai's "Purge content by ARL"):
// /<type code>/<serial>/<CP code>/<TTL>/<origin host>/<path>, e.g.
// "/L/512/6848/1h/www.example1.com/" (Akamai's example request) or
// "/=/16382/123456/2d/www.example.com/us/style.css". The type code is one
// letter, digit or '='; the serial and CP code are decimal; the TTL is
// decimal with an optional unit letter ("1d", "30m", "000").
func arlPrefix(raw string) (int, string) {
	const why = "not an absolute http or https URL, nor an ARL (/<type code>/<serial>/<CP code>/<TTL>/<host>/<path>, e.g. /L/512/6848/1h/www.example.com/)"
	i := 1
	field := func(ok func(string) bool) bool {
		end := strings.IndexByte(raw[i:], '/')
		if end < 0 || !ok(raw[i:i+end]) {
			return false
		}
		i += end + 1
		return true
	}
	typeCode := func(s string) bool { return len(s) == 1 && (isAlnum(s[0]) || s[0] == '=') }
	ttl := func(s string) bool {
		if n := len(s); n > 1 && isLetter(s[n-1]) {
			s = s[:n-1]
		}
		return digits(s)
	}
	if !field(typeCode) || !field(digits) || !field(digits) || !field(ttl) {
		return 0, why
	}
	return i, ""
}

func digits(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

func isLetter(c byte) bool { return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' }

func isAlnum(c byte) bool { return isLetter(c) || '0' <= c && c <= '9' }

func validateTag(tag string) error {
	bad := func(reason string) error {
		return &InvalidObjectError{Type: TypeTag, Object: tag, Reason: reason}
	}
	if tag == "" {
		return bad("empty tag")
	}
	if len(tag) > MaxTagLength {
		return bad(fmt.Sprintf("tag is %d characters; Akamai purges at most %d", len(tag), MaxTagLength))
	}
	for i := 0; i < len(tag); i++ {
		if !tagByte(tag[i]) {
			return bad(fmt.Sprintf("%s is not allowed in a tag (allowed: letters, digits and !#$%%'+-.^_`|~&)", characterAt(tag, i)))
		}
	}
	return nil
}

func tagByte(c byte) bool {
	switch {
	case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9':
		return true
	}
	return strings.IndexByte("!#$%'+-.^_`|~&", c) >= 0
}

func normalizeCPCode(s string) (string, error) {
	n, err := strconv.ParseInt(strings.TrimSpace(s), 10, 64)
	if err != nil || n <= 0 {
		return "", &InvalidObjectError{Type: TypeCPCode, Object: s, Reason: "CP code must be a positive integer"}
	}
	return strconv.FormatInt(n, 10), nil
}

// CPCodes formats CP codes as the decimal strings that the package's
// object lists carry; they are sent to Akamai as JSON integers.
func CPCodes(codes ...int64) []string {
	out := make([]string, len(codes))
	for i, c := range codes {
		out[i] = strconv.FormatInt(c, 10)
	}
	return out
}

// characterAt describes the character of s that starts at byte i for an
// error message: the character itself, not the first byte of its UTF-8
// form ("ö", not "Ã"), or the byte when s is not UTF-8 there.
func characterAt(s string, i int) string {
	r, n := utf8.DecodeRuneInString(s[i:])
	if r == utf8.RuneError && n <= 1 {
		return fmt.Sprintf("byte 0x%02X (not UTF-8)", s[i])
	}
	return fmt.Sprintf("character %q", r)
}
