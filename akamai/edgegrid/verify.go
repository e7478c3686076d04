package edgegrid

import (
	"crypto/subtle"
	"errors"
	"fmt"
	"net/http"
	"time"
)

// Errors wrapped by Verify (and ParseAuthorization). Akamai answers all of
// them with 401; callers tell them apart with errors.Is.
var (
	// ErrMalformedAuthorization means the Authorization header is missing
	// or not a well-formed EG1-HMAC-SHA256 header.
	ErrMalformedAuthorization = errors.New("edgegrid: malformed authorization")
	// ErrTokenMismatch means the client_token or access_token is not the
	// expected one.
	ErrTokenMismatch = errors.New("edgegrid: unknown client or access token")
	// ErrStaleTimestamp means the timestamp is further than the allowed
	// skew from the verifier's clock, in either direction.
	ErrStaleTimestamp = errors.New("edgegrid: timestamp outside allowed skew")
	// ErrSignatureMismatch means the signature does not match the request.
	ErrSignatureMismatch = errors.New("edgegrid: signature mismatch")
)

// DefaultMaxSkew is the timestamp tolerance Verify applies when given a
// non-positive maxSkew. It is purgebus's choice, not a published Akamai
// value.
const DefaultMaxSkew = time.Minute

// Verify checks r's EdgeGrid Authorization header the way Akamai's edge
// does, for a fake server or tests.
//
// It recomputes the signature from the request as received: method, scheme
// ("https" if r.TLS is set, else "http"), host r.Host, path and query
// r.RequestURI exactly as sent, no signed headers, and the SHA-256 of body
// (the already-read request body) truncated to cred.MaxBody for a POST. It
// checks, in order, that the header parses (ErrMalformedAuthorization),
// that its tokens are cred's (ErrTokenMismatch), that its timestamp lies
// within maxSkew of now (ErrStaleTimestamp; maxSkew <= 0 means
// DefaultMaxSkew), and that the signature matches in constant time
// (ErrSignatureMismatch). cred.Host is not compared with r.Host, so a fake
// server may listen anywhere; incomplete cred (host aside) yields a wrapped
// *MissingCredentialsError. Errors never contain credential values or the
// expected signature.
//
// The returned Authorization is the parsed header whenever it parsed, even
// if verification failed, so that callers can log or track its nonce;
// detecting a replayed nonce is the caller's job.
func Verify(r *http.Request, body []byte, cred Credentials, now time.Time, maxSkew time.Duration) (Authorization, error) {
	var missing []string
	for _, m := range cred.missing() {
		if m != "host" {
			missing = append(missing, m)
		}
	}
	if len(missing) > 0 {
		return Authorization{}, fmt.Errorf("edgegrid: verify: %w", &MissingCredentialsError{Missing: missing})
	}
	header := r.Header.Get("Authorization")
	if header == "" {
		return Authorization{}, fmt.Errorf("%w: no Authorization header", ErrMalformedAuthorization)
	}
	a, err := ParseAuthorization(header)
	if err != nil {
		return Authorization{}, err
	}
	if !equal(a.ClientToken, cred.ClientToken) || !equal(a.AccessToken, cred.AccessToken) {
		return a, ErrTokenMismatch
	}
	ts, err := time.Parse(TimestampLayout, a.Timestamp)
	if err != nil {
		return a, fmt.Errorf("%w: timestamp is not in %s format", ErrMalformedAuthorization, TimestampLayout)
	}
	if maxSkew <= 0 {
		maxSkew = DefaultMaxSkew
	}
	if skew := now.Sub(ts); skew > maxSkew || skew < -maxSkew {
		return a, fmt.Errorf("%w: timestamp is %v off (allowed %v)", ErrStaleTimestamp, skew.Round(time.Second), maxSkew)
	}
	unsigned := unsignedHeader(a.ClientToken, a.AccessToken, a.Timestamp, a.Nonce)
	want := signature(cred.ClientSecret, a.Timestamp, DataToSign(r, body, cred.maxBody(), nil, unsigned))
	if !equal(a.Signature, want) {
		return a, ErrSignatureMismatch
	}
	return a, nil
}

// equal compares a and b in constant time (for equal lengths).
func equal(a, b string) bool {
	return subtle.ConstantTimeCompare([]byte(a), []byte(b)) == 1
}
