package edgegrid

import (
	"encoding/json"
	"fmt"
	"log/slog"
	"strings"
)

// DefaultMaxBody is the number of body bytes hashed when
// Credentials.MaxBody is zero, as in Akamai's client libraries.
const DefaultMaxBody = 131072

// DefaultSection is the .edgerc section Load reads when neither
// LoadOptions.Section nor $AKAMAI_EDGERC_SECTION names one. Akamai's purge
// tools use "ccu".
const DefaultSection = "ccu"

// redacted replaces a credential value in formatted output.
const redacted = "[redacted]"

// Credentials are one .edgerc section's EdgeGrid credentials.
//
// Formatting Credentials with any fmt verb, logging them with log/slog or
// encoding them as JSON shows Host, MaxBody and AccountKey but never
// ClientToken, ClientSecret or AccessToken.
type Credentials struct {
	Host         string // without scheme or trailing slash
	ClientToken  string
	ClientSecret string
	AccessToken  string
	MaxBody      int    // bytes of body hashed; 0 means DefaultMaxBody (131072)
	AccountKey   string // accountSwitchKey, optional
}

// Validate reports whether c holds every required field. It returns a
// *MissingCredentialsError naming each missing field (in .edgerc key
// spelling), or an *InvalidValueError if MaxBody is negative.
func (c Credentials) Validate() error {
	if missing := c.missing(); len(missing) > 0 {
		return &MissingCredentialsError{Missing: missing}
	}
	if c.MaxBody < 0 {
		return &InvalidValueError{Key: "max_body", Reason: "must not be negative"}
	}
	return nil
}

// missing lists the required fields of c that are empty.
func (c Credentials) missing() []string {
	var m []string
	for _, f := range [...]struct {
		key, val string
	}{
		{"host", c.Host},
		{"client_token", c.ClientToken},
		{"client_secret", c.ClientSecret},
		{"access_token", c.AccessToken},
	} {
		if strings.TrimSpace(f.val) == "" {
			m = append(m, f.key)
		}
	}
	return m
}

// maxBody returns the number of body bytes to hash.
func (c Credentials) maxBody() int {
	if c.MaxBody <= 0 {
		return DefaultMaxBody
	}
	return c.MaxBody
}

// redact hides a credential value but shows whether it is set.
func redact(v string) string {
	if v == "" {
		return ""
	}
	return redacted
}

// String returns c with ClientToken, ClientSecret and AccessToken replaced
// by "[redacted]" (or left empty when unset).
func (c Credentials) String() string {
	return fmt.Sprintf("{Host:%s ClientToken:%s ClientSecret:%s AccessToken:%s MaxBody:%d AccountKey:%s}",
		c.Host, redact(c.ClientToken), redact(c.ClientSecret), redact(c.AccessToken), c.MaxBody, c.AccountKey)
}

// GoString returns a Go-syntax representation of c for %#v with the same
// redaction as String.
func (c Credentials) GoString() string {
	return fmt.Sprintf("edgegrid.Credentials{Host:%q, ClientToken:%q, ClientSecret:%q, AccessToken:%q, MaxBody:%d, AccountKey:%q}",
		c.Host, redact(c.ClientToken), redact(c.ClientSecret), redact(c.AccessToken), c.MaxBody, c.AccountKey)
}

// LogValue implements slog.LogValuer with the same redaction as String.
func (c Credentials) LogValue() slog.Value {
	return slog.GroupValue(
		slog.String("host", c.Host),
		slog.String("client_token", redact(c.ClientToken)),
		slog.String("client_secret", redact(c.ClientSecret)),
		slog.String("access_token", redact(c.AccessToken)),
		slog.Int("max_body", c.MaxBody),
		slog.String("account_key", c.AccountKey),
	)
}

// MarshalJSON encodes c with the same redaction as String, so that JSON
// logs and dumps of structures holding Credentials stay safe. Credentials
// are not meant to round-trip through JSON.
func (c Credentials) MarshalJSON() ([]byte, error) {
	return json.Marshal(struct {
		Host         string `json:"host"`
		ClientToken  string `json:"client_token"`
		ClientSecret string `json:"client_secret"`
		AccessToken  string `json:"access_token"`
		MaxBody      int    `json:"max_body"`
		AccountKey   string `json:"account_key,omitempty"`
	}{c.Host, redact(c.ClientToken), redact(c.ClientSecret), redact(c.AccessToken), c.MaxBody, c.AccountKey})
}

// MissingCredentialsError reports required credential fields that were
// found nowhere. It succeeds django-akamai's NoAkamaiUsernameProvided and
// NoAkamaiPasswordProvided exceptions.
type MissingCredentialsError struct {
	// Missing names every missing field in .edgerc spelling, e.g.
	// "client_secret".
	Missing []string
	// Looked describes every place searched, e.g.
	// "/home/x/.edgerc [ccu] (file not found)" or
	// "environment AKAMAI_CCU_* / AKAMAI_*". It is empty when the error
	// comes from Credentials.Validate.
	Looked []string
}

// Error implements error.
func (e *MissingCredentialsError) Error() string {
	var b strings.Builder
	b.WriteString("edgegrid: missing credentials: ")
	b.WriteString(strings.Join(e.Missing, ", "))
	if len(e.Looked) > 0 {
		b.WriteString(" (looked in ")
		b.WriteString(strings.Join(e.Looked, "; "))
		b.WriteString(")")
	}
	return b.String()
}

// InvalidValueError reports a credential setting that is present but
// unusable, such as a max_body that is not an integer. It names the setting
// and where it came from, never the value.
type InvalidValueError struct {
	Key    string // e.g. "max_body" or "AKAMAI_CCU_MAX_BODY"
	Source string // e.g. "/home/x/.edgerc [ccu]" or "environment"; may be empty
	Reason string // e.g. "not an integer"
}

// Error implements error.
func (e *InvalidValueError) Error() string {
	if e.Source == "" {
		return fmt.Sprintf("edgegrid: invalid %s: %s", e.Key, e.Reason)
	}
	return fmt.Sprintf("edgegrid: invalid %s in %s: %s", e.Key, e.Source, e.Reason)
}
