package edgegrid

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
)

// testCredentials returns credentials for a test server.
func testCredentials() Credentials {
	return Credentials{
		Host:         "akab-test.luna.akamaiapis.net",
		ClientToken:  testClientToken,
		ClientSecret: testSecret,
		AccessToken:  testAccessToken,
	}
}

// verdict names the sentinel error err wraps, for a test server's answer.
func verdict(err error) string {
	for _, s := range []struct {
		err  error
		name string
	}{
		{ErrMalformedAuthorization, "malformed"},
		{ErrTokenMismatch, "token"},
		{ErrStaleTimestamp, "stale"},
		{ErrSignatureMismatch, "signature"},
	} {
		if errors.Is(err, s.err) {
			return s.name
		}
	}
	if err != nil {
		return "other: " + err.Error()
	}
	return "ok"
}

// verifyingServer starts a server that verifies each request against cred
// and answers "<verdict> <body length> <accountSwitchKey>".
func verifyingServer(t *testing.T, cred Credentials, tls bool) *httptest.Server {
	t.Helper()
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/redirect" {
			http.Redirect(w, r, "/target?"+r.URL.RawQuery, http.StatusTemporaryRedirect)
			return
		}
		body, err := io.ReadAll(r.Body)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		_, err = Verify(r, body, cred, time.Now(), time.Minute)
		if err != nil {
			w.WriteHeader(http.StatusUnauthorized)
		}
		fmt.Fprintf(w, "%s %d %s", verdict(err), len(body), r.URL.Query().Get("accountSwitchKey"))
	})
	var srv *httptest.Server
	if tls {
		srv = httptest.NewTLSServer(h)
	} else {
		srv = httptest.NewServer(h)
	}
	t.Cleanup(srv.Close)
	return srv
}

// transportFunc adapts a function to http.RoundTripper.
type transportFunc func(*http.Request) (*http.Response, error)

func (f transportFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

// do sends req with client and returns the server's answer.
func do(t *testing.T, client *http.Client, req *http.Request) string {
	t.Helper()
	resp, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestSignVerifyRoundTrip(t *testing.T) {
	cred := testCredentials()
	body := `{"objects":["https://www.example.com/a","http://www.example.com/b?x=1&y=2"]}`
	tests := []struct {
		name   string
		method string
		path   string
		body   string
		signer func(*Signer)
		cred   func(*Credentials)  // the server's view
		tamper func(*http.Request) // after signing
		want   string
	}{
		{name: "POST", method: "POST", path: "/ccu/v3/invalidate/url", body: body, want: "ok"},
		{name: "POST to network", method: "POST", path: "/ccu/v3/delete/tag/staging", body: body, want: "ok"},
		{name: "GET with query", method: "GET", path: "/ccu/v3/x?a=1&b=%2F", want: "ok"},
		{name: "escaped path", method: "GET", path: "/a%20b/c;d", want: "ok"},
		{name: "tampered body", method: "POST", path: "/ccu/v3/invalidate/url", body: body, want: "signature",
			tamper: func(r *http.Request) {
				r.Body = io.NopCloser(strings.NewReader(strings.Replace(body, "/a", "/z", 1)))
			}},
		{name: "tampered path", method: "POST", path: "/ccu/v3/invalidate/url", body: body, want: "signature",
			tamper: func(r *http.Request) { r.URL.Path = "/ccu/v3/delete/url" }},
		{name: "tampered query", method: "GET", path: "/x?a=1", want: "signature",
			tamper: func(r *http.Request) { r.URL.RawQuery = "a=2" }},
		{name: "tampered method", method: "POST", path: "/x", body: body, want: "signature",
			tamper: func(r *http.Request) { r.Method = "PUT" }},
		{name: "stale timestamp", method: "POST", path: "/x", body: body, want: "stale",
			signer: func(s *Signer) { s.Now = func() time.Time { return time.Now().Add(-2 * time.Minute) } }},
		{name: "future timestamp", method: "POST", path: "/x", body: body, want: "stale",
			signer: func(s *Signer) { s.Now = func() time.Time { return time.Now().Add(2 * time.Minute) } }},
		{name: "wrong secret", method: "POST", path: "/x", body: body, want: "signature",
			cred: func(c *Credentials) { c.ClientSecret = "other" + c.ClientSecret }},
		{name: "wrong access token", method: "GET", path: "/x", want: "token",
			cred: func(c *Credentials) { c.AccessToken += "x" }},
		{name: "missing authorization", method: "GET", path: "/x", want: "malformed",
			tamper: func(r *http.Request) { r.Header.Del("Authorization") }},
	}
	for _, tls := range []bool{false, true} {
		for _, tt := range tests {
			t.Run(fmt.Sprintf("%s/tls=%t", tt.name, tls), func(t *testing.T) {
				serverCred := cred
				if tt.cred != nil {
					tt.cred(&serverCred)
				}
				srv := verifyingServer(t, serverCred, tls)
				s := &Signer{Credentials: cred}
				if tt.signer != nil {
					tt.signer(s)
				}
				next := srv.Client().Transport
				if tt.tamper != nil {
					inner := next
					next = transportFunc(func(r *http.Request) (*http.Response, error) {
						tt.tamper(r)
						return inner.RoundTrip(r)
					})
				}
				client := &http.Client{Transport: s.RoundTripper(next)}
				var rb io.Reader
				if tt.body != "" {
					rb = strings.NewReader(tt.body)
				}
				req, err := http.NewRequest(tt.method, srv.URL+tt.path, rb)
				if err != nil {
					t.Fatal(err)
				}
				got, _, _ := strings.Cut(do(t, client, req), " ")
				if got != tt.want {
					t.Errorf("server says %q, want %q", got, tt.want)
				}
			})
		}
	}
}

func TestSignAccountSwitchKey(t *testing.T) {
	cred := testCredentials()
	cred.AccountKey = "1-ABC:1-DEF GH"
	srv := verifyingServer(t, cred, false)
	client := &http.Client{Transport: (&Signer{Credentials: cred}).RoundTripper(srv.Client().Transport)}

	for _, tt := range []struct {
		name, query, wantRaw, wantKey string
	}{
		{"no query", "", "accountSwitchKey=1-ABC%3A1-DEF+GH", "1-ABC:1-DEF GH"},
		{"other query", "a=1", "a=1&accountSwitchKey=1-ABC%3A1-DEF+GH", "1-ABC:1-DEF GH"},
		{"explicit key kept", "accountSwitchKey=OTHER", "accountSwitchKey=OTHER", "OTHER"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			req, _ := http.NewRequest("POST", srv.URL+"/ccu/v3/invalidate/url?"+tt.query, strings.NewReader(`{"objects":[1]}`))
			direct := req.Clone(req.Context())
			if err := (&Signer{Credentials: cred}).Sign(direct); err != nil {
				t.Fatal(err)
			}
			if direct.URL.RawQuery != tt.wantRaw {
				t.Errorf("RawQuery = %q, want %q", direct.URL.RawQuery, tt.wantRaw)
			}
			if got, want := do(t, client, req), "ok 15 "+tt.wantKey; got != want {
				t.Errorf("server says %q, want %q", got, want)
			}
			if req.URL.RawQuery != tt.query {
				t.Errorf("RoundTripper modified the caller's query: %q", req.URL.RawQuery)
			}
		})
	}

	t.Run("key is signed", func(t *testing.T) {
		next := transportFunc(func(r *http.Request) (*http.Response, error) {
			r.URL.RawQuery = strings.Replace(r.URL.RawQuery, "1-ABC", "1-XYZ", 1)
			return srv.Client().Transport.RoundTrip(r)
		})
		c := &http.Client{Transport: (&Signer{Credentials: cred}).RoundTripper(next)}
		req, _ := http.NewRequest("POST", srv.URL+"/x", strings.NewReader("{}"))
		if got, _, _ := strings.Cut(do(t, c, req), " "); got != "signature" {
			t.Errorf("server says %q, want signature", got)
		}
	})
}

// onlyReader hides every method but Read, so http.NewRequest sets no
// GetBody and no ContentLength.
type onlyReader struct{ r io.Reader }

func (o onlyReader) Read(p []byte) (int, error) { return o.r.Read(p) }

func TestSignBodyStillReadable(t *testing.T) {
	cred := testCredentials()
	cred.MaxBody = 1024
	srv := verifyingServer(t, cred, false)
	s := &Signer{Credentials: cred}
	for _, size := range []int{0, 10, 1024, 200_000} {
		body := bytes.Repeat([]byte("x"), size)
		for _, tt := range []struct {
			name   string
			newReq func() *http.Request
		}{
			{"bytes.Reader with GetBody", func() *http.Request {
				req, _ := http.NewRequest("POST", srv.URL+"/echo", bytes.NewReader(body))
				return req
			}},
			{"plain reader without GetBody", func() *http.Request {
				req, _ := http.NewRequest("POST", srv.URL+"/echo", onlyReader{bytes.NewReader(body)})
				return req
			}},
			{"GetBody without WriterTo", func() *http.Request {
				req, _ := http.NewRequest("POST", srv.URL+"/echo", onlyReader{bytes.NewReader(body)})
				req.ContentLength = int64(size)
				req.GetBody = func() (io.ReadCloser, error) {
					return io.NopCloser(onlyReader{bytes.NewReader(body)}), nil
				}
				return req
			}},
		} {
			want := "ok " + strconv.Itoa(size) + " "
			t.Run(fmt.Sprintf("%s/%d/Sign", tt.name, size), func(t *testing.T) {
				req := tt.newReq()
				if err := s.Sign(req); err != nil {
					t.Fatal(err)
				}
				if req.GetBody == nil && size > 0 {
					t.Error("GetBody not set")
				}
				if got := do(t, srv.Client(), req); got != want {
					t.Errorf("server says %q, want %q", got, want)
				}
			})
			t.Run(fmt.Sprintf("%s/%d/RoundTripper", tt.name, size), func(t *testing.T) {
				client := &http.Client{Transport: s.RoundTripper(srv.Client().Transport)}
				if got := do(t, client, tt.newReq()); got != want {
					t.Errorf("server says %q, want %q", got, want)
				}
			})
		}
	}
}

func TestRoundTripper(t *testing.T) {
	cred := testCredentials()
	cred.AccountKey = "K"
	srv := verifyingServer(t, cred, false)
	s := &Signer{Credentials: cred}
	client := &http.Client{Transport: s.RoundTripper(srv.Client().Transport)}

	t.Run("caller's request untouched", func(t *testing.T) {
		req, _ := http.NewRequest("POST", srv.URL+"/x?a=1", strings.NewReader("{}"))
		if got := do(t, client, req); got != "ok 2 K" {
			t.Errorf("server says %q", got)
		}
		if req.Header.Get("Authorization") != "" || req.URL.RawQuery != "a=1" {
			t.Errorf("request modified: %v %q", req.Header, req.URL.RawQuery)
		}
	})
	t.Run("redirect re-signed", func(t *testing.T) {
		req, _ := http.NewRequest("POST", srv.URL+"/redirect", strings.NewReader("{}"))
		if got := do(t, client, req); got != "ok 2 K" {
			t.Errorf("server says %q", got)
		}
	})
	t.Run("sign error closes body", func(t *testing.T) {
		bad := &Signer{}
		var closed bool
		body := closeRecorder{Reader: strings.NewReader("{}"), closed: &closed}
		req, _ := http.NewRequest("POST", srv.URL+"/x", body)
		_, err := (&http.Client{Transport: bad.RoundTripper(nil)}).Do(req)
		var me *MissingCredentialsError
		if !errors.As(err, &me) {
			t.Errorf("err = %v, want *MissingCredentialsError", err)
		}
		if !closed {
			t.Error("body not closed")
		}
	})
	t.Run("signer copied", func(t *testing.T) {
		s2 := &Signer{Credentials: cred}
		rt := s2.RoundTripper(srv.Client().Transport)
		s2.Credentials.ClientSecret = "changed"
		req, _ := http.NewRequest("GET", srv.URL+"/x", nil)
		if got := do(t, &http.Client{Transport: rt}, req); got != "ok 0 K" {
			t.Errorf("server says %q", got)
		}
	})
}

// closeRecorder records Close.
type closeRecorder struct {
	io.Reader
	closed *bool
}

func (c closeRecorder) Close() error { *c.closed = true; return nil }

func TestSignDetails(t *testing.T) {
	t.Run("default nonce is a fresh UUID v4", func(t *testing.T) {
		s := &Signer{Credentials: testCredentials()}
		seen := map[string]bool{}
		for range 3 {
			req := httptest.NewRequest("GET", "https://h/x", nil)
			req.RequestURI = ""
			if err := s.Sign(req); err != nil {
				t.Fatal(err)
			}
			a, err := ParseAuthorization(req.Header.Get("Authorization"))
			if err != nil {
				t.Fatal(err)
			}
			id, err := uuid.Parse(a.Nonce)
			if err != nil || id.Version() != 4 {
				t.Errorf("nonce %q is not a UUID v4: %v", a.Nonce, err)
			}
			if seen[a.Nonce] {
				t.Errorf("nonce %q repeated", a.Nonce)
			}
			seen[a.Nonce] = true
		}
	})
	t.Run("only POST bodies are read", func(t *testing.T) {
		body := io.NopCloser(strings.NewReader("PPP"))
		req, _ := http.NewRequest("PUT", "https://h/x", body)
		if err := (&Signer{Credentials: testCredentials()}).Sign(req); err != nil {
			t.Fatal(err)
		}
		if req.Body != body {
			t.Error("PUT body replaced")
		}
	})
	t.Run("body read error", func(t *testing.T) {
		boom := errors.New("boom")
		req, _ := http.NewRequest("POST", "https://h/x", onlyReader{io.MultiReader(strings.NewReader("x"), errReader{boom})})
		if err := (&Signer{Credentials: testCredentials()}).Sign(req); !errors.Is(err, boom) {
			t.Errorf("err = %v, want boom", err)
		}
	})
	t.Run("incomplete credentials", func(t *testing.T) {
		req, _ := http.NewRequest("GET", "https://h/x", nil)
		var me *MissingCredentialsError
		if err := (&Signer{}).Sign(req); !errors.As(err, &me) || len(me.Missing) != 4 {
			t.Errorf("err = %v", err)
		}
	})
}

// errReader always fails.
type errReader struct{ err error }

func (e errReader) Read([]byte) (int, error) { return 0, e.err }
