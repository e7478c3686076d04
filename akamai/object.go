package akamai

import (
	"fmt"
	"strconv"
	"strings"
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
		obj = obj[:200] + "…"
	}
	return fmt.Sprintf("akamai: invalid %s %q: %s", e.Type, obj, e.Reason)
}

// NormalizeObject validates obj as an object of type t and returns the form
// in which it is sent to Akamai: URLs get their non-ASCII bytes and spaces
// percent-encoded and their scheme lower-cased, CP codes are written in
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

func normalizeURL(raw string) (string, error) {
	bad := func(reason string) (string, error) {
		return "", &InvalidObjectError{Type: TypeURL, Object: raw, Reason: reason}
	}
	if raw == "" {
		return bad("empty URL")
	}
	schemeEnd := strings.Index(raw, "://")
	if schemeEnd < 0 {
		return bad("not an absolute http or https URL")
	}
	scheme := strings.ToLower(raw[:schemeEnd])
	if scheme != "http" && scheme != "https" {
		return bad("scheme must be http or https")
	}
	rest := raw[schemeEnd+3:]
	hostEnd := strings.IndexAny(rest, "/?#")
	if hostEnd < 0 {
		hostEnd = len(rest)
	}
	host := rest[:hostEnd]
	if host == "" || strings.HasPrefix(host, ":") {
		return bad("missing host")
	}
	var b strings.Builder
	b.Grow(len(raw) + 8)
	b.WriteString(scheme)
	b.WriteString("://")
	for i := 0; i < len(rest); i++ {
		c := rest[i]
		switch {
		case c < 0x20 || c == 0x7f:
			return bad("control character in URL")
		case c >= 0x80 && i < hostEnd:
			return bad("non-ASCII host: use its punycode (xn--) form")
		case c == ' ' && i < hostEnd:
			return bad("space in host")
		case c >= 0x80 || c == ' ':
			fmt.Fprintf(&b, "%%%02X", c)
		default:
			b.WriteByte(c)
		}
	}
	u := b.String()
	if n := encodedStringSize(u); n > maxObjectBytes {
		return bad(fmt.Sprintf("URL is %d bytes encoded; a request body holds at most %d", n, maxObjectBytes))
	}
	return u, nil
}

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
			return bad(fmt.Sprintf("character %q is not allowed in a tag (allowed: letters, digits and !#$%%'+-.^_`|~&)", tag[i]))
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
