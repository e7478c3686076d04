package akamai

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"net"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// ErrInvalidRequest is wrapped by the errors for a Request that names an
// unknown action, type or network. Such a request is never sent.
var ErrInvalidRequest = errors.New("akamai: invalid request")

// ErrNoObjects is returned for a purge of no objects, which is never sent.
var ErrNoObjects = errors.New("akamai: no objects to purge")

// maxBodyExcerpt is how much of an error response's body an *Error keeps.
const maxBodyExcerpt = 4096

// Error is Akamai's answer to a request it did not accept: every answer
// other than 201 becomes an *Error, whether its body is Akamai's problem
// JSON, some other JSON or not JSON at all (an HTML page from a proxy).
// Callers branch on it with errors.As and its methods.
type Error struct {
	HTTPStatus int // the status code of the response

	// Fields of the problem JSON body, empty when absent.
	Title       string
	Detail      string // for 400 and 403, often the offending object
	DescribedBy string
	SupportID   string
	Type        string // RFC 7807 "type"
	Instance    string // RFC 7807 "instance"

	// Fields of a 429 body: the capacity of the bucket that was short, the
	// tokens it still holds and how many the request needed.
	RateLimit                   int
	RateLimitRemaining          int
	RateLimitCurrentRequestSize int

	Headers RateLimit // the X-Ratelimit-* headers of the response

	Body []byte // the response body, truncated to a few KiB
}

// Error returns a one-line description with the status, title, detail and
// support ID.
func (e *Error) Error() string {
	var b strings.Builder
	b.WriteString("akamai: ")
	b.WriteString(strconv.Itoa(e.HTTPStatus))
	title := e.Title
	if title == "" {
		title = http.StatusText(e.HTTPStatus)
	}
	if title != "" {
		b.WriteByte(' ')
		b.WriteString(title)
	}
	switch {
	case e.Detail != "":
		b.WriteString(": ")
		b.WriteString(e.Detail)
	case e.Title == "" && len(e.Body) > 0:
		b.WriteString(": ")
		b.WriteString(excerpt(e.Body, 120))
	}
	if e.RateLimited() && e.RateLimit > 0 {
		fmt.Fprintf(&b, " (limit %d, remaining %d, request size %d)",
			e.RateLimit, e.RateLimitRemaining, e.RateLimitCurrentRequestSize)
	}
	if e.SupportID != "" {
		b.WriteString(" [supportId ")
		b.WriteString(e.SupportID)
		b.WriteByte(']')
	}
	return b.String()
}

// Temporary reports whether the same request may succeed later: rate
// limiting (429, 507), server errors (500, 502, 503, 504) and 408.
func (e *Error) Temporary() bool {
	switch e.HTTPStatus {
	case http.StatusTooManyRequests, http.StatusInsufficientStorage,
		http.StatusInternalServerError, http.StatusBadGateway,
		http.StatusServiceUnavailable, http.StatusGatewayTimeout,
		http.StatusRequestTimeout:
		return true
	}
	return false
}

// RateLimited reports whether a token bucket was short: 429, or 507, the
// older signal for the same. Akamai consumed no tokens for the request.
func (e *Error) RateLimited() bool {
	return e.HTTPStatus == http.StatusTooManyRequests || e.HTTPStatus == http.StatusInsufficientStorage
}

// Unauthorized reports whether Akamai refused the credentials (401): a
// configuration error that no retry mends.
func (e *Error) Unauthorized() bool { return e.HTTPStatus == http.StatusUnauthorized }

// Permanent reports whether resending the same request cannot succeed:
// every 4xx answer except 401 (see Unauthorized), 408 and 429. For 400 and
// 403 some object of the request is to blame (Detail often names it), for
// 413 the body was too large.
func (e *Error) Permanent() bool {
	switch e.HTTPStatus {
	case http.StatusUnauthorized, http.StatusRequestTimeout, http.StatusTooManyRequests:
		return false
	}
	return e.HTTPStatus >= 400 && e.HTTPStatus < 500
}

// RetryAfter returns how long to wait before resending a rate-limited
// request, or 0 when it is not rate limited or the answer does not tell.
// It prefers the X-Ratelimit-Seconds-To-Refresh-Limit[-Objects] headers;
// without them it divides the missing tokens (rateLimitCurrentRequestSize
// less rateLimitRemaining, from the body) by the refill rate of the bucket
// whose capacity the body's rateLimit names.
func (e *Error) RetryAfter() time.Duration {
	if !e.RateLimited() {
		return 0
	}
	if d := e.Headers.RefreshIn(); d > 0 {
		return d
	}
	missing := e.RateLimitCurrentRequestSize - e.RateLimitRemaining
	if missing <= 0 || e.RateLimit <= 0 {
		return 0
	}
	h := e.Headers
	var s float64
	if h.Has(FieldLimit|FieldLimitPerSecond) && h.Limit == e.RateLimit && h.LimitPerSecond > 0 {
		s = float64(missing) / h.LimitPerSecond
	}
	if h.Has(FieldLimitObjects|FieldLimitPerSecondObjects) && h.LimitObjects == e.RateLimit && h.LimitPerSecondObjects > 0 {
		s = max(s, float64(missing)/h.LimitPerSecondObjects)
	}
	return secondsToDuration(s)
}

// responseBody is the JSON of Akamai's answers, success and error alike, plus
// the RFC 7807 members. Numbers are decoded leniently. The body's
// httpStatus is not kept: the status line is authoritative.
type responseBody struct {
	EstimatedSeconds            lenientInt `json:"estimatedSeconds"`
	PurgeID                     string     `json:"purgeId"`
	SupportID                   string     `json:"supportId"`
	Title                       string     `json:"title"`
	Detail                      string     `json:"detail"`
	DescribedBy                 string     `json:"describedBy"`
	Type                        string     `json:"type"`
	Instance                    string     `json:"instance"`
	RateLimit                   lenientInt `json:"rateLimit"`
	RateLimitRemaining          lenientInt `json:"rateLimitRemaining"`
	RateLimitCurrentRequestSize lenientInt `json:"rateLimitCurrentRequestSize"`
}

// decodeResponse decodes body as far as it can and reports whether it was a
// JSON object. A member of the wrong type is skipped, not fatal.
func decodeResponse(body []byte) (responseBody, bool) {
	var p responseBody
	body = bytes.TrimSpace(body)
	if len(body) == 0 || body[0] != '{' {
		return p, false
	}
	err := json.Unmarshal(body, &p)
	var typeErr *json.UnmarshalTypeError
	if err != nil && !errors.As(err, &typeErr) {
		return responseBody{}, false
	}
	return p, true
}

// lenientInt decodes a JSON number, or a string holding one, and leaves
// anything else as 0 without error.
type lenientInt int

func (n *lenientInt) UnmarshalJSON(b []byte) error {
	s := strings.Trim(string(b), `"`)
	x, err := strconv.ParseFloat(strings.TrimSpace(s), 64)
	if err == nil && !math.IsNaN(x) && math.Abs(x) < math.MaxInt32 {
		*n = lenientInt(x)
	}
	return nil
}

// newError builds the *Error for a response that was not a 201.
func newError(status int, header http.Header, body []byte) *Error {
	e := &Error{HTTPStatus: status, Headers: ParseRateLimit(header)}
	if len(body) > maxBodyExcerpt {
		body = body[:maxBodyExcerpt]
	}
	e.Body = bytes.Clone(body)
	p, ok := decodeResponse(body)
	if !ok {
		return e
	}
	e.Title = p.Title
	e.Detail = p.Detail
	e.DescribedBy = p.DescribedBy
	e.SupportID = p.SupportID
	e.Type = p.Type
	e.Instance = p.Instance
	e.RateLimit = int(p.RateLimit)
	e.RateLimitRemaining = int(p.RateLimitRemaining)
	e.RateLimitCurrentRequestSize = int(p.RateLimitCurrentRequestSize)
	return e
}

// excerpt returns the start of b as one line of at most n bytes.
func excerpt(b []byte, n int) string {
	s := strings.Join(strings.Fields(string(b)), " ")
	if len(s) > n {
		s = strings.ToValidUTF8(s[:n], "") + "…"
	}
	return s
}

// TransportError is a request that got no HTTP answer: the connection
// failed, timed out or the context ended. Akamai may or may not have
// accepted the purge; since purges are idempotent, resending is safe.
type TransportError struct {
	Op  string // method and URL (without query) of the request
	Err error
}

func (e *TransportError) Error() string { return "akamai: " + e.Op + ": " + e.Err.Error() }

// Unwrap returns the underlying error, so that errors.Is finds
// context.DeadlineExceeded or context.Canceled.
func (e *TransportError) Unwrap() error { return e.Err }

// Temporary reports true: a request that got no answer may succeed later.
func (e *TransportError) Temporary() bool { return true }

// Timeout reports whether the request timed out.
func (e *TransportError) Timeout() bool {
	if errors.Is(e.Err, context.DeadlineExceeded) {
		return true
	}
	var ne net.Error
	return errors.As(e.Err, &ne) && ne.Timeout()
}

// InvalidObjectsError lists the objects of a request that Akamai would
// refuse; they were not sent. errors.As also finds each *InvalidObjectError.
type InvalidObjectsError struct {
	Objects []*InvalidObjectError
}

func (e *InvalidObjectsError) Error() string {
	switch len(e.Objects) {
	case 0:
		return "akamai: invalid objects"
	case 1:
		return e.Objects[0].Error()
	}
	return fmt.Sprintf("%s (and %d more invalid objects)", e.Objects[0].Error(), len(e.Objects)-1)
}

// Unwrap returns the *InvalidObjectError of each object.
func (e *InvalidObjectsError) Unwrap() []error {
	errs := make([]error, len(e.Objects))
	for i, o := range e.Objects {
		errs[i] = o
	}
	return errs
}

// RequestTooLargeError is a request with more objects, or a larger body,
// than one request may carry. It was not sent; Pack splits objects into
// requests that fit.
type RequestTooLargeError struct {
	Type       Type
	Objects    int // objects in the request
	MaxObjects int // the cap on objects per request
	Bytes      int // size of the encoded body
	MaxBytes   int // MaxBodyBytes
}

func (e *RequestTooLargeError) Error() string {
	if e.Objects > e.MaxObjects {
		return fmt.Sprintf("akamai: %d %s objects exceed the cap of %d per request", e.Objects, e.Type, e.MaxObjects)
	}
	return fmt.Sprintf("akamai: request body of %d bytes (%d %s objects) exceeds %d bytes", e.Bytes, e.Objects, e.Type, e.MaxBytes)
}
