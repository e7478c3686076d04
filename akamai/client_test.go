package akamai

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/purgebus/purgebus/akamai/edgegrid"
)

var testCreds = edgegrid.Credentials{
	Host:         "akab-test.luna.akamaiapis.net",
	ClientToken:  "akab-client-token",
	ClientSecret: "c2VjcmV0LXNlY3JldA==",
	AccessToken:  "akab-access-token",
	AccountKey:   "1-5C0YLB:1-8BYUX",
}

var testNow = time.Date(2024, 11, 29, 10, 0, 0, 0, time.UTC)

// received is a request as the fake server saw it.
type received struct {
	Method, Path, RawQuery, ContentType, UserAgent string
	Body                                           []byte
	Auth                                           edgegrid.Authorization
	AuthErr                                        error // from edgegrid.Verify
	QueryUnsigned                                  bool  // the signature breaks without the query
}

// fakeAkamai is an httptest server that records and verifies each request
// and answers with respond.
type fakeAkamai struct {
	*httptest.Server
	mu   sync.Mutex
	reqs []received
}

type responder func(w http.ResponseWriter, r *http.Request, body []byte)

func newFake(t testing.TB, respond responder) *fakeAkamai {
	f := &fakeAkamai{}
	f.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, err := io.ReadAll(r.Body)
		if err != nil {
			t.Errorf("reading body: %v", err)
		}
		rec := received{
			Method: r.Method, Path: r.URL.Path, RawQuery: r.URL.RawQuery,
			ContentType: r.Header.Get("Content-Type"), UserAgent: r.Header.Get("User-Agent"), Body: body,
		}
		rec.Auth, rec.AuthErr = edgegrid.Verify(r, body, testCreds, testNow, time.Minute)
		if r.URL.RawQuery != "" {
			stripped := r.Clone(r.Context())
			stripped.RequestURI = r.URL.Path
			_, err := edgegrid.Verify(stripped, body, testCreds, testNow, time.Minute)
			rec.QueryUnsigned = err == nil
		}
		f.mu.Lock()
		f.reqs = append(f.reqs, rec)
		f.mu.Unlock()
		respond(w, r, body)
	}))
	t.Cleanup(f.Close)
	return f
}

func (f *fakeAkamai) requests() []received {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.reqs)
}

// answer responds with status, body and headers.
func answer(status int, body string, header ...string) responder {
	return func(w http.ResponseWriter, _ *http.Request, _ []byte) {
		for i := 0; i+1 < len(header); i += 2 {
			w.Header().Set(header[i], header[i+1])
		}
		if w.Header().Get("Content-Type") == "" {
			w.Header().Set("Content-Type", "application/json")
		}
		w.WriteHeader(status)
		io.WriteString(w, body)
	}
}

// accepted answers like Akamai's 201 example, with rate-limit headers.
var accepted = answer(201, exampleResponses[0].body,
	HeaderLimit, "100", HeaderRemaining, "99", HeaderLimitPerSecond, "50.00",
	HeaderLimitObjects, "10000", HeaderRemainingObjects, "9990", HeaderLimitPerSecondObjects, "200.00")

func newTestClient(t testing.TB, baseURL string, mod func(*Config)) *Client {
	t.Helper()
	cfg := Config{
		Credentials: testCreds,
		BaseURL:     baseURL,
		Now:         func() time.Time { return testNow },
		UserAgent:   "purgebus-test",
	}
	if mod != nil {
		mod(&cfg)
	}
	c, err := NewClient(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestPurgeOperations(t *testing.T) {
	f := newFake(t, accepted)
	c := newTestClient(t, f.URL, nil)
	objects := map[Type][]string{
		TypeURL:    {"https://foo1.bar.com/some/path", "http://foo2.bar.com/some/other/path?a=1&b=2"},
		TypeCPCode: {"12345", "98765"},
		TypeTag:    {"black-friday", "laptops"},
	}
	bodies := map[Type]string{
		TypeURL:    `{"objects":["https://foo1.bar.com/some/path","http://foo2.bar.com/some/other/path?a=1&b=2"]}`,
		TypeCPCode: `{"objects":[12345,98765]}`,
		TypeTag:    `{"objects":["black-friday","laptops"]}`,
	}
	type op struct {
		action   Action
		typ      Type
		network  Network
		wantPath string
	}
	var ops []op
	for _, a := range []Action{ActionInvalidate, ActionDelete} {
		for _, tp := range Types {
			for _, n := range []Network{NetworkProduction, NetworkStaging} {
				ops = append(ops, op{a, tp, n, fmt.Sprintf("/ccu/v3/%s/%s/%s", a, tp, n)})
			}
		}
	}
	ops = append(ops, op{"", TypeURL, "", "/ccu/v3/invalidate/url/production"}) // defaults
	if len(ops) != 13 {
		t.Fatalf("%d operations", len(ops))
	}
	for i, o := range ops {
		t.Run(o.wantPath, func(t *testing.T) {
			res, err := c.Purge(context.Background(), Request{Action: o.action, Type: o.typ, Network: o.network, Objects: objects[o.typ]})
			if err != nil {
				t.Fatal(err)
			}
			got := f.requests()[i]
			if got.Method != http.MethodPost || got.Path != o.wantPath {
				t.Errorf("sent %s %s; want POST %s", got.Method, got.Path, o.wantPath)
			}
			if got.ContentType != "application/json" || string(got.Body) != bodies[o.typ] || got.UserAgent != "purgebus-test" {
				t.Errorf("Content-Type %q, User-Agent %q, body %s", got.ContentType, got.UserAgent, got.Body)
			}
			if got.AuthErr != nil || got.Auth.ClientToken != testCreds.ClientToken {
				t.Errorf("signature does not verify: %v", got.AuthErr)
			}
			if got.RawQuery != "accountSwitchKey=1-5C0YLB%3A1-8BYUX" || got.QueryUnsigned {
				t.Errorf("query %q (unsigned: %v); want the signed accountSwitchKey", got.RawQuery, got.QueryUnsigned)
			}
			wantAction, wantNetwork := o.action, o.network
			if wantAction == "" {
				wantAction, wantNetwork = ActionInvalidate, NetworkProduction
			}
			want := &Result{
				Action: wantAction, Type: o.typ, Network: wantNetwork,
				PurgeID: "edcp-NZbXzFpHBjcJeryhw6PVgG", SupportID: "edcp-NZbXzFpHBjcJeryhw6PVgG",
				EstimatedSeconds: 5, HTTPStatus: 201, Detail: "Request accepted", AcceptedAt: testNow,
				RateLimit: RateLimit{Limit: 100, Remaining: 99, LimitPerSecond: 50, LimitObjects: 10000, RemainingObjects: 9990, LimitPerSecondObjects: 200,
					Fields: FieldLimit | FieldRemaining | FieldLimitPerSecond | FieldLimitObjects | FieldRemainingObjects | FieldLimitPerSecondObjects},
				Objects: objects[o.typ], BodyBytes: len(bodies[o.typ]),
			}
			if !reflect.DeepEqual(res, want) {
				t.Errorf("Result =\n%+v\nwant\n%+v", res, want)
			}
			if got := res.EstimatedCompleteAt(); !got.Equal(testNow.Add(5 * time.Second)) {
				t.Errorf("EstimatedCompleteAt = %v", got)
			}
		})
	}
}

func TestPurgeNormalizesObjects(t *testing.T) {
	f := newFake(t, accepted)
	c := newTestClient(t, f.URL, nil)
	res, err := c.Purge(context.Background(), Request{Type: TypeURL, Objects: []string{"HTTPS://e.com/café"}})
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"https://e.com/caf%C3%A9"}; !slices.Equal(res.Objects, want) {
		t.Errorf("Objects = %q", res.Objects)
	}
	if got := string(f.requests()[0].Body); got != `{"objects":["https://e.com/caf%C3%A9"]}` {
		t.Errorf("body %s", got)
	}
}

func TestNoAccountKeyNoQuery(t *testing.T) {
	f := newFake(t, accepted)
	c := newTestClient(t, f.URL, func(c *Config) { c.Credentials.AccountKey = "" })
	if _, err := c.Purge(context.Background(), Request{Type: TypeTag, Objects: []string{"t"}}); err != nil {
		t.Fatal(err)
	}
	if got := f.requests()[0]; got.RawQuery != "" {
		t.Errorf("query %q", got.RawQuery)
	}
}

func TestRateLimitStatus(t *testing.T) {
	f := newFake(t, answer(201, "", HeaderLimit, "100", HeaderRemaining, "100", HeaderLimitPerSecond, "50.00",
		HeaderLimitObjects, "300", HeaderRemainingObjects, "298", HeaderLimitPerSecondObjects, "0.50",
		HeaderSecondsToRefresh, "0", HeaderSecondsToRefreshObjects, "4.00"))
	c := newTestClient(t, f.URL, nil)
	for i, tp := range Types {
		rl, err := c.RateLimitStatus(context.Background(), tp)
		if err != nil {
			t.Fatal(err)
		}
		want := RateLimit{Limit: 100, Remaining: 100, LimitPerSecond: 50, LimitObjects: 300, RemainingObjects: 298, LimitPerSecondObjects: 0.5,
			SecondsToRefresh: 0, SecondsToRefreshObjects: 4, Fields: 0xff}
		if rl != want {
			t.Errorf("RateLimitStatus = %+v", rl)
		}
		got := f.requests()[i]
		if got.Method != http.MethodPost || got.Path != "/ccu/v3/rate-limit-status/"+string(tp) || len(got.Body) != 0 {
			t.Errorf("sent %s %s with %q", got.Method, got.Path, got.Body)
		}
		if got.AuthErr != nil || got.QueryUnsigned || !strings.Contains(got.RawQuery, "accountSwitchKey=") {
			t.Errorf("auth %v, query %q (unsigned %v)", got.AuthErr, got.RawQuery, got.QueryUnsigned)
		}
	}
	if _, err := c.RateLimitStatus(context.Background(), "arl"); !errors.Is(err, ErrInvalidRequest) {
		t.Errorf("unknown type: %v", err)
	}
	if n := len(f.requests()); n != len(Types) {
		t.Errorf("%d requests sent", n)
	}

	f401 := newFake(t, answer(401, `{"title":"Unauthorized"}`))
	_, err := newTestClient(t, f401.URL, nil).RateLimitStatus(context.Background(), TypeURL)
	var e *Error
	if !errors.As(err, &e) || !e.Unauthorized() {
		t.Errorf("401: %v", err)
	}
}

func TestPurgeErrorStatuses(t *testing.T) {
	tests := []struct {
		name        string
		status      int
		contentType string
		body        string
		header      []string
		want        Error // HTTPStatus, Title, Detail, RateLimit* compared
		temporary   bool
		permanent   bool
		retryAfter  time.Duration
	}{
		{name: "400 bad object", status: 400, contentType: "application/api-problem+json",
			body: `{"describedBy":"https://techdocs.akamai.com/purge-cache/reference/api-errors","detail":"Invalid or malformed hostname","httpStatus":400,"supportId":"edcp-1","title":"bad URL hostname"}`,
			want: Error{Title: "bad URL hostname", Detail: "Invalid or malformed hostname"}, permanent: true},
		{name: "401 bad credentials", status: 401, contentType: "application/problem+json",
			body: `{"type":"https://problems.luna.akamaiapis.net/-/pep-authn/request-error","title":"Not authorized","status":401,"detail":"The signature does not match","instance":"https://akab-x.luna.akamaiapis.net/ccu/v3/invalidate/url/production"}`,
			want: Error{Title: "Not authorized", Detail: "The signature does not match"}},
		{name: "403 example", status: 403, contentType: "application/problem+json", body: exampleResponses[1].body,
			want: exampleResponses[1].want, permanent: true},
		{name: "404 plain text", status: 404, contentType: "text/plain", body: "404 page not found\n", permanent: true},
		{name: "413 too large", status: 413, contentType: "application/problem+json", body: `{"title":"Request Entity Too Large","httpStatus":413,"detail":"","supportId":"s"}`,
			want: Error{Title: "Request Entity Too Large"}, permanent: true},
		{name: "415 no content type", status: 415, contentType: "application/problem+json", body: `{"title":"Unsupported Media Type","httpStatus":415,"detail":"x","supportId":"s"}`,
			want: Error{Title: "Unsupported Media Type", Detail: "x"}, permanent: true},
		{name: "429 with rateLimit fields", status: 429, contentType: "application/api-problem+json", body: exampleResponses[4].body,
			header: []string{HeaderLimitObjects, "10000", HeaderRemainingObjects, "94", HeaderLimitPerSecondObjects, "200.00"},
			want:   exampleResponses[4].want, temporary: true, retryAfter: 80 * time.Millisecond},
		{name: "429 with refresh header", status: 429, body: exampleResponses[3].body,
			header: []string{HeaderSecondsToRefresh, "0.3"},
			want:   exampleResponses[3].want, temporary: true, retryAfter: 300 * time.Millisecond},
		{name: "500 example", status: 500, body: exampleResponses[2].body, want: exampleResponses[2].want, temporary: true},
		{name: "502 HTML from a proxy", status: 502, contentType: "text/html", body: "<html><body>Bad Gateway</body></html>", temporary: true},
		{name: "503 empty", status: 503, temporary: true},
		{name: "504 text", status: 504, contentType: "text/plain", body: "upstream timed out", temporary: true},
		{name: "507 old rate limit", status: 507, body: `{"title":"Insufficient Storage","detail":"rate limit"}`,
			header: []string{HeaderSecondsToRefreshObjects, "2"},
			want:   Error{Title: "Insufficient Storage", Detail: "rate limit"}, temporary: true, retryAfter: 2 * time.Second},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			header := append([]string{"Content-Type", tt.contentType}, tt.header...)
			if tt.contentType == "" {
				header = tt.header
			}
			f := newFake(t, answer(tt.status, tt.body, header...))
			c := newTestClient(t, f.URL, nil)
			res, err := c.Purge(context.Background(), Request{Type: TypeURL, Objects: []string{"https://e.com/"}})
			var e *Error
			if !errors.As(err, &e) || res != nil {
				t.Fatalf("Purge = %v, %v; want *Error", res, err)
			}
			if e.HTTPStatus != tt.status || e.Title != tt.want.Title || e.Detail != tt.want.Detail ||
				e.RateLimit != tt.want.RateLimit || e.RateLimitRemaining != tt.want.RateLimitRemaining ||
				e.RateLimitCurrentRequestSize != tt.want.RateLimitCurrentRequestSize {
				t.Errorf("Error = %+v\nwant %+v", e, tt.want)
			}
			if string(e.Body) != tt.body {
				t.Errorf("Body = %q", e.Body)
			}
			if e.Temporary() != tt.temporary || e.Permanent() != tt.permanent || e.RetryAfter() != tt.retryAfter {
				t.Errorf("Temporary %v, Permanent %v, RetryAfter %v; want %v, %v, %v",
					e.Temporary(), e.Permanent(), e.RetryAfter(), tt.temporary, tt.permanent, tt.retryAfter)
			}
			if e.Unauthorized() != (tt.status == 401) || e.RateLimited() != (tt.status == 429 || tt.status == 507) {
				t.Errorf("Unauthorized %v, RateLimited %v", e.Unauthorized(), e.RateLimited())
			}
			if len(tt.header) > 0 && !e.Headers.Present() {
				t.Error("rate-limit headers not parsed")
			}
		})
	}
}

// TestExampleResponses serves each of Akamai's example responses, inline
// and from the shared files, and checks that it decodes into the right
// typed value.
func TestExampleResponses(t *testing.T) {
	check := func(t *testing.T, status int, body string, want Error) {
		f := newFake(t, answer(status, body))
		res, err := newTestClient(t, f.URL, nil).Purge(context.Background(), Request{Type: TypeCPCode, Objects: CPCodes(12345)})
		if status == 201 {
			if err != nil || res.PurgeID != "edcp-NZbXzFpHBjcJeryhw6PVgG" || res.EstimatedSeconds != 5 || res.Detail != "Request accepted" {
				t.Fatalf("Purge = %+v, %v", res, err)
			}
			return
		}
		var e *Error
		if !errors.As(err, &e) {
			t.Fatalf("Purge = %v, %v; want *Error", res, err)
		}
		want.HTTPStatus, want.Body, want.Headers = status, []byte(body), e.Headers
		if !reflect.DeepEqual(*e, want) {
			t.Errorf("Error =\n%+v\nwant\n%+v", *e, want)
		}
		if e.RateLimited() != (status == 429) || e.Temporary() != (status == 429 || status == 500) {
			t.Errorf("RateLimited %v, Temporary %v", e.RateLimited(), e.Temporary())
		}
	}
	for _, ex := range exampleResponses {
		t.Run("inline/"+ex.file, func(t *testing.T) { check(t, ex.status, ex.body, ex.want) })
		t.Run("file/"+ex.file, func(t *testing.T) { check(t, ex.status, string(readExample(t, ex.file)), ex.want) })
	}
}

func TestPurgeRefusesBeforeSending(t *testing.T) {
	f := newFake(t, accepted)
	c := newTestClient(t, f.URL, func(c *Config) { c.MaxObjects = map[Type]int{TypeTag: 2} })
	big := func(i int) string { return fmt.Sprintf("https://e.com/%d/%s", i, strings.Repeat("x", 30000)) }
	tests := []struct {
		name  string
		req   Request
		check func(error) bool
	}{
		{"invalid objects", Request{Type: TypeURL, Objects: []string{"https://ok/", "ftp://x", "/rel"}}, func(err error) bool {
			var ies *InvalidObjectsError
			return errors.As(err, &ies) && len(ies.Objects) == 2 && ies.Objects[0].Object == "ftp://x" && ies.Objects[1].Object == "/rel"
		}},
		{"over the object cap", Request{Type: TypeTag, Objects: []string{"a", "b", "c"}}, func(err error) bool {
			var tl *RequestTooLargeError
			return errors.As(err, &tl) && tl.Objects == 3 && tl.MaxObjects == 2
		}},
		{"over 50,000 bytes", Request{Type: TypeURL, Objects: []string{big(1), big(2)}}, func(err error) bool {
			var tl *RequestTooLargeError
			return errors.As(err, &tl) && tl.Bytes > MaxBodyBytes && tl.Bytes == len(EncodeBody(TypeURL, []string{big(1), big(2)}))
		}},
		{"no objects", Request{Type: TypeURL}, func(err error) bool { return errors.Is(err, ErrNoObjects) }},
		{"no type", Request{Objects: []string{"x"}}, func(err error) bool { return errors.Is(err, ErrInvalidRequest) }},
		{"bad action", Request{Action: "purge", Type: TypeURL, Objects: []string{"https://e.com/"}}, func(err error) bool { return errors.Is(err, ErrInvalidRequest) }},
		{"bad network", Request{Type: TypeURL, Network: "prod", Objects: []string{"https://e.com/"}}, func(err error) bool { return errors.Is(err, ErrInvalidRequest) }},
	}
	for _, tt := range tests {
		res, err := c.Purge(context.Background(), tt.req)
		if res != nil || !tt.check(err) {
			t.Errorf("%s: Purge = %v, %v", tt.name, res, err)
		}
	}
	if n := len(f.requests()); n != 0 {
		t.Errorf("%d requests reached the server", n)
	}
}

func TestPurgeExactBoundary(t *testing.T) {
	f := newFake(t, accepted)
	c := newTestClient(t, f.URL, nil)
	// Two &-heavy URLs whose body is exactly MaxBodyBytes.
	a := "https://e.com/a?" + strings.Repeat("x=1&", 6000)
	rest := MaxBodyBytes - len(`{"objects":["`+a+`",""]}`)
	b := "https://e.com/b?" + strings.Repeat("&", rest-len("https://e.com/b?"))
	res, err := c.Purge(context.Background(), Request{Type: TypeURL, Objects: []string{a, b}})
	if err != nil {
		t.Fatal(err)
	}
	if res.BodyBytes != MaxBodyBytes || len(f.requests()[0].Body) != MaxBodyBytes {
		t.Fatalf("body %d bytes, received %d; want %d", res.BodyBytes, len(f.requests()[0].Body), MaxBodyBytes)
	}
	var tl *RequestTooLargeError
	if _, err := c.Purge(context.Background(), Request{Type: TypeURL, Objects: []string{a, b + "&"}}); !errors.As(err, &tl) || tl.Bytes != MaxBodyBytes+1 {
		t.Fatalf("one byte more: %v", err)
	}
	if n := len(f.requests()); n != 1 {
		t.Errorf("%d requests sent", n)
	}
}

func TestPurgeAll(t *testing.T) {
	var objects, valid []string
	for i := range 12000 {
		u := fmt.Sprintf("https://www.example.com/articles/%06d/a-slug?x=1&y=%d", i, i)
		objects = append(objects, u)
		valid = append(valid, u)
		if i%5000 == 0 {
			objects = append(objects, fmt.Sprintf("ftp://bad/%d", i))
		}
	}

	t.Run("packs valid objects and reports invalid ones", func(t *testing.T) {
		f := newFake(t, accepted)
		c := newTestClient(t, f.URL, nil)
		results, err := c.PurgeAll(context.Background(), Request{Type: TypeURL, Network: NetworkStaging, Objects: objects})
		var ies *InvalidObjectsError
		if !errors.As(err, &ies) || len(ies.Objects) != 3 || ies.Objects[2].Object != "ftp://bad/10000" {
			t.Fatalf("err = %v; want *InvalidObjectsError with 3 objects", err)
		}
		reqs := f.requests()
		if len(results) != len(reqs) || len(reqs) < 2 {
			t.Fatalf("%d results, %d requests", len(results), len(reqs))
		}
		var sent []string
		for i, r := range reqs {
			if len(r.Body) > MaxBodyBytes || r.Path != "/ccu/v3/invalidate/url/staging" || r.AuthErr != nil {
				t.Errorf("request %d: %d bytes to %s, auth %v", i, len(r.Body), r.Path, r.AuthErr)
			}
			got := decodeBody(t, TypeURL, r.Body)
			if !slices.Equal(got, results[i].Objects) || results[i].BodyBytes != len(r.Body) {
				t.Errorf("result %d does not describe request %d", i, i)
			}
			sent = append(sent, got...)
		}
		if !slices.Equal(sent, valid) {
			t.Errorf("sent %d objects; want the %d valid ones in order", len(sent), len(valid))
		}
	})

	t.Run("cap from config", func(t *testing.T) {
		f := newFake(t, accepted)
		c := newTestClient(t, f.URL, func(c *Config) { c.MaxObjects = map[Type]int{TypeURL: 500} })
		results, err := c.PurgeAll(context.Background(), Request{Type: TypeURL, Objects: valid})
		if err != nil || len(results) != 24 {
			t.Fatalf("%d results, %v", len(results), err)
		}
	})

	t.Run("stops at the first failure", func(t *testing.T) {
		var n int
		var mu sync.Mutex
		f := newFake(t, func(w http.ResponseWriter, r *http.Request, body []byte) {
			mu.Lock()
			n++
			second := n == 2
			mu.Unlock()
			if second {
				answer(429, exampleResponses[4].body)(w, r, body)
				return
			}
			accepted(w, r, body)
		})
		c := newTestClient(t, f.URL, nil)
		results, err := c.PurgeAll(context.Background(), Request{Type: TypeURL, Objects: objects})
		var e *Error
		var ies *InvalidObjectsError
		if !errors.As(err, &e) || e.HTTPStatus != 429 || !errors.As(err, &ies) {
			t.Fatalf("err = %v; want the 429 *Error joined with *InvalidObjectsError", err)
		}
		if len(results) != 1 || len(f.requests()) != 2 {
			t.Fatalf("%d results, %d requests; want 1, 2", len(results), len(f.requests()))
		}
	})

	t.Run("nothing to do", func(t *testing.T) {
		f := newFake(t, accepted)
		c := newTestClient(t, f.URL, nil)
		results, err := c.PurgeAll(context.Background(), Request{Type: TypeTag})
		if err != nil || len(results) != 0 || len(f.requests()) != 0 {
			t.Fatalf("PurgeAll(nothing) = %v, %v", results, err)
		}
		if _, err := c.PurgeAll(context.Background(), Request{Type: "arl"}); !errors.Is(err, ErrInvalidRequest) {
			t.Fatalf("bad type: %v", err)
		}
	})
}

// hang never answers until the client gives up or the test ends.
func hang(t *testing.T) responder {
	done := make(chan struct{})
	t.Cleanup(func() { close(done) })
	return func(_ http.ResponseWriter, r *http.Request, _ []byte) {
		select {
		case <-r.Context().Done():
		case <-done:
		}
	}
}

func TestPurgeContext(t *testing.T) {
	req := Request{Type: TypeURL, Objects: []string{"https://e.com/"}}
	checkTransport := func(t *testing.T, err error, timeout bool) {
		t.Helper()
		var te *TransportError
		if !errors.As(err, &te) || !te.Temporary() || te.Timeout() != timeout {
			t.Fatalf("err = %v (%T); want a temporary *TransportError with Timeout %v", err, err, timeout)
		}
		var e *Error
		if errors.As(err, &e) {
			t.Fatalf("err is also an *Error: %v", err)
		}
	}

	t.Run("deadline", func(t *testing.T) {
		f := newFake(t, hang(t))
		c := newTestClient(t, f.URL, nil)
		ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
		defer cancel()
		start := time.Now()
		_, err := c.Purge(ctx, req)
		if !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("err = %v; want context.DeadlineExceeded", err)
		}
		checkTransport(t, err, true)
		if d := time.Since(start); d > 5*time.Second {
			t.Errorf("took %v", d)
		}
	})

	t.Run("cancel", func(t *testing.T) {
		f := newFake(t, hang(t))
		c := newTestClient(t, f.URL, nil)
		ctx, cancel := context.WithCancel(context.Background())
		time.AfterFunc(20*time.Millisecond, cancel)
		_, err := c.Purge(ctx, req)
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("err = %v; want context.Canceled", err)
		}
		checkTransport(t, err, false)
	})

	t.Run("already cancelled", func(t *testing.T) {
		f := newFake(t, accepted)
		c := newTestClient(t, f.URL, nil)
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		results, err := c.PurgeAll(ctx, req)
		if !errors.Is(err, context.Canceled) || len(results) != 0 || len(f.requests()) != 0 {
			t.Fatalf("PurgeAll = %v, %v", results, err)
		}
	})

	t.Run("HTTP client timeout", func(t *testing.T) {
		f := newFake(t, hang(t))
		c := newTestClient(t, f.URL, func(c *Config) { c.HTTPClient = &http.Client{Timeout: 50 * time.Millisecond} })
		_, err := c.Purge(context.Background(), req)
		checkTransport(t, err, true)
	})

	t.Run("connection refused", func(t *testing.T) {
		f := newFake(t, accepted)
		url := f.URL
		f.Close()
		_, err := newTestClient(t, url, nil).Purge(context.Background(), req)
		checkTransport(t, err, false)
	})
}

func TestRedirectNotFollowed(t *testing.T) {
	f := newFake(t, answer(307, "", "Location", "https://elsewhere.example/"))
	_, err := newTestClient(t, f.URL, nil).Purge(context.Background(), Request{Type: TypeTag, Objects: []string{"t"}})
	var e *Error
	if !errors.As(err, &e) || e.HTTPStatus != 307 || e.Temporary() || e.Permanent() {
		t.Fatalf("err = %v; want a 307 *Error", err)
	}
}

func TestConfigValidate(t *testing.T) {
	tests := []struct {
		name string
		mod  func(*Config)
		want []string // substrings of the error; none means valid
	}{
		{"valid", func(*Config) {}, nil},
		{"base URL with prefix", func(c *Config) { c.BaseURL = "http://127.0.0.1:8080/proxy/" }, nil},
		{"missing credentials", func(c *Config) { c.Credentials = edgegrid.Credentials{} },
			[]string{"host", "client_token", "client_secret", "access_token"}},
		{"host with scheme", func(c *Config) { c.Credentials.Host = "https://akab-x.luna.akamaiapis.net/" }, []string{"bare host"}},
		{"relative base URL", func(c *Config) { c.BaseURL = "/ccu" }, []string{"absolute"}},
		{"ftp base URL", func(c *Config) { c.BaseURL = "ftp://h" }, []string{"absolute"}},
		{"base URL with query", func(c *Config) { c.BaseURL = "https://h/?a=1" }, []string{"query"}},
		{"unparsable base URL", func(c *Config) { c.BaseURL = "http://[::1" }, []string{"base URL"}},
		{"cap for unknown type", func(c *Config) { c.MaxObjects = map[Type]int{"arl": 5} }, []string{"unknown type"}},
		{"zero cap", func(c *Config) { c.MaxObjects = map[Type]int{TypeURL: 0} }, []string{"at least 1"}},
		{"several at once", func(c *Config) { c.Credentials.ClientSecret = ""; c.BaseURL = "x" }, []string{"client_secret", "absolute"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := Config{Credentials: testCreds}
			tt.mod(&cfg)
			err := cfg.Validate()
			if _, nerr := NewClient(cfg); (nerr == nil) != (err == nil) {
				t.Errorf("NewClient error %v, Validate error %v", nerr, err)
			}
			if tt.want == nil {
				if err != nil {
					t.Fatalf("Validate = %v", err)
				}
				return
			}
			if err == nil {
				t.Fatal("Validate = nil")
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("Validate = %q; want it to mention %q", err, w)
				}
			}
		})
	}
	var mce *edgegrid.MissingCredentialsError
	if err := (Config{}).Validate(); !errors.As(err, &mce) {
		t.Errorf("missing credentials: %v is not a *edgegrid.MissingCredentialsError", err)
	}
}

func TestNewClientDefaults(t *testing.T) {
	c, err := NewClient(Config{Credentials: testCreds, MaxObjects: map[Type]int{TypeTag: 10}})
	if err != nil {
		t.Fatal(err)
	}
	if c.base != "https://akab-test.luna.akamaiapis.net" || c.userAgent != DefaultUserAgent || c.hc.Timeout != DefaultTimeout || c.hc.CheckRedirect == nil {
		t.Errorf("defaults: base %q, user agent %q, timeout %v", c.base, c.userAgent, c.hc.Timeout)
	}
	if c.MaxObjects(TypeTag) != 10 || c.MaxObjects(TypeURL) != DefaultMaxObjects[TypeURL] || c.MaxObjects(TypeCPCode) != DefaultMaxObjects[TypeCPCode] {
		t.Errorf("caps %d %d %d", c.MaxObjects(TypeTag), c.MaxObjects(TypeURL), c.MaxObjects(TypeCPCode))
	}
	if DefaultMaxObjects[TypeTag] != 5000 {
		t.Error("NewClient changed DefaultMaxObjects")
	}
	if !c.now().After(testNow) {
		t.Error("Now does not default to time.Now")
	}
}

func TestConcurrentPurges(t *testing.T) {
	f := newFake(t, accepted)
	c := newTestClient(t, f.URL, nil)
	var wg sync.WaitGroup
	for i := range 20 {
		wg.Go(func() {
			if _, err := c.Purge(context.Background(), Request{Type: TypeCPCode, Objects: CPCodes(int64(i + 1))}); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	for _, r := range f.requests() {
		if r.AuthErr != nil {
			t.Error(r.AuthErr)
		}
	}
}
