package akamaitest

import (
	"bytes"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/purgebus/purgebus/akamai"
	"github.com/purgebus/purgebus/akamai/edgegrid"
	"github.com/purgebus/purgebus/internal/testlog"
)

func TestPurgeAcceptedOnEveryPath(t *testing.T) {
	h := newHarness(t, Options{})
	bodies := map[akamai.Type][]string{
		akamai.TypeURL:    {"https://www.example.com/a", "http://www.example.com/b?x=1&y=2", "/L/512/6848/1h/www.example1.com/"},
		akamai.TypeCPCode: {"12345", "98765"},
		akamai.TypeTag:    {"black-friday", "laptops", "a&b"},
	}
	prefix := map[akamai.Type]string{akamai.TypeURL: "edup-", akamai.TypeCPCode: "edcp-", akamai.TypeTag: "edtp-"}
	n := 0
	for _, action := range []akamai.Action{akamai.ActionInvalidate, akamai.ActionDelete} {
		for _, typ := range akamai.Types {
			for _, network := range []akamai.Network{"", akamai.NetworkStaging, akamai.NetworkProduction} {
				path := "/ccu/v3/" + string(action) + "/" + string(typ)
				if network != "" {
					path += "/" + string(network)
				}
				t.Run(path, func(t *testing.T) {
					b := body(typ, bodies[typ])
					r := h.post(path, b)
					mustStatus(t, r, http.StatusCreated)
					if got := r.header.Get("Content-Type"); got != "application/json" {
						t.Errorf("Content-Type %q", got)
					}
					m := r.object(t)
					if got := keys(m); got != "detail,estimatedSeconds,httpStatus,purgeId,supportId" {
						t.Errorf("keys %s", got)
					}
					if r.num(t, "httpStatus") != 201 || r.num(t, "estimatedSeconds") != 5 || r.str(t, "detail") != "Request accepted" {
						t.Errorf("body %s", r.body)
					}
					id := r.str(t, "purgeId")
					if !strings.HasPrefix(id, prefix[typ]) || len(id) != 5+36 || r.str(t, "supportId") != id {
						t.Errorf("ids in %s", r.body)
					}
					ps := h.s.Purges()
					n++
					if len(ps) != n {
						t.Fatalf("%d purges recorded, want %d", len(ps), n)
					}
					p := ps[n-1]
					wantNet := network
					if wantNet == "" {
						wantNet = akamai.NetworkProduction
					}
					if p.ID != id || p.SupportID != id || p.Action != action || p.Type != typ || p.Network != wantNet ||
						strings.Join(p.Objects, " ") != strings.Join(bodies[typ], " ") || p.BodyBytes != len(b) ||
						!p.ReceivedAt.Equal(h.clock.Now()) || p.AccountSwitchKey != "" || p.AnswerLost {
						t.Errorf("purge record %+v", p)
					}
				})
			}
		}
	}
	st := h.s.Stats()
	if st.Purges != 18 || st.Requests != 18 || st.ByStatus[201] != 18 || st.Objects[akamai.TypeURL] != 6*3 ||
		st.Objects[akamai.TypeCPCode] != 6*2 || st.Objects[akamai.TypeTag] != 6*3 {
		t.Errorf("stats %+v", st)
	}
	if got := h.s.PurgedObjects(akamai.TypeCPCode); len(got) != 12 || got[0] != "12345" {
		t.Errorf("PurgedObjects(cpcode) = %v", got)
	}
}

func TestRoutes(t *testing.T) {
	h := newHarness(t, Options{})
	for _, path := range []string{
		"/", "/ccu/v3", "/ccu/v3/", "/ccu/v2/invalidate/url", "/ccu/v3/invalidate", "/ccu/v3/invalidate/",
		"/ccu/v3/invalidate/url/", "/ccu/v3/invalidate/arl", "/ccu/v3/invalidate/url/test",
		"/ccu/v3/invalidate/url/staging/", "/ccu/v3/purge/url", "/ccu/v3/rate-limit-status/url/staging",
		"/ccu/v3/rate-limit-status", "/ccu/v3/Invalidate/url",
	} {
		r := h.post(path, urlBody(1))
		mustStatus(t, r, http.StatusNotFound)
		if r.header.Get("Content-Type") != "application/problem+json" || r.num(t, "httpStatus") != 404 {
			t.Errorf("%s: %v %s", path, r.header, r.body)
		}
		if r.header.Get(akamai.HeaderLimit) != "100" || r.header.Get(akamai.HeaderLimitObjects) != "" {
			t.Errorf("%s: rate-limit headers %v", path, r.header)
		}
	}
	for _, m := range []string{http.MethodGet, http.MethodPut, http.MethodDelete, http.MethodPatch, http.MethodOptions} {
		r := h.do(m, "/ccu/v3/invalidate/url", urlBody(1))
		mustStatus(t, r, http.StatusMethodNotAllowed)
		if r.header.Get("Allow") != "POST" || r.header.Get(akamai.HeaderLimitObjects) != "10000" {
			t.Errorf("%s: headers %v", m, r.header)
		}
	}
	if len(h.s.Purges()) != 0 || h.s.Tokens("").Requests != 100 {
		t.Error("a refused request was recorded or took tokens")
	}
}

func TestAuthentication(t *testing.T) {
	h := newHarness(t, Options{})
	const path = "/ccu/v3/invalidate/url"
	good := h.s.Credentials()
	wrongSecret, wrongClient, wrongAccess := good, good, good
	wrongSecret.ClientSecret = NewCredentials().ClientSecret
	wrongClient.ClientToken = "akab-other"
	wrongAccess.AccessToken = "akab-other"
	now := h.clock.Now()
	cases := []struct {
		name   string
		opts   []reqOpt
		status int
		detail string
	}{
		{"missing", []reqOpt{unsigned()}, 401, "Missing Authorization header"},
		{"not EdgeGrid", []reqOpt{unsigned(), before(func(r *http.Request) { r.Header.Set("Authorization", "Bearer x") })}, 401, "Malformed Authorization header"},
		{"garbage", []reqOpt{after(func(r *http.Request) { r.Header.Set("Authorization", "EG1-HMAC-SHA256 client_token=x") })}, 401, "Malformed Authorization header"},
		{"wrong secret", []reqOpt{withCred(wrongSecret)}, 401, "The signature does not match"},
		{"unknown client token", []reqOpt{withCred(wrongClient)}, 401, "Invalid authorization client_token or access_token"},
		{"unknown access token", []reqOpt{withCred(wrongAccess)}, 401, "Invalid authorization client_token or access_token"},
		{"body changed", []reqOpt{after(func(r *http.Request) { r.Body = http.NoBody; r.ContentLength = 0 })}, 401, "The signature does not match"},
		{"query added", []reqOpt{after(func(r *http.Request) { r.URL.RawQuery = "accountSwitchKey=B-C-1" })}, 401, "The signature does not match"},
		{"other host signed", []reqOpt{before(func(r *http.Request) { r.Host = "akab-x.purge.akamaiapis.net" }), after(func(r *http.Request) { r.Host = good.Host })}, 401, "The signature does not match"},
		{"signed as https", []reqOpt{before(func(r *http.Request) { r.URL.Scheme = "https" }), after(func(r *http.Request) { r.URL.Scheme = "http" })}, 401, "The signature does not match"},
		{"stale", []reqOpt{signedAt(now.Add(-31 * time.Second))}, 400, "Invalid timestamp"},
		{"future", []reqOpt{signedAt(now.Add(31 * time.Second))}, 400, "Invalid timestamp"},
		{"old but within skew", []reqOpt{signedAt(now.Add(-30 * time.Second))}, 201, ""},
		{"ahead but within skew", []reqOpt{signedAt(now.Add(29 * time.Second))}, 201, ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := h.post(path, urlBody(2), c.opts...)
			mustStatus(t, r, c.status)
			if c.status == 201 {
				return
			}
			m := r.object(t)
			if keys(m) != "detail,instance,method,requestId,requestTime,status,title,type" {
				t.Errorf("gateway body keys %s", keys(m))
			}
			if r.str(t, "detail") != c.detail || r.num(t, "status") != c.status || r.str(t, "method") != "POST" ||
				r.header.Get("Content-Type") != "application/problem+json" {
				t.Errorf("body %s", r.body)
			}
			if r.header.Get(akamai.HeaderRemaining) == "" {
				t.Error("no rate-limit headers on an authentication failure")
			}
		})
	}
	if got := len(h.s.Purges()); got != 2 {
		t.Errorf("%d purges, want 2", got)
	}
	if st := h.s.Stats(); st.Unsigned != len(cases)-2 {
		t.Errorf("Unsigned = %d", st.Unsigned)
	}
	if tok := h.s.Tokens(""); tok.Requests != 98 || tok.URL != 10000-4 {
		t.Errorf("tokens %+v: refused requests must take none", tok)
	}
}

func TestReplayedNonce(t *testing.T) {
	h := newHarness(t, Options{MaxSkew: 10 * time.Second})
	const path = "/ccu/v3/invalidate/tag"
	b := body(akamai.TypeTag, tags(1))
	signed := h.clock.Now()
	mustStatus(t, h.post(path, b, withNonce("n-1"), signedAt(signed)), 201)

	// The very same request again, and the nonce with another timestamp.
	r := h.post(path, b, withNonce("n-1"), signedAt(signed))
	mustStatus(t, r, 401)
	if r.str(t, "detail") != "The nonce has already been used" {
		t.Errorf("detail %s", r.body)
	}
	h.clock.Advance(5 * time.Second)
	mustStatus(t, h.post(path, b, withNonce("n-1")), 401)

	// Once the first signature is stale, it is refused as such, and the
	// nonce is free again for a fresh timestamp.
	h.clock.Advance(5*time.Second + time.Millisecond)
	r = h.post(path, b, withNonce("n-1"), signedAt(signed))
	mustStatus(t, r, 400)
	mustStatus(t, h.post(path, b, withNonce("n-1")), 201)
	if got := len(h.s.Purges()); got != 2 {
		t.Errorf("%d purges, want 2", got)
	}
}

func TestNonceMemoryBounded(t *testing.T) {
	h := newHarness(t, Options{MaxSkew: 2 * time.Second, Buckets: BucketConfig{Disabled: true}})
	b := body(akamai.TypeTag, tags(1))
	for i := range 200 {
		mustStatus(t, h.post("/ccu/v3/invalidate/tag", b), 201)
		if i%10 == 9 {
			h.clock.Advance(time.Second) // 20 s in all
		}
	}
	// Only the nonces of the last 2 s window (3 steps of 10 requests) and
	// those whose shard has not swept yet are kept, not all 200.
	if n := h.s.nonces.len(); n > 60 || n < 10 {
		t.Errorf("%d nonces remembered, want 10 to 60", n)
	}
}

func TestContentType(t *testing.T) {
	h := newHarness(t, Options{})
	for ct, want := range map[string]int{
		"":                                  415,
		"text/plain":                        415,
		"application/x-www-form-urlencoded": 415,
		"application/jsonx":                 415,
		"application/json":                  201,
		"application/json; charset=utf-8":   201,
		"Application/JSON":                  201,
		" application/json ;charset=UTF-8":  201,
	} {
		r := h.post("/ccu/v3/invalidate/url", urlBody(1), contentType(ct))
		mustStatus(t, r, want)
		if want == 415 && (r.num(t, "httpStatus") != 415 || r.header.Get("Content-Type") != "application/problem+json") {
			t.Errorf("%q: %s", ct, r.body)
		}
	}
}

// bodyOfSize returns a one-URL body of exactly n bytes.
func bodyOfSize(n int) []byte {
	prefix := "http://www.example.com/"
	pad := n - len(`{"objects":[""]}`) - len(prefix)
	b := body(akamai.TypeURL, []string{prefix + strings.Repeat("a", pad)})
	if len(b) != n {
		panic(len(b))
	}
	return b
}

func TestBodySizeLimit(t *testing.T) {
	h := newHarness(t, Options{})
	r := h.post("/ccu/v3/invalidate/url", bodyOfSize(akamai.MaxBodyBytes))
	mustStatus(t, r, 201)
	r = h.post("/ccu/v3/invalidate/url", bodyOfSize(akamai.MaxBodyBytes+1))
	mustStatus(t, r, 413)
	if r.num(t, "httpStatus") != 413 {
		t.Errorf("body %s", r.body)
	}
	// A megabyte: the signature covers the first 131072 bytes, and the
	// server reads no more than that.
	big := bodyOfSize(1 << 20)
	r = h.post("/ccu/v3/invalidate/url", big)
	mustStatus(t, r, 413)
	recs := h.s.Requests()
	if got := recs[len(recs)-1].BodyBytes; got != 131072 {
		t.Errorf("read %d bytes of a 1 MiB body", got)
	}
	if len(h.s.Purges()) != 1 {
		t.Error("an oversized body was purged")
	}
}

func TestBadBodies(t *testing.T) {
	h := newHarness(t, Options{})
	long := strings.Repeat("t", 129)
	cases := []struct {
		typ    akamai.Type
		body   string
		title  string
		detail string // substring
	}{
		{akamai.TypeURL, ``, "bad request", "empty body"},
		{akamai.TypeURL, `{"objects":["https://a.example/"]`, "bad request", "Malformed JSON"},
		{akamai.TypeURL, `["https://a.example/"]`, "bad request", "must be a JSON object"},
		{akamai.TypeURL, `{}`, "bad request", `Missing required member "objects"`},
		{akamai.TypeURL, `{"objects":null}`, "bad request", `Missing required member "objects"`},
		{akamai.TypeURL, `{"objects":[]}`, "bad request", "must not be empty"},
		{akamai.TypeURL, `{"objects":"https://a.example/"}`, "bad request", "array of strings"},
		{akamai.TypeURL, `{"objects":[1]}`, "bad request", "array of strings"},
		{akamai.TypeURL, `{"objects":["https://a.example/"],"network":"staging"}`, "bad request", `unknown member "network"`},
		{akamai.TypeURL, `{"objects":["https://a.example/"]} x`, "bad request", "after the JSON object"},
		{akamai.TypeURL, `{"objects":["https://a.example/devóps.jsp"]}`, "bad URL", "contains non-ASCII character 'ó' (U+00F3)"},
		{akamai.TypeURL, `{"objects":["https://a.example/ok","https://bücher.example/"]}`, "bad URL", "bücher"},
		{akamai.TypeURL, `{"objects":["https://a.example/a b"]}`, "bad URL", "space"},
		{akamai.TypeURL, `{"objects":["www.example.com/a"]}`, "bad URL", "not an absolute http or https URL"},
		{akamai.TypeURL, `{"objects":["ftp://www.example.com/a"]}`, "bad URL", "scheme must be http or https"},
		{akamai.TypeURL, `{"objects":["https:///a"]}`, "bad URL", "missing host"},
		{akamai.TypeURL, `{"objects":["/some/path"]}`, "bad URL", "not an absolute"},
		{akamai.TypeURL, `{"objects":[null]}`, "bad URL", "empty URL"},
		{akamai.TypeURL, `{"hostname":"bad host","objects":["/a"]}`, "bad URL hostname", "Invalid or malformed hostname"},
		{akamai.TypeURL, `{"hostname":"www.example.com","objects":["https://www.example.com/a"]}`, "bad URL", "path starting with '/'"},
		{akamai.TypeTag, `{"objects":["ok","` + long + `"]}`, "bad tag", "129 characters"},
		{akamai.TypeTag, `{"objects":["a b"]}`, "bad tag", "not allowed"},
		{akamai.TypeTag, `{"objects":["a,b"]}`, "bad tag", "not allowed"},
		{akamai.TypeTag, `{"objects":[""]}`, "bad tag", "empty tag"},
		{akamai.TypeTag, `{"objects":[7]}`, "bad request", "array of strings"},
		{akamai.TypeTag, `{"hostname":"a.example","objects":["x"]}`, "bad request", `unknown member "hostname"`},
		{akamai.TypeCPCode, `{"objects":["12345"]}`, "bad request", "array of integers"},
		{akamai.TypeCPCode, `{"objects":[1.5]}`, "bad request", "array of integers"},
		{akamai.TypeCPCode, `{"objects":[1e3]}`, "bad request", "array of integers"},
		{akamai.TypeCPCode, `{"objects":[12345, 0]}`, "bad cpcode", "Invalid CP code 0"},
		{akamai.TypeCPCode, `{"objects":[-5]}`, "bad cpcode", "Invalid CP code -5"},
		{akamai.TypeCPCode, `{"objects":[99999999999999999999]}`, "bad request", "array of integers"},
	}
	for _, c := range cases {
		r := h.post("/ccu/v3/invalidate/"+string(c.typ), jsonBody(c.body))
		if r.status != 400 || r.str(t, "title") != c.title || !strings.Contains(r.str(t, "detail"), c.detail) ||
			r.num(t, "httpStatus") != 400 || !strings.HasPrefix(r.str(t, "supportId"), "ed") {
			t.Errorf("%s %s: %d %s", c.typ, c.body, r.status, r.body)
		}
	}
	if len(h.s.Purges()) != 0 {
		t.Error("a bad request was purged")
	}
	if tok := h.s.Tokens(""); tok.Requests != 100 || tok.URL != 10000 || tok.Tag != 5000 || tok.CPCode != 300 {
		t.Errorf("bad requests took tokens: %+v", tok)
	}
	// What is valid at the edges.
	for typ, b := range map[akamai.Type]string{
		akamai.TypeTag:    `{"objects":["` + long[:128] + `","!#$%'+-.^_` + "`" + `|~&"]}`,
		akamai.TypeURL:    `{"hostname":"www.example.com","objects":["/a","/b?c=d"]}`,
		akamai.TypeCPCode: `{"objects":[1, 2147483647]}`,
	} {
		mustStatus(t, h.post("/ccu/v3/invalidate/"+string(typ), jsonBody(b)), 201)
	}
	ps := h.s.Purges()
	for _, p := range ps {
		if p.Type == akamai.TypeURL && (p.Hostname != "www.example.com" || p.Objects[1] != "/b?c=d") {
			t.Errorf("hostname purge recorded as %+v", p)
		}
	}
}

func TestUnauthorized(t *testing.T) {
	h := newHarness(t, Options{})
	h.s.Unauthorized("http://fpj-test.bad-ideas2.org/", "666", "secret-tag")
	for _, c := range []struct {
		typ     akamai.Type
		objects []string
		title   string
		detail  string
	}{
		{akamai.TypeURL, []string{"https://ok.example/", "http://fpj-test.bad-ideas2.org/"}, "unauthorized arl", "http://fpj-test.bad-ideas2.org/"},
		{akamai.TypeCPCode, []string{"1", "666"}, "unauthorized cpcode", "666"},
		{akamai.TypeTag, []string{"secret-tag"}, "unauthorized tag", "secret-tag"},
	} {
		r := h.post("/ccu/v3/delete/"+string(c.typ), body(c.typ, c.objects))
		mustStatus(t, r, 403)
		m := r.object(t)
		if keys(m) != "describedBy,detail,httpStatus,supportId,title" || r.str(t, "title") != c.title || r.str(t, "detail") != c.detail {
			t.Errorf("%s: %s", c.typ, r.body)
		}
	}
	mustStatus(t, h.post("/ccu/v3/delete/cpcode", body(akamai.TypeCPCode, []string{"1", "667"})), 201)
	if ps := h.s.Purges(); len(ps) != 1 {
		t.Errorf("purges %+v", ps)
	}
	if tok := h.s.Tokens(""); tok.Requests != 99 || tok.URL != 10000 || tok.CPCode != 298 || tok.Tag != 5000 {
		t.Errorf("tokens %+v", tok)
	}
}

func TestRequestBucket(t *testing.T) {
	h := newHarness(t, Options{})
	tb := body(akamai.TypeTag, tags(2))
	for i := range 100 {
		r := h.post("/ccu/v3/invalidate/tag", tb)
		mustStatus(t, r, 201)
		if got := r.header.Get(akamai.HeaderRemaining); got != strconv.Itoa(99-i) {
			t.Fatalf("request %d: X-Ratelimit-Remaining %s", i, got)
		}
	}
	r := h.post("/ccu/v3/invalidate/tag", tb)
	mustStatus(t, r, 429)
	m := r.object(t)
	if keys(m) != "describedBy,detail,httpStatus,rateLimit,rateLimitCurrentRequestSize,rateLimitRemaining,supportId,title" {
		t.Errorf("429 keys %s", keys(m))
	}
	if r.str(t, "title") != "Rate Limit exceeded" || r.num(t, "rateLimit") != 100 || r.num(t, "rateLimitRemaining") != 0 ||
		r.num(t, "rateLimitCurrentRequestSize") != 1 || r.num(t, "httpStatus") != 429 {
		t.Errorf("429 body %s", r.body)
	}
	if got := r.header.Get(akamai.HeaderRemaining); got != "0" {
		t.Errorf("X-Ratelimit-Remaining %s", got)
	}
	if got := r.header.Get(akamai.HeaderSecondsToRefresh); got != "0.02" {
		t.Errorf("X-Ratelimit-Seconds-To-Refresh-Limit %s, want 0.02 (one token at 50/s)", got)
	}
	if tok := h.s.Tokens(""); tok.Tag != 5000-200 {
		t.Errorf("the refused request took tag tokens: %v", tok.Tag)
	}
	if st := h.s.Stats(); st.RateLimited != 1 || st.ByStatus[429] != 1 {
		t.Errorf("stats %+v", st)
	}

	h.clock.Advance(19 * time.Millisecond)
	mustStatus(t, h.post("/ccu/v3/invalidate/tag", tb), 429)
	h.clock.Advance(time.Millisecond)
	mustStatus(t, h.post("/ccu/v3/invalidate/tag", tb), 201)
	mustStatus(t, h.post("/ccu/v3/invalidate/tag", tb), 429)

	// Two seconds refill 100 tokens: the bucket is full, never fuller.
	h.clock.Advance(time.Hour)
	if tok := h.s.Tokens(""); tok.Requests != 100 {
		t.Errorf("after an hour: %v request tokens", tok.Requests)
	}
}

func TestObjectBuckets(t *testing.T) {
	for _, c := range []struct {
		typ      akamai.Type
		capacity int
		perSec   string
		objects  func(int) []string
		refill   time.Duration // for one token
	}{
		{akamai.TypeURL, 10000, "200.00", urls, 5 * time.Millisecond},
		{akamai.TypeCPCode, 300, "0.50", cpcodes, 2 * time.Second},
		{akamai.TypeTag, 5000, "8.33", tags, 120 * time.Millisecond},
	} {
		t.Run(string(c.typ), func(t *testing.T) {
			h := newHarness(t, Options{})
			path := "/ccu/v3/invalidate/" + string(c.typ)
			// Another client leaves 94 tokens, as in Akamai's example.
			var u, cp, tg int
			switch c.typ {
			case akamai.TypeURL:
				u = c.capacity - 94
			case akamai.TypeCPCode:
				cp = c.capacity - 94
			case akamai.TypeTag:
				tg = c.capacity - 94
			}
			h.s.SpendTokens(0, u, cp, tg)

			r := h.post(path, body(c.typ, c.objects(110)))
			mustStatus(t, r, 429)
			title := strings.ToUpper(string(c.typ)) + " Rate Limit exceeded"
			if r.str(t, "title") != title || r.num(t, "rateLimit") != c.capacity || r.num(t, "rateLimitRemaining") != 94 ||
				r.num(t, "rateLimitCurrentRequestSize") != 110 || !strings.HasPrefix(r.str(t, "supportId"), idPrefix(c.typ)+"-") {
				t.Errorf("429 body %s", r.body)
			}
			hd := r.header
			if hd.Get(akamai.HeaderRemaining) != "100" || hd.Get(akamai.HeaderRemainingObjects) != "94" ||
				hd.Get(akamai.HeaderLimitObjects) != strconv.Itoa(c.capacity) || hd.Get(akamai.HeaderLimitPerSecondObjects) != c.perSec ||
				hd.Get(akamai.HeaderLimit) != "100" || hd.Get(akamai.HeaderLimitPerSecond) != "50.00" ||
				hd.Get(akamai.HeaderSecondsToRefresh) != "0.00" {
				t.Errorf("headers %v", hd)
			}
			// Until 16 more tokens are there.
			want := ceilHundredth(16 * c.refill.Seconds())
			if got, _ := strconv.ParseFloat(hd.Get(akamai.HeaderSecondsToRefreshObjects), 64); got != want {
				t.Errorf("%s = %v, want %v", akamai.HeaderSecondsToRefreshObjects, got, want)
			}
			if tok := h.s.Tokens(""); tok.Requests != 100 {
				t.Errorf("the refused request took a request token: %v", tok.Requests)
			}
			// After 16 refills minus a bit: still refused; then accepted.
			h.clock.Advance(16*c.refill - time.Millisecond)
			mustStatus(t, h.post(path, body(c.typ, c.objects(110))), 429)
			h.clock.Advance(time.Millisecond)
			r = h.post(path, body(c.typ, c.objects(110)))
			mustStatus(t, r, 201)
			if r.header.Get(akamai.HeaderRemainingObjects) != "0" || r.header.Get(akamai.HeaderRemaining) != "99" {
				t.Errorf("headers after success %v", r.header)
			}
			mustStatus(t, h.post(path, body(c.typ, c.objects(1))), 429)
			mustStatus(t, h.post(path, body(c.typ, c.objects(1))), 429)
			if st := h.s.Stats(); st.Purges != 1 || st.RateLimited != 4 || st.Objects[c.typ] != 110 {
				t.Errorf("stats %+v", st)
			}
		})
	}
}

func TestRequestLargerThanBucket(t *testing.T) {
	h := newHarness(t, Options{})
	short := shortTags(5001)
	r := h.post("/ccu/v3/invalidate/tag", body(akamai.TypeTag, short))
	mustStatus(t, r, 429)
	if r.str(t, "title") != "TAG Rate Limit exceeded" || r.num(t, "rateLimitCurrentRequestSize") != 5001 ||
		r.num(t, "rateLimit") != 5000 || r.num(t, "rateLimitRemaining") != 5000 || !strings.Contains(r.str(t, "detail"), "never") {
		t.Errorf("body %s", r.body)
	}
	if got := r.header.Get(akamai.HeaderSecondsToRefreshObjects); got != "0.00" {
		t.Errorf("seconds to refresh %s: the bucket is already as full as it gets", got)
	}
	mustStatus(t, h.post("/ccu/v3/invalidate/tag", body(akamai.TypeTag, short[:5000])), 201)
	r = h.post("/ccu/v3/invalidate/cpcode", body(akamai.TypeCPCode, cpcodes(301)))
	mustStatus(t, r, 429)
	if r.str(t, "title") != "CPCODE Rate Limit exceeded" {
		t.Errorf("body %s", r.body)
	}
}

func TestHeadersEverywhere(t *testing.T) {
	h := newHarness(t, Options{})
	check := func(name string, r *response, typ akamai.Type) {
		t.Helper()
		all := []string{akamai.HeaderLimit, akamai.HeaderRemaining, akamai.HeaderLimitPerSecond, akamai.HeaderSecondsToRefresh,
			akamai.HeaderLimitObjects, akamai.HeaderRemainingObjects, akamai.HeaderLimitPerSecondObjects, akamai.HeaderSecondsToRefreshObjects}
		for _, k := range all {
			if r.header.Get(k) == "" {
				t.Errorf("%s: no %s", name, k)
			}
		}
		rl := akamai.ParseRateLimit(r.header)
		if !rl.Has(akamai.FieldLimit|akamai.FieldLimitObjects|akamai.FieldSecondsToRefreshObjects) || rl.LimitObjects != DefaultBuckets().objectBucket(typ).Capacity {
			t.Errorf("%s: %+v", name, rl)
		}
	}
	check("201", h.post("/ccu/v3/invalidate/cpcode", body(akamai.TypeCPCode, cpcodes(3))), akamai.TypeCPCode)
	check("400", h.post("/ccu/v3/invalidate/tag", jsonBody(`{}`)), akamai.TypeTag)
	check("401", h.post("/ccu/v3/invalidate/url", urlBody(1), unsigned()), akamai.TypeURL)
	check("415", h.post("/ccu/v3/invalidate/url", urlBody(1), contentType("text/plain")), akamai.TypeURL)
	check("405", h.do(http.MethodGet, "/ccu/v3/invalidate/url", nil), akamai.TypeURL)
	r := h.post("/ccu/v3/rate-limit-status/cpcode", nil, contentType(""))
	mustStatus(t, r, 201)
	check("status", r, akamai.TypeCPCode)
	if r.header.Get(akamai.HeaderRemainingObjects) != "297" || r.header.Get(akamai.HeaderRemaining) != "99" ||
		r.header.Get(akamai.HeaderLimitPerSecondObjects) != "0.50" {
		t.Errorf("rate-limit-status headers %v", r.header)
	}
}

func TestRateLimitStatus(t *testing.T) {
	h := newHarness(t, Options{})
	h.s.SpendTokens(40, 1234, 0, 0)
	r := h.post("/ccu/v3/rate-limit-status/url?accountSwitchKey=", nil, contentType(""))
	mustStatus(t, r, 201)
	if keys(r.object(t)) != "detail,httpStatus,supportId" || r.num(t, "httpStatus") != 201 {
		t.Errorf("body %s", r.body)
	}
	if r.header.Get(akamai.HeaderRemaining) != "60" || r.header.Get(akamai.HeaderRemainingObjects) != "8766" {
		t.Errorf("headers %v", r.header)
	}
	if tok := h.s.Tokens(""); tok.Requests != 60 || tok.URL != 8766 {
		t.Errorf("rate-limit-status took tokens: %+v", tok)
	}
	mustStatus(t, h.post("/ccu/v3/rate-limit-status/url", nil, unsigned()), 401)
	if len(h.s.Purges()) != 0 {
		t.Error("rate-limit-status recorded a purge")
	}
}

func TestTimeScale(t *testing.T) {
	h := newHarness(t, Options{TimeScale: 10})
	h.s.SpendTokens(100, 10000, 300, 5000)
	r := h.post("/ccu/v3/invalidate/url", urlBody(1))
	mustStatus(t, r, 429)
	if r.header.Get(akamai.HeaderLimitPerSecond) != "500.00" || r.header.Get(akamai.HeaderLimitPerSecondObjects) != "2000.00" ||
		r.header.Get(akamai.HeaderLimit) != "100" || r.header.Get(akamai.HeaderLimitObjects) != "10000" {
		t.Errorf("headers %v", r.header)
	}
	// 1/500 s for a request token, 1/2000 s for a URL.
	h.clock.Advance(2 * time.Millisecond)
	mustStatus(t, h.post("/ccu/v3/invalidate/url", urlBody(1)), 201)
	h.clock.Advance(time.Second)
	tok := h.s.Tokens("")
	// Drained, then 1.002 s at ten times the rates (one URL spent).
	if tok.Requests != 100 || !near(tok.URL, 2003, 1e-6) || !near(tok.CPCode, 5.01, 1e-9) || !near(tok.Tag, 83.5, 1e-9) {
		t.Errorf("after 1 s at ×10: %+v", tok)
	}
}

func near(x, y, eps float64) bool { return x-y < eps && y-x < eps }

func TestAccounts(t *testing.T) {
	h := newHarness(t, Options{})
	h.s.SpendAccountTokens("B-C-1", 100, 0, 0, 0)
	mustStatus(t, h.post("/ccu/v3/invalidate/url?accountSwitchKey=B-C-1", urlBody(1)), 429)
	mustStatus(t, h.post("/ccu/v3/invalidate/url?accountSwitchKey=B-C-2", urlBody(1)), 201)
	mustStatus(t, h.post("/ccu/v3/invalidate/url", urlBody(1)), 201)
	ps := h.s.Purges()
	if len(ps) != 2 || ps[0].AccountSwitchKey != "B-C-2" || ps[1].AccountSwitchKey != "" {
		t.Errorf("purges %+v", ps)
	}
	if tok := h.s.Tokens(""); tok.Requests != 99 {
		t.Errorf("default account %+v", tok)
	}
	// SpendTokens never takes more than there is.
	h.s.SpendTokens(1000, 20000, 1, 1)
	h.clock.Advance(20 * time.Millisecond)
	if tok := h.s.Tokens(""); !near(tok.Requests, 1, 1e-9) || !near(tok.URL, 4, 1e-9) || !near(tok.CPCode, 299.01, 1e-9) || !near(tok.Tag, 4999+0.02*500/60, 1e-9) {
		t.Errorf("after SpendTokens and 20 ms: %+v", tok)
	}
}

func TestDisabledBuckets(t *testing.T) {
	h := newHarness(t, Options{Buckets: BucketConfig{Disabled: true}})
	for range 150 {
		r := h.post("/ccu/v3/invalidate/url", urlBody(200))
		mustStatus(t, r, 201)
		if r.header.Get(akamai.HeaderRemaining) != "100" || r.header.Get(akamai.HeaderRemainingObjects) != "10000" ||
			r.header.Get(akamai.HeaderSecondsToRefreshObjects) != "0.00" {
			t.Fatalf("headers %v", r.header)
		}
	}
	mustStatus(t, h.post("/ccu/v3/invalidate/tag", body(akamai.TypeTag, shortTags(6000))), 201)
}

func TestCustomBuckets(t *testing.T) {
	h := newHarness(t, Options{Buckets: BucketConfig{Requests: Bucket{Capacity: 2, PerSecond: 1}, URL: Bucket{Capacity: 50}}})
	mustStatus(t, h.post("/ccu/v3/invalidate/url", urlBody(30)), 201)
	mustStatus(t, h.post("/ccu/v3/invalidate/url", urlBody(30)), 429)
	mustStatus(t, h.post("/ccu/v3/invalidate/url", urlBody(20)), 201)
	r := h.post("/ccu/v3/invalidate/url", urlBody(1))
	mustStatus(t, r, 429)
	if r.header.Get(akamai.HeaderLimit) != "2" || r.header.Get(akamai.HeaderLimitPerSecond) != "1.00" ||
		r.header.Get(akamai.HeaderLimitObjects) != "50" || r.header.Get(akamai.HeaderLimitPerSecondObjects) != "200.00" ||
		r.header.Get(akamai.HeaderSecondsToRefresh) != "1.00" {
		t.Errorf("headers %v", r.header)
	}
}

func TestMaxRecordsAndReset(t *testing.T) {
	h := newHarness(t, Options{MaxRecords: 3})
	for i := range 10 {
		mustStatus(t, h.post("/ccu/v3/invalidate/url", body(akamai.TypeURL, []string{fmt.Sprintf("https://a.example/%d", i)})), 201)
	}
	ps := h.s.Purges()
	if len(ps) != 3 || ps[0].Objects[0] != "https://a.example/7" || ps[2].Objects[0] != "https://a.example/9" {
		t.Errorf("purges %+v", ps)
	}
	if got := h.s.PurgedObjects(akamai.TypeURL); len(got) != 3 {
		t.Errorf("PurgedObjects %v", got)
	}
	if len(h.s.Requests()) != 3 || h.s.Stats().Purges != 10 {
		t.Error("records or stats wrong")
	}
	h.s.Unauthorized("https://a.example/x")
	h.s.FailNext(5, 503)
	h.s.SetLatency(time.Hour)
	h.s.Reset()
	if len(h.s.Purges()) != 0 || len(h.s.Requests()) != 0 || h.s.Stats().Requests != 0 || h.s.Tokens("").Requests != 100 {
		t.Error("Reset left state")
	}
	mustStatus(t, h.post("/ccu/v3/invalidate/url", body(akamai.TypeURL, []string{"https://a.example/x"})), 201)
}

func TestStartTLS(t *testing.T) {
	clock := newFakeClock()
	s := NewUnstartedServer(Options{Now: clock.Now})
	s.StartTLS()
	defer s.Close()
	if !strings.HasPrefix(s.URL(), "https://") {
		t.Fatalf("URL %s", s.URL())
	}
	h := &harness{t: t, s: s, clock: clock}
	mustStatus(t, h.post("/ccu/v3/invalidate/url", urlBody(3)), 201)
	// Signed as plain http: refused.
	r := h.post("/ccu/v3/invalidate/url", urlBody(3), before(func(r *http.Request) { r.URL.Scheme = "http" }),
		after(func(r *http.Request) { r.URL.Scheme = "https" }))
	mustStatus(t, r, 401)
	if !strings.HasPrefix(r.str(t, "instance"), "https://"+s.Credentials().Host+"/ccu/v3/") {
		t.Errorf("instance %s", r.body)
	}
}

func TestNewCredentials(t *testing.T) {
	a, b := NewCredentials(), NewCredentials()
	if !strings.HasPrefix(a.ClientToken, "akab-") || !strings.HasPrefix(a.AccessToken, "akab-") || len(a.ClientSecret) != 44 ||
		a.MaxBody != 131072 || a.Host != "" || a == b {
		t.Errorf("%#v", a)
	}
	s := NewServer(Options{Credentials: a})
	defer s.Close()
	if c := s.Credentials(); c.ClientSecret != a.ClientSecret || c.Host == "" || !strings.HasPrefix(s.URL(), "http://"+c.Host) {
		t.Errorf("server credentials %#v for %s", c, s.URL())
	}
}

func TestIncompleteCredentialsPanic(t *testing.T) {
	defer func() {
		if recover() == nil {
			t.Error("no panic")
		}
	}()
	New(Options{Credentials: edgegrid.Credentials{ClientToken: "akab-x"}})
}

// TestHandlerOnly mounts the server's handler under httptest.NewRecorder.
func TestHandlerOnly(t *testing.T) {
	cred := NewCredentials()
	cred.Host = "akab-test.purge.akamaiapis.net"
	s := New(Options{Credentials: cred})
	defer s.Close()
	if s.URL() != "" || s.Credentials() != cred {
		t.Errorf("URL %q, credentials %#v", s.URL(), s.Credentials())
	}
	payload := urlBody(2)
	req := httptest.NewRequest(http.MethodPost, "https://"+cred.Host+"/ccu/v3/delete/url/staging", bytes.NewReader(payload))
	req.Header.Set("Content-Type", "application/json")
	signer := edgegrid.Signer{Credentials: cred}
	if err := signer.Sign(req); err != nil {
		t.Fatal(err)
	}
	req.Body = io.NopCloser(bytes.NewReader(payload))
	w := httptest.NewRecorder()
	s.ServeHTTP(w, req)
	if w.Code != 201 {
		t.Fatalf("%d %s", w.Code, w.Body)
	}
	if p := s.Purges()[0]; p.Action != akamai.ActionDelete || p.Network != akamai.NetworkStaging {
		t.Errorf("%+v", p)
	}
}

func TestLogger(t *testing.T) {
	var buf testlog.Buffer
	h := newHarness(t, Options{Logger: slog.New(slog.NewTextHandler(&buf, nil))})
	mustStatus(t, h.post("/ccu/v3/invalidate/url", urlBody(1)), 201)
	out := buf.String()
	if !strings.Contains(out, "status=201") || !strings.Contains(out, "purgeId=edup-") ||
		strings.Contains(out, h.s.Credentials().ClientSecret) || strings.Contains(out, h.s.Credentials().ClientToken) {
		t.Errorf("log %q", out)
	}
}

func TestUnauthenticatedAccountsNotCreated(t *testing.T) {
	h := newHarness(t, Options{})
	for i := range 20 {
		mustStatus(t, h.post(fmt.Sprintf("/ccu/v3/invalidate/url?accountSwitchKey=K-%d", i), urlBody(1), unsigned()), 401)
	}
	mustStatus(t, h.post("/ccu/v3/invalidate/url?accountSwitchKey=K-real", urlBody(1)), 201)
	h.s.acctMu.RLock()
	n := len(h.s.accounts)
	h.s.acctMu.RUnlock()
	if n != 1 {
		t.Errorf("%d accounts created", n)
	}
}

// TestMaxRecordBytes purges 10 MB of long URLs through a server whose
// records may hold 1 MiB: the records keep the latest purges within the
// bound, the stats count every one, and the heap does not keep the rest.
func TestMaxRecordBytes(t *testing.T) {
	const limit = 1 << 20
	h := newHarness(t, Options{MaxRecords: 10000, MaxRecordBytes: limit, Buckets: BucketConfig{Disabled: true}})
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	const purges, perPurge = 500, 20
	for i := range purges {
		urls := make([]string, perPurge)
		for j := range urls {
			urls[j] = fmt.Sprintf("https://a.example/%d/%d/%s", i, j, strings.Repeat("x", 1000))
		}
		mustStatus(t, h.post("/ccu/v3/invalidate/url", body(akamai.TypeURL, urls)), 201)
	}
	runtime.GC()
	runtime.ReadMemStats(&after)
	ps := h.s.Purges()
	kept := 0
	for _, p := range ps {
		kept += purgeSize(p)
	}
	if kept > limit || len(ps) == 0 || !strings.HasPrefix(ps[len(ps)-1].Objects[0], fmt.Sprintf("https://a.example/%d/0/", purges-1)) {
		t.Errorf("%d purge records of %d bytes kept (limit %d), the last %v", len(ps), kept, limit, ps[len(ps)-1].Objects[:1])
	}
	if len(ps) < limit/(perPurge*1100)/2 {
		t.Errorf("only %d purge records kept within %d bytes", len(ps), limit)
	}
	if st := h.s.Stats(); st.Purges != purges || st.Objects[akamai.TypeURL] != purges*perPurge {
		t.Errorf("stats %+v, want every purge counted", st)
	}
	// 10 MB of objects went through; the records may hold 1 MiB of them.
	if grown := int64(after.HeapAlloc) - int64(before.HeapAlloc); grown > 4*limit {
		t.Errorf("heap grew by %d bytes, records bounded to %d", grown, limit)
	}
}
