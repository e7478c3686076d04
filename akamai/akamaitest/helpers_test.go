package akamaitest

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/purgebus/purgebus/akamai"
	"github.com/purgebus/purgebus/akamai/edgegrid"
)

// fakeClock is a settable clock for Options.Now and the signer.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func newFakeClock() *fakeClock {
	return &fakeClock{t: time.Date(2026, 3, 14, 15, 9, 26, 0, time.UTC)}
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// harness is a server and a signing client for it.
type harness struct {
	t     testing.TB
	s     *Server
	clock *fakeClock // nil: real time
	seq   atomic.Int64
}

// newHarness starts a server with opts; unless opts.Now is set, the
// server and the signer share a fake clock.
func newHarness(t testing.TB, opts Options) *harness {
	t.Helper()
	h := &harness{t: t}
	if opts.Now == nil {
		h.clock = newFakeClock()
		opts.Now = h.clock.Now
	}
	h.s = NewServer(opts)
	t.Cleanup(h.s.Close)
	return h
}

// now is the signing clock.
func (h *harness) now() time.Time {
	if h.clock != nil {
		return h.clock.Now()
	}
	return time.Now()
}

// reqOpt changes how a request is made.
type reqOpt struct {
	before  func(*http.Request) // before signing
	after   func(*http.Request) // after signing
	cred    *edgegrid.Credentials
	at      time.Time
	nonce   string
	noSign  bool
	ctype   *string
	timeout time.Duration
}

func withCred(c edgegrid.Credentials) reqOpt { return reqOpt{cred: &c} }
func signedAt(t time.Time) reqOpt            { return reqOpt{at: t} }
func withNonce(n string) reqOpt              { return reqOpt{nonce: n} }
func unsigned() reqOpt                       { return reqOpt{noSign: true} }
func contentType(ct string) reqOpt           { return reqOpt{ctype: &ct} }
func before(f func(*http.Request)) reqOpt    { return reqOpt{before: f} }
func after(f func(*http.Request)) reqOpt     { return reqOpt{after: f} }
func timeout(d time.Duration) reqOpt         { return reqOpt{timeout: d} }

// response is a received answer.
type response struct {
	status int
	header http.Header
	body   []byte
	err    error
}

// object decodes the body as a JSON object, numbers as json.Number.
func (r *response) object(t testing.TB) map[string]any {
	t.Helper()
	var m map[string]any
	dec := json.NewDecoder(bytes.NewReader(r.body))
	dec.UseNumber()
	if err := dec.Decode(&m); err != nil {
		t.Fatalf("body %q is not a JSON object: %v", r.body, err)
	}
	return m
}

func (r *response) str(t testing.TB, key string) string {
	t.Helper()
	s, _ := r.object(t)[key].(string)
	return s
}

func (r *response) num(t testing.TB, key string) int {
	t.Helper()
	n, ok := r.object(t)[key].(json.Number)
	if !ok {
		t.Fatalf("body %s has no number %q", r.body, key)
	}
	i, err := n.Int64()
	if err != nil {
		t.Fatalf("%q = %v: %v", key, n, err)
	}
	return int(i)
}

// post sends a signed POST to path with a JSON body.
func (h *harness) post(path string, body []byte, opts ...reqOpt) *response {
	return h.do(http.MethodPost, path, body, opts...)
}

func (h *harness) do(method, path string, body []byte, opts ...reqOpt) *response {
	h.t.Helper()
	var o reqOpt
	for _, x := range opts {
		if x.before != nil {
			o.before = x.before
		}
		if x.after != nil {
			o.after = x.after
		}
		if x.cred != nil {
			o.cred = x.cred
		}
		if !x.at.IsZero() {
			o.at = x.at
		}
		if x.nonce != "" {
			o.nonce = x.nonce
		}
		if x.ctype != nil {
			o.ctype = x.ctype
		}
		o.noSign = o.noSign || x.noSign
		if x.timeout != 0 {
			o.timeout = x.timeout
		}
	}
	req, err := http.NewRequest(method, h.s.URL()+path, bytes.NewReader(body))
	if err != nil {
		h.t.Fatal(err)
	}
	if body == nil {
		req.Body, req.GetBody, req.ContentLength = http.NoBody, nil, 0
	}
	ct := "application/json"
	if o.ctype != nil {
		ct = *o.ctype
	}
	if ct != "" {
		req.Header.Set("Content-Type", ct)
	}
	if o.before != nil {
		o.before(req)
	}
	if !o.noSign {
		cred := h.s.Credentials()
		if o.cred != nil {
			cred = *o.cred
		}
		at := o.at
		if at.IsZero() {
			at = h.now()
		}
		nonce := o.nonce
		if nonce == "" {
			nonce = fmt.Sprintf("nonce-%d-%d", time.Now().UnixNano(), h.seq.Add(1))
		}
		signer := edgegrid.Signer{
			Credentials: cred,
			Now:         func() time.Time { return at },
			Nonce:       func() string { return nonce },
		}
		if err := signer.Sign(req); err != nil {
			h.t.Fatal(err)
		}
	}
	if o.after != nil {
		o.after(req)
	}
	client := h.s.Client()
	if o.timeout > 0 {
		c := *client
		c.Timeout = o.timeout
		client = &c
	}
	resp, err := client.Do(req)
	if err != nil {
		return &response{err: err}
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		h.t.Fatal(err)
	}
	return &response{status: resp.StatusCode, header: resp.Header, body: b}
}

// mustStatus fails unless r has status.
func mustStatus(t testing.TB, r *response, status int) {
	t.Helper()
	if r.err != nil {
		t.Fatalf("request failed: %v", r.err)
	}
	if r.status != status {
		t.Fatalf("status %d, want %d; body %s", r.status, status, r.body)
	}
}

// urls returns n distinct URLs.
func urls(n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = fmt.Sprintf("https://www.example.com/products/%06d.html?x=1&y=2", i)
	}
	return out
}

// tags returns n distinct tags.
func tags(n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = fmt.Sprintf("tag-%d", i)
	}
	return out
}

// shortTags returns n distinct tags of at most 3 characters.
func shortTags(n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = strconv.FormatInt(int64(i), 36)
	}
	return out
}

// cpcodes returns n distinct CP codes in decimal.
func cpcodes(n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = fmt.Sprint(100000 + i)
	}
	return out
}

func body(t akamai.Type, objects []string) []byte { return akamai.EncodeBody(t, objects) }

func urlBody(n int) []byte { return body(akamai.TypeURL, urls(n)) }

// jsonBody is a literal body.
func jsonBody(s string) []byte { return []byte(s) }

// keys returns the sorted keys of m, joined.
func keys(m map[string]any) string {
	ks := make([]string, 0, len(m))
	for k := range m {
		ks = append(ks, k)
	}
	slices.Sort(ks)
	return strings.Join(ks, ",")
}
