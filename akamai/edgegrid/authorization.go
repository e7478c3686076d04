package edgegrid

import (
	"encoding/json"
	"fmt"
	"log/slog"
	"strings"
)

// authScheme is the EdgeGrid Authorization scheme name.
const authScheme = "EG1-HMAC-SHA256"

// Authorization is a parsed EdgeGrid Authorization header.
//
// Formatting an Authorization with fmt, log/slog or encoding/json redacts
// ClientToken and AccessToken.
type Authorization struct {
	ClientToken string
	AccessToken string
	Timestamp   string // TimestampLayout, e.g. "20140321T19:34:21+0000"
	Nonce       string
	Signature   string // base64
}

// unsignedHeader returns the Authorization header up to the signature.
func unsignedHeader(clientToken, accessToken, timestamp, nonce string) string {
	return authScheme + " client_token=" + clientToken + ";access_token=" + accessToken +
		";timestamp=" + timestamp + ";nonce=" + nonce + ";"
}

// ParseAuthorization parses an EdgeGrid Authorization header value:
//
//	EG1-HMAC-SHA256 client_token=…;access_token=…;timestamp=…;nonce=…;signature=…
//
// All five fields are required, each once; unknown fields are rejected.
// Errors wrap ErrMalformedAuthorization and never quote field values.
func ParseAuthorization(header string) (Authorization, error) {
	rest, ok := strings.CutPrefix(header, authScheme+" ")
	if !ok {
		return Authorization{}, fmt.Errorf("%w: scheme is not %s", ErrMalformedAuthorization, authScheme)
	}
	var a Authorization
	seen := make(map[string]bool, 5)
	for part := range strings.SplitSeq(rest, ";") {
		if strings.TrimSpace(part) == "" {
			continue
		}
		key, val, ok := strings.Cut(part, "=")
		if !ok {
			return Authorization{}, fmt.Errorf("%w: field without '='", ErrMalformedAuthorization)
		}
		var dst *string
		switch key {
		case "client_token":
			dst = &a.ClientToken
		case "access_token":
			dst = &a.AccessToken
		case "timestamp":
			dst = &a.Timestamp
		case "nonce":
			dst = &a.Nonce
		case "signature":
			dst = &a.Signature
		default:
			return Authorization{}, fmt.Errorf("%w: unknown field", ErrMalformedAuthorization)
		}
		if seen[key] {
			return Authorization{}, fmt.Errorf("%w: repeated field %s", ErrMalformedAuthorization, key)
		}
		seen[key] = true
		*dst = val
	}
	for _, f := range [...]struct {
		name, val string
	}{
		{"client_token", a.ClientToken},
		{"access_token", a.AccessToken},
		{"timestamp", a.Timestamp},
		{"nonce", a.Nonce},
		{"signature", a.Signature},
	} {
		if f.val == "" {
			return Authorization{}, fmt.Errorf("%w: missing %s", ErrMalformedAuthorization, f.name)
		}
	}
	return a, nil
}

// header renders the full Authorization header value.
func (a Authorization) header() string {
	return unsignedHeader(a.ClientToken, a.AccessToken, a.Timestamp, a.Nonce) + "signature=" + a.Signature
}

// String returns a with ClientToken and AccessToken redacted.
func (a Authorization) String() string {
	return fmt.Sprintf("{ClientToken:%s AccessToken:%s Timestamp:%s Nonce:%s Signature:%s}",
		redact(a.ClientToken), redact(a.AccessToken), a.Timestamp, a.Nonce, a.Signature)
}

// GoString returns a Go-syntax representation of a for %#v with the same
// redaction as String.
func (a Authorization) GoString() string {
	return fmt.Sprintf("edgegrid.Authorization{ClientToken:%q, AccessToken:%q, Timestamp:%q, Nonce:%q, Signature:%q}",
		redact(a.ClientToken), redact(a.AccessToken), a.Timestamp, a.Nonce, a.Signature)
}

// MarshalJSON encodes a with the same redaction as String.
func (a Authorization) MarshalJSON() ([]byte, error) {
	return json.Marshal(struct {
		ClientToken string `json:"client_token"`
		AccessToken string `json:"access_token"`
		Timestamp   string `json:"timestamp"`
		Nonce       string `json:"nonce"`
		Signature   string `json:"signature"`
	}{redact(a.ClientToken), redact(a.AccessToken), a.Timestamp, a.Nonce, a.Signature})
}

// LogValue implements slog.LogValuer with the same redaction as String.
func (a Authorization) LogValue() slog.Value {
	return slog.GroupValue(
		slog.String("client_token", redact(a.ClientToken)),
		slog.String("access_token", redact(a.AccessToken)),
		slog.String("timestamp", a.Timestamp),
		slog.String("nonce", a.Nonce),
		slog.String("signature", a.Signature),
	)
}
