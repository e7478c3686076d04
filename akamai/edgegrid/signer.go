package edgegrid

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"time"

	"github.com/google/uuid"
)

// accountSwitchKeyParam is the query parameter carrying the account switch
// key.
const accountSwitchKeyParam = "accountSwitchKey"

// Signer signs HTTP requests with EdgeGrid (EG1-HMAC-SHA256).
//
// A Signer is safe for concurrent use as long as its fields are not changed
// and Now and Nonce are safe for concurrent use.
type Signer struct {
	// Credentials sign the requests.
	Credentials Credentials
	// HeadersToSign names the request headers covered by the signature, in
	// order. Fast Purge signs none.
	HeadersToSign []string
	// Now returns the signing time; nil means time.Now.
	Now func() time.Time
	// Nonce returns a fresh nonce per request; nil means a random UUID v4.
	Nonce func() string
}

// Sign sets req's Authorization header.
//
// If Credentials.AccountKey is set and the query has no accountSwitchKey,
// Sign first appends accountSwitchKey=<key> to req.URL.RawQuery, so that the
// key is signed. For a POST, Sign hashes the first MaxBody bytes of the
// body: it reads a copy from req.GetBody when set, and otherwise reads and
// closes req.Body and replaces it (and GetBody and an unknown ContentLength)
// with an in-memory copy, so the transport can still send it.
//
// Sign returns an error wrapping a *MissingCredentialsError if the
// credentials are incomplete, or the error from reading the body.
func (s *Signer) Sign(req *http.Request) error {
	if err := s.Credentials.Validate(); err != nil {
		return fmt.Errorf("edgegrid: sign: %w", err)
	}
	if req.URL == nil {
		return errors.New("edgegrid: sign: request has no URL")
	}
	if key := s.Credentials.AccountKey; key != "" && !req.URL.Query().Has(accountSwitchKeyParam) {
		param := accountSwitchKeyParam + "=" + url.QueryEscape(key)
		if req.URL.RawQuery == "" {
			req.URL.RawQuery = param
		} else {
			req.URL.RawQuery += "&" + param
		}
	}

	var hash string
	if requestMethod(req) == http.MethodPost {
		var err error
		if hash, err = bodyHash(req, s.Credentials.maxBody()); err != nil {
			return fmt.Errorf("edgegrid: sign: reading body: %w", err)
		}
	}

	now := time.Now
	if s.Now != nil {
		now = s.Now
	}
	nonce, err := s.nonce()
	if err != nil {
		return err
	}
	a := Authorization{
		ClientToken: s.Credentials.ClientToken,
		AccessToken: s.Credentials.AccessToken,
		Timestamp:   Timestamp(now()),
		Nonce:       nonce,
	}
	unsigned := unsignedHeader(a.ClientToken, a.AccessToken, a.Timestamp, a.Nonce)
	data := dataToSign(req, hash, s.HeadersToSign, unsigned)
	a.Signature = signature(s.Credentials.ClientSecret, a.Timestamp, data)
	if req.Header == nil {
		req.Header = make(http.Header)
	}
	req.Header.Set("Authorization", a.header())
	return nil
}

// nonce returns s.Nonce() or a random UUID v4.
func (s *Signer) nonce() (string, error) {
	if s.Nonce != nil {
		return s.Nonce(), nil
	}
	id, err := uuid.NewRandom()
	if err != nil {
		return "", fmt.Errorf("edgegrid: sign: nonce: %w", err)
	}
	return id.String(), nil
}

// maxPreallocate bounds the buffer bodyHash sizes from a declared
// ContentLength, which may be wrong.
const maxPreallocate = 16 << 20

// bodyHash returns the content hash of req's body over its first n bytes,
// leaving the body readable by the transport. It hashes a copy from
// req.GetBody when available, without buffering it if the copy is an
// io.WriterTo (as bytes.Reader and strings.Reader bodies are); otherwise it
// reads req.Body into memory and replaces it.
func bodyHash(req *http.Request, n int) (string, error) {
	if req.Body == nil || req.Body == http.NoBody {
		return "", nil
	}
	h := newPrefixHasher(n)
	if req.GetBody != nil {
		rc, err := req.GetBody()
		if err != nil {
			return "", err
		}
		defer rc.Close()
		if wt, ok := rc.(io.WriterTo); ok {
			_, err = wt.WriteTo(h)
		} else {
			_, err = io.Copy(h, io.LimitReader(rc, int64(n)))
		}
		if err != nil {
			return "", err
		}
		return h.sum(), nil
	}

	var buf bytes.Buffer
	if req.ContentLength > 0 && req.ContentLength <= maxPreallocate {
		buf.Grow(int(req.ContentLength) + bytes.MinRead)
	}
	_, err := buf.ReadFrom(req.Body)
	if cerr := req.Body.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return "", err
	}
	body := buf.Bytes()
	req.Body = io.NopCloser(bytes.NewReader(body))
	req.GetBody = func() (io.ReadCloser, error) {
		return io.NopCloser(bytes.NewReader(body)), nil
	}
	if req.ContentLength <= 0 {
		req.ContentLength = int64(len(body))
		if len(body) == 0 {
			req.Body = http.NoBody
		}
	}
	h.Write(body)
	return h.sum(), nil
}

// RoundTripper returns an http.RoundTripper that signs a clone of each
// request with a copy of s and passes it to next (nil means
// http.DefaultTransport). The caller's request is not modified, though its
// body is consumed as usual. Redirected requests are signed afresh.
func (s *Signer) RoundTripper(next http.RoundTripper) http.RoundTripper {
	if next == nil {
		next = http.DefaultTransport
	}
	return &signingTransport{signer: *s, next: next}
}

// signingTransport is the http.RoundTripper returned by Signer.RoundTripper.
type signingTransport struct {
	signer Signer
	next   http.RoundTripper
}

// RoundTrip implements http.RoundTripper.
func (t *signingTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	clone := req.Clone(req.Context())
	if err := t.signer.Sign(clone); err != nil {
		if req.Body != nil {
			req.Body.Close()
		}
		return nil, err
	}
	return t.next.RoundTrip(clone)
}
