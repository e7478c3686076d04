package akamaitest

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/go-json-experiment/json"
	"github.com/go-json-experiment/json/jsontext"

	"github.com/purgebus/purgebus/akamai"
)

// badRequest is a 400 answer: a problem title and detail.
type badRequest struct {
	title, detail string
}

// Titles of 400 answers. "bad URL" and "bad URL hostname" are Akamai's; the
// others are this server's, in the same style.
const (
	titleBadRequest  = "bad request"
	titleBadURL      = "bad URL"
	titleBadHostname = "bad URL hostname"
	titleBadTag      = "bad tag"
	titleBadCPCode   = "bad cpcode"
)

// purgeBody is a decoded request body. Objects holds the objects as
// strings, CP codes in decimal.
type purgeBody struct {
	Objects  []string
	Hostname string // url requests only: objects are paths on this host
}

// The JSON shapes Akamai's schemas allow; any other member is refused
// (additionalProperties: false).
type (
	urlJSON struct {
		Objects  *[]string `json:"objects"`
		Hostname *string   `json:"hostname"`
	}
	tagJSON struct {
		Objects *[]string `json:"objects"`
	}
	cpcodeJSON struct {
		Objects *[]int64 `json:"objects"`
	}
)

// decodeStrict decodes the one JSON value of body into v, refusing
// unknown members, repeated names and trailing data. Names match exactly,
// as in Akamai's JSON schemas.
func decodeStrict(body []byte, v any) error {
	if len(bytes.TrimLeft(body, " \t\r\n")) == 0 {
		return errors.New("empty body")
	}
	err := json.Unmarshal(body, v, json.RejectUnknownMembers(true))
	if err == nil {
		return nil
	}
	// Unmarshal reports trailing data as a syntax error at its first
	// byte; tell it apart by decoding the first value alone.
	dec := jsontext.NewDecoder(bytes.NewReader(body))
	if json.UnmarshalDecode(dec, v, json.RejectUnknownMembers(true)) == nil {
		if _, err := dec.ReadToken(); err != io.EOF {
			return errors.New("unexpected data after the JSON object")
		}
	}
	return err
}

// parseBody decodes and validates the body of a purge request of type t.
// Every object must be acceptable, or the whole request fails.
func parseBody(t akamai.Type, body []byte) (purgeBody, *badRequest) {
	pb, hasHostname, br := decodeBody(t, body)
	if br != nil {
		return pb, br
	}
	if hasHostname && !validHostname(pb.Hostname) {
		return pb, &badRequest{titleBadHostname, "Invalid or malformed hostname"}
	}
	if pb.Objects == nil {
		return pb, &badRequest{titleBadRequest, `Missing required member "objects"`}
	}
	if len(pb.Objects) == 0 {
		return pb, &badRequest{titleBadRequest, `"objects" must not be empty`}
	}
	for _, o := range pb.Objects {
		if br := validateObject(t, pb, o); br != nil {
			return pb, br
		}
	}
	return pb, nil
}

// decodeBody decodes body into the shape Akamai's schema for type t
// allows. Objects is nil when the member is missing or null.
func decodeBody(t akamai.Type, body []byte) (pb purgeBody, hasHostname bool, br *badRequest) {
	var err error
	switch t {
	case akamai.TypeURL:
		var j urlJSON
		if err = decodeStrict(body, &j); err == nil {
			if j.Objects != nil {
				pb.Objects = *j.Objects
			}
			if j.Hostname != nil {
				pb.Hostname, hasHostname = *j.Hostname, true
			}
		}
	case akamai.TypeTag:
		var j tagJSON
		if err = decodeStrict(body, &j); err == nil && j.Objects != nil {
			pb.Objects = *j.Objects
		}
	case akamai.TypeCPCode:
		var j cpcodeJSON
		if err = decodeStrict(body, &j); err == nil && j.Objects != nil {
			pb.Objects = make([]string, len(*j.Objects))
			for i, c := range *j.Objects {
				if c <= 0 {
					return pb, false, &badRequest{titleBadCPCode, fmt.Sprintf("Invalid CP code %d: must be a positive integer", c)}
				}
				pb.Objects[i] = strconv.FormatInt(c, 10)
			}
		}
	}
	if err != nil {
		return pb, false, &badRequest{titleBadRequest, jsonErrorDetail(t, err)}
	}
	return pb, hasHostname, nil
}

// jsonErrorDetail describes a decoding error without Go type names.
func jsonErrorDetail(t akamai.Type, err error) string {
	var se *json.SemanticError
	if errors.As(err, &se) {
		member := strings.TrimPrefix(string(se.JSONPointer), "/")
		switch {
		case errors.Is(se.Err, json.ErrUnknownName):
			return fmt.Sprintf("Malformed request: unknown member %q", member)
		case se.JSONPointer == "":
			return "Malformed request: the body must be a JSON object"
		}
		want := "strings"
		if t == akamai.TypeCPCode {
			want = "integers"
		}
		found := "value out of range"
		if se.JSONKind != 0 {
			found = "JSON " + kindName(se.JSONKind)
		}
		return fmt.Sprintf("Malformed request: %q must be an array of %s, found a %s", "objects", want, found)
	}
	var xe *jsontext.SyntacticError
	if errors.As(err, &xe) {
		if errors.Is(xe.Err, jsontext.ErrDuplicateName) {
			return fmt.Sprintf("Malformed request: member %q appears twice", strings.TrimPrefix(string(xe.JSONPointer), "/"))
		}
		return fmt.Sprintf("Malformed JSON at byte %d: %v", xe.ByteOffset, xe.Err)
	}
	return "Malformed JSON: " + err.Error()
}

// kindName names a JSON kind as Akamai's messages do.
func kindName(k jsontext.Kind) string {
	switch k {
	case '"':
		return "string"
	case '0':
		return "number"
	case 't', 'f':
		return "boolean"
	case 'n':
		return "null"
	case '{':
		return "object"
	case '[':
		return "array"
	}
	return "value"
}

// validateObject checks one object of pb as Akamai does.
func validateObject(t akamai.Type, pb purgeBody, obj string) *badRequest {
	switch t {
	case akamai.TypeURL:
		return validateURL(pb.Hostname, obj)
	case akamai.TypeTag:
		if _, err := akamai.NormalizeObject(akamai.TypeTag, obj); err != nil {
			return &badRequest{titleBadTag, invalidDetail("tag", obj, err)}
		}
	}
	// CP codes were checked while decoding.
	return nil
}

// validateURL accepts what Akamai accepts in a url request: absolute http
// and https URLs in plain ASCII, ARLs (/<type code>/…, as /L/… or /=/…
// in X-Cache-Key), and, with a
// hostname, absolute paths. Non-ASCII text, spaces and control characters
// are refused, not percent-encoded.
func validateURL(hostname, obj string) *badRequest {
	bad := func(why string) *badRequest {
		return &badRequest{titleBadURL, fmt.Sprintf("Invalid or malformed URL '%s': %s", obj, why)}
	}
	for i := 0; i < len(obj); i++ {
		c := obj[i]
		if c >= utf8.RuneSelf {
			r, _ := utf8.DecodeRuneInString(obj[i:])
			if r == utf8.RuneError {
				return bad("contains a byte that is not ASCII")
			}
			return bad(fmt.Sprintf("contains non-ASCII character '%c' (%U)", r, r))
		}
		if c <= ' ' || c == 0x7f {
			return bad("contains a space or control character")
		}
	}
	switch {
	case hostname != "":
		if !strings.HasPrefix(obj, "/") {
			return bad("with a hostname, each object must be a path starting with '/'")
		}
		return nil
	case len(obj) > 3 && obj[0] == '/' && obj[1] != '/' && obj[2] == '/':
		return nil // an ARL
	case plainURL(obj):
		return nil // what NormalizeObject accepts unchanged, without its copy
	}
	if _, err := akamai.NormalizeObject(akamai.TypeURL, obj); err != nil {
		var ie *akamai.InvalidObjectError
		if errors.As(err, &ie) {
			return bad(ie.Reason)
		}
		return bad(err.Error())
	}
	return nil
}

// invalidDetail is the detail of a refused tag.
func invalidDetail(kind, obj string, err error) string {
	var ie *akamai.InvalidObjectError
	if errors.As(err, &ie) {
		return fmt.Sprintf("Invalid %s '%s': %s", kind, obj, ie.Reason)
	}
	return fmt.Sprintf("Invalid %s '%s': %v", kind, obj, err)
}

// validHostname reports whether h is an ASCII host name, optionally with a
// port.
func validHostname(h string) bool {
	if h == "" || len(h) > 253+6 {
		return false
	}
	for i := 0; i < len(h); i++ {
		c := h[i]
		switch {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9', c == '-', c == '.', c == ':':
		default:
			return false
		}
	}
	return h[0] != '.' && h[0] != '-' && h[0] != ':'
}

// jsonContentType reports whether a Content-Type header value names
// application/json, with or without parameters.
func jsonContentType(h http.Header) bool {
	v := h.Get("Content-Type")
	if i := strings.IndexByte(v, ';'); i >= 0 {
		v = v[:i]
	}
	return strings.EqualFold(strings.TrimSpace(v), "application/json")
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
