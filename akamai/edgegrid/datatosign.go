package edgegrid

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"hash"
	"net/http"
	"strings"
	"time"
)

// TimestampLayout is the time.Format layout of EdgeGrid timestamps. Applied
// to a UTC time it renders e.g. "20140321T19:34:21+0000".
const TimestampLayout = "20060102T15:04:05-0700"

// Timestamp formats t in UTC with TimestampLayout.
func Timestamp(t time.Time) string {
	return t.UTC().Format(TimestampLayout)
}

// DataToSign returns the tab-separated text an EdgeGrid signature covers:
//
//	METHOD \t scheme \t host \t path+query \t canonical headers \t content hash \t unsigned authorization
//
// Empty fields keep their tabs. req may be a client request (the scheme and
// host come from req.URL, req.Host overriding the host, and the path and
// query from req.URL.RequestURI(), i.e. percent-escaped exactly as the
// transport sends them) or a request received by a server (req.RequestURI is
// set: the scheme is "https" if req.TLS is set, else "http", the host is
// req.Host, and req.RequestURI is used verbatim, less the scheme and
// authority of an absolute-form target).
//
// body is the request body, which DataToSign does not read from req; its
// SHA-256 over the first maxBody bytes (0 means DefaultMaxBody) is included
// only for a POST with a non-empty body. Each header named in headersToSign
// that is present in req contributes "lowercase-name:value" with the value
// trimmed and inner white space runs collapsed to one space. unsigned is the
// Authorization header up to and including "nonce=…;"; Akamai's published
// test vectors pass "" here.
func DataToSign(req *http.Request, body []byte, maxBody int, headersToSign []string, unsigned string) string {
	return dataToSign(req, contentHash(requestMethod(req), body, maxBody), headersToSign, unsigned)
}

// dataToSign is DataToSign with the content hash already computed.
func dataToSign(req *http.Request, contentHash string, headersToSign []string, unsigned string) string {
	var scheme, host, uri string
	if req.RequestURI != "" {
		scheme, host, uri = "http", req.Host, originForm(req.RequestURI)
		if req.TLS != nil {
			scheme = "https"
		}
	} else {
		scheme, host, uri = strings.ToLower(req.URL.Scheme), req.URL.Host, req.URL.RequestURI()
		if req.Host != "" {
			host = req.Host
		}
	}
	return strings.Join([]string{
		requestMethod(req),
		scheme,
		host,
		uri,
		canonicalHeaders(req.Header, headersToSign),
		contentHash,
		unsigned,
	}, "\t")
}

// requestMethod returns req's method in upper case, GET if empty.
func requestMethod(req *http.Request) string {
	if req.Method == "" {
		return http.MethodGet
	}
	return strings.ToUpper(req.Method)
}

// originForm returns the path and query of a request target, verbatim. An
// absolute-form target ("https://host/p?q", as sent to proxies and built by
// httptest.NewRequest) loses its scheme and authority.
func originForm(target string) string {
	_, rest, ok := strings.Cut(target, "://")
	if !ok || strings.HasPrefix(target, "/") {
		return target
	}
	if i := strings.IndexAny(rest, "/?"); i >= 0 {
		if rest[i] == '?' {
			return "/" + rest[i:]
		}
		return rest[i:]
	}
	return "/"
}

// canonicalHeaders renders the headers to sign that are present in h, in the
// order given, joined by tabs.
func canonicalHeaders(h http.Header, names []string) string {
	var parts []string
	for _, name := range names {
		vals := h.Values(name)
		if len(vals) == 0 {
			continue
		}
		parts = append(parts, strings.ToLower(name)+":"+strings.Join(strings.Fields(vals[0]), " "))
	}
	return strings.Join(parts, "\t")
}

// contentHash returns base64(SHA-256(body[:maxBody])) for a POST with a
// non-empty body and "" otherwise.
func contentHash(method string, body []byte, maxBody int) string {
	if method != http.MethodPost || len(body) == 0 {
		return ""
	}
	if maxBody <= 0 {
		maxBody = DefaultMaxBody
	}
	if len(body) > maxBody {
		body = body[:maxBody]
	}
	sum := sha256.Sum256(body)
	return base64.StdEncoding.EncodeToString(sum[:])
}

// prefixHasher hashes the first n bytes written to it and counts, but
// otherwise discards, the rest.
type prefixHasher struct {
	h    hash.Hash
	n    int   // bytes still to hash
	seen int64 // bytes written
}

// newPrefixHasher returns a SHA-256 prefixHasher for maxBody bytes (0 means
// DefaultMaxBody).
func newPrefixHasher(maxBody int) *prefixHasher {
	if maxBody <= 0 {
		maxBody = DefaultMaxBody
	}
	return &prefixHasher{h: sha256.New(), n: maxBody}
}

// Write implements io.Writer; it never fails.
func (p *prefixHasher) Write(b []byte) (int, error) {
	k := min(len(b), p.n)
	p.h.Write(b[:k])
	p.n -= k
	p.seen += int64(len(b))
	return len(b), nil
}

// sum returns the content hash: "" if nothing was written.
func (p *prefixHasher) sum() string {
	if p.seen == 0 {
		return ""
	}
	return base64.StdEncoding.EncodeToString(p.h.Sum(nil))
}

// signingKey returns base64(HMAC-SHA256(key=clientSecret, msg=timestamp)).
func signingKey(clientSecret, timestamp string) string {
	return hmacBase64(clientSecret, timestamp)
}

// signature returns base64(HMAC-SHA256(key=signing key text, msg=data)).
func signature(clientSecret, timestamp, data string) string {
	return hmacBase64(signingKey(clientSecret, timestamp), data)
}

// hmacBase64 returns base64(HMAC-SHA256(key, msg)).
func hmacBase64(key, msg string) string {
	m := hmac.New(sha256.New, []byte(key))
	m.Write([]byte(msg))
	return base64.StdEncoding.EncodeToString(m.Sum(nil))
}
