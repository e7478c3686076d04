package akamai

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/purgebus/purgebus/akamai/edgegrid"
)

// DefaultTimeout is the overall timeout of each request sent by the HTTP
// client that NewClient makes when Config.HTTPClient is nil.
const DefaultTimeout = 30 * time.Second

// DefaultUserAgent is the User-Agent of requests when Config.UserAgent is
// empty.
const DefaultUserAgent = "purgebus-akamai/1"

// maxResponseBytes bounds how much of a response body is read.
const maxResponseBytes = 1 << 20

// Config configures a Client.
type Config struct {
	// Credentials sign every request. Credentials.AccountKey, when set, is
	// sent as the accountSwitchKey query parameter.
	Credentials edgegrid.Credentials

	// BaseURL is where requests go, e.g. "https://akab-….luna.akamaiapis.net"
	// or a fake server or proxy, optionally with a path prefix. Empty means
	// "https://" + Credentials.Host.
	BaseURL string

	// HTTPClient sends the requests, which the Client signs itself. Nil
	// means a client with a DefaultTimeout overall timeout that does not
	// follow redirects.
	HTTPClient *http.Client

	// MaxObjects caps the objects per request by type. A type it does not
	// list gets DefaultMaxObjects.
	MaxObjects map[Type]int

	// Now is the clock for Result.AcceptedAt and the signatures' timestamps.
	// Nil means time.Now.
	Now func() time.Time

	// Nonce returns each signature's nonce. Nil means a random UUID; tests
	// may fix it.
	Nonce func() string

	// UserAgent is the User-Agent header; empty means DefaultUserAgent.
	UserAgent string
}

// Validate reports every problem of c at once: missing credentials, a bad
// host or base URL, a cap for an unknown type or a cap below 1.
func (c Config) Validate() error {
	var errs []error
	if err := c.Credentials.Validate(); err != nil {
		errs = append(errs, fmt.Errorf("akamai: config: %w", err))
	}
	if h := c.Credentials.Host; strings.ContainsAny(h, "/?#@ ") {
		errs = append(errs, fmt.Errorf("akamai: config: credentials host %q must be a bare host name, without scheme or path", h))
	}
	if c.BaseURL != "" {
		u, err := url.Parse(c.BaseURL)
		switch {
		case err != nil:
			errs = append(errs, fmt.Errorf("akamai: config: base URL: %w", err))
		case u.Scheme != "http" && u.Scheme != "https", u.Host == "":
			errs = append(errs, fmt.Errorf("akamai: config: base URL %q is not an absolute http or https URL", c.BaseURL))
		case u.RawQuery != "" || u.Fragment != "" || u.User != nil:
			errs = append(errs, fmt.Errorf("akamai: config: base URL %q must have no user, query or fragment", c.BaseURL))
		}
	}
	for t, n := range c.MaxObjects {
		if !t.Valid() {
			errs = append(errs, fmt.Errorf("akamai: config: MaxObjects names unknown type %q", t))
		} else if n < 1 {
			errs = append(errs, fmt.Errorf("akamai: config: MaxObjects[%s] is %d; it must be at least 1", t, n))
		}
	}
	return errors.Join(errs...)
}

// Client sends Fast Purge requests. It is safe for concurrent use.
type Client struct {
	base       string // without trailing slash
	hc         *http.Client
	signer     *edgegrid.Signer
	maxObjects map[Type]int // complete; never modified
	now        func() time.Time
	userAgent  string
}

// NewClient returns a Client for cfg, or cfg.Validate's error.
func NewClient(cfg Config) (*Client, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	c := &Client{
		base:       strings.TrimSuffix(cfg.BaseURL, "/"),
		hc:         cfg.HTTPClient,
		signer:     &edgegrid.Signer{Credentials: cfg.Credentials, Now: cfg.Now, Nonce: cfg.Nonce},
		maxObjects: make(map[Type]int, len(Types)),
		now:        cfg.Now,
		userAgent:  cfg.UserAgent,
	}
	if c.base == "" {
		c.base = "https://" + cfg.Credentials.Host
	}
	if c.hc == nil {
		c.hc = defaultHTTPClient()
	}
	if c.now == nil {
		c.now = time.Now
	}
	if c.userAgent == "" {
		c.userAgent = DefaultUserAgent
	}
	for _, t := range Types {
		c.maxObjects[t] = DefaultMaxObjects[t]
		if n, ok := cfg.MaxObjects[t]; ok {
			c.maxObjects[t] = n
		}
	}
	return c, nil
}

func defaultHTTPClient() *http.Client {
	var tr *http.Transport
	if dt, ok := http.DefaultTransport.(*http.Transport); ok {
		tr = dt.Clone()
	} else {
		tr = &http.Transport{Proxy: http.ProxyFromEnvironment}
	}
	tr.MaxIdleConnsPerHost = 16
	return &http.Client{
		Timeout:   DefaultTimeout,
		Transport: tr,
		// A redirected request would lose its signature: hand the 3xx to
		// the caller as an *Error instead.
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
}

// MaxObjects returns the cap on objects per request of type t.
func (c *Client) MaxObjects(t Type) int { return c.maxObjects[t] }

// Request is one purge: an action on objects of one type on one network.
type Request struct {
	Action  Action  // zero means ActionInvalidate
	Type    Type    // required
	Network Network // zero means NetworkProduction
	// Objects are URLs, cache tags or CP codes in decimal (see CPCodes),
	// which are sent as JSON integers. They are normalized before sending
	// (see NormalizeObject).
	Objects []string
}

// operation is a Request's action, type and network with defaults applied.
type operation struct {
	action  Action
	typ     Type
	network Network
}

func (r Request) operation() (operation, error) {
	op := operation{action: r.Action, typ: r.Type, network: r.Network}
	if op.action == "" {
		op.action = ActionInvalidate
	}
	if op.network == "" {
		op.network = NetworkProduction
	}
	switch {
	case !op.action.Valid():
		return op, fmt.Errorf("%w: unknown action %q", ErrInvalidRequest, op.action)
	case !op.typ.Valid():
		return op, fmt.Errorf("%w: unknown object type %q", ErrInvalidRequest, op.typ)
	case !op.network.Valid():
		return op, fmt.Errorf("%w: unknown network %q", ErrInvalidRequest, op.network)
	}
	return op, nil
}

// path is the operation's endpoint, always with the network segment.
func (op operation) path() string {
	return "/ccu/v3/" + string(op.action) + "/" + string(op.typ) + "/" + string(op.network)
}

// normalizeObjects returns the normalized form of each valid object, in
// order, and the errors of the invalid ones.
func normalizeObjects(t Type, objects []string) ([]string, []*InvalidObjectError) {
	valid := make([]string, 0, len(objects))
	var invalid []*InvalidObjectError
	for _, o := range objects {
		n, err := NormalizeObject(t, o)
		if err != nil {
			invalid = append(invalid, err.(*InvalidObjectError))
			continue
		}
		valid = append(valid, n)
	}
	return valid, invalid
}

// Purge sends req as one HTTP request and returns Akamai's acceptance.
//
// The objects must fit one request: if any is invalid the error is an
// *InvalidObjectsError, if there are more than the type's cap or they
// encode to more than MaxBodyBytes it is a *RequestTooLargeError, and
// nothing is sent. Any answer but 201 is an *Error; a request that got no
// answer is a *TransportError.
func (c *Client) Purge(ctx context.Context, req Request) (*Result, error) {
	op, err := req.operation()
	if err != nil {
		return nil, err
	}
	objects, invalid := normalizeObjects(op.typ, req.Objects)
	if len(invalid) > 0 {
		return nil, &InvalidObjectsError{Objects: invalid}
	}
	return c.send(ctx, op, objects)
}

// PurgeAll purges any number of objects: it sends the valid ones in as many
// requests as they need (see Pack), one after the other, and never sends
// the invalid ones. It returns the results of the requests sent so far and
// the first error; invalid objects are reported, after all valid ones were
// sent, by an *InvalidObjectsError (joined to the first error, if any).
// No objects at all is no request and no error.
func (c *Client) PurgeAll(ctx context.Context, req Request) ([]*Result, error) {
	op, err := req.operation()
	if err != nil {
		return nil, err
	}
	objects, invalid := normalizeObjects(op.typ, req.Objects)
	var invalidErr error
	if len(invalid) > 0 {
		invalidErr = &InvalidObjectsError{Objects: invalid}
	}
	groups, err := Pack(op.typ, objects, c.maxObjects[op.typ])
	if err != nil {
		return nil, errors.Join(err, invalidErr)
	}
	results := make([]*Result, 0, len(groups))
	for _, g := range groups {
		r, err := c.send(ctx, op, g)
		if err != nil {
			return results, errors.Join(err, invalidErr)
		}
		results = append(results, r)
	}
	return results, invalidErr
}

// send posts normalized objects in one request.
func (c *Client) send(ctx context.Context, op operation, objects []string) (*Result, error) {
	if len(objects) == 0 {
		return nil, ErrNoObjects
	}
	body := EncodeBody(op.typ, objects)
	if limit := c.maxObjects[op.typ]; len(objects) > limit || len(body) > MaxBodyBytes {
		return nil, &RequestTooLargeError{Type: op.typ, Objects: len(objects), MaxObjects: limit, Bytes: len(body), MaxBytes: MaxBodyBytes}
	}
	resp, data, err := c.post(ctx, op.path(), body)
	if err != nil {
		return nil, err
	}
	if resp.StatusCode != http.StatusCreated {
		return nil, newError(resp.StatusCode, resp.Header, data)
	}
	// A 201 means Akamai accepted the purge, even if its body is garbled.
	p, _ := decodeResponse(data)
	return &Result{
		Action:           op.action,
		Type:             op.typ,
		Network:          op.network,
		PurgeID:          p.PurgeID,
		SupportID:        p.SupportID,
		EstimatedSeconds: int(p.EstimatedSeconds),
		HTTPStatus:       resp.StatusCode,
		Detail:           p.Detail,
		AcceptedAt:       c.now(),
		RateLimit:        ParseRateLimit(resp.Header),
		Objects:          objects,
		BodyBytes:        len(body),
	}, nil
}

// RateLimitStatus asks Akamai for the state of the request bucket and of
// type t's object bucket (POST /ccu/v3/rate-limit-status/{type}). It takes
// no tokens. Any answer but 2xx is an *Error.
func (c *Client) RateLimitStatus(ctx context.Context, t Type) (RateLimit, error) {
	if !t.Valid() {
		return RateLimit{}, fmt.Errorf("%w: unknown object type %q", ErrInvalidRequest, t)
	}
	resp, data, err := c.post(ctx, "/ccu/v3/rate-limit-status/"+string(t), nil)
	if err != nil {
		return RateLimit{}, err
	}
	if resp.StatusCode/100 != 2 {
		return RateLimit{}, newError(resp.StatusCode, resp.Header, data)
	}
	return ParseRateLimit(resp.Header), nil
}

// post signs and sends a POST of body to path and reads the answer. The
// returned response's body is closed; its content is returned.
func (c *Client) post(ctx context.Context, path string, body []byte) (*http.Response, []byte, error) {
	u := c.base + path
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, u, rd)
	if err != nil {
		return nil, nil, fmt.Errorf("akamai: %w", err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json")
	req.Header.Set("User-Agent", c.userAgent)
	if err := c.signer.Sign(req); err != nil {
		return nil, nil, fmt.Errorf("akamai: signing request: %w", err)
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		return nil, nil, transportError("POST "+u, err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, maxResponseBytes))
	if err != nil {
		return nil, nil, transportError("POST "+u+": reading response", err)
	}
	// Drain a little of an oversized body so the connection can be reused.
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	return resp, data, nil
}

// transportError wraps err, dropping the *url.Error layer whose message
// would repeat the URL.
func transportError(op string, err error) *TransportError {
	var ue *url.Error
	if errors.As(err, &ue) {
		err = ue.Err
	}
	return &TransportError{Op: op, Err: err}
}
