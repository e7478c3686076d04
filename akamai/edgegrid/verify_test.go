package edgegrid

import (
	"crypto/tls"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

func TestParseAuthorization(t *testing.T) {
	const valid = "EG1-HMAC-SHA256 client_token=ct;access_token=at;timestamp=20140321T19:34:21+0000;nonce=n-1;signature=c2ln=="
	a, err := ParseAuthorization(valid)
	if err != nil {
		t.Fatal(err)
	}
	want := Authorization{ClientToken: "ct", AccessToken: "at", Timestamp: "20140321T19:34:21+0000", Nonce: "n-1", Signature: "c2ln=="}
	if a != want {
		t.Errorf("got %#v, want %#v", a, want)
	}
	if a.header() != valid {
		t.Errorf("header() = %q", a.header())
	}
	for _, bad := range []string{
		"",
		"Bearer x",
		"EG1-HMAC-SHA256",
		"EG1-HMAC-SHA256 client_token=ct;access_token=at;timestamp=t;nonce=n",
		"EG1-HMAC-SHA256 client_token=ct;access_token=at;timestamp=t;nonce=n;signature=",
		"EG1-HMAC-SHA256 client_token=ct;access_token=at;timestamp=t;nonce=n;signature=s;extra=1",
		"EG1-HMAC-SHA256 client_token=ct;client_token=ct;access_token=at;timestamp=t;nonce=n;signature=s",
		"EG1-HMAC-SHA256 client_token=ct;access_token;timestamp=t;nonce=n;signature=s",
		"eg1-hmac-sha256 client_token=ct;access_token=at;timestamp=t;nonce=n;signature=s",
	} {
		if _, err := ParseAuthorization(bad); !errors.Is(err, ErrMalformedAuthorization) {
			t.Errorf("ParseAuthorization(%q) = %v, want ErrMalformedAuthorization", bad, err)
		}
	}
}

func TestVerify(t *testing.T) {
	cred := testCredentials()
	cred.MaxBody = 16
	signedAt := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	const body = `{"objects":["https://www.example.com/a"]}`
	const target = "https://akab-test.luna.akamaiapis.net/ccu/v3/invalidate/url?accountSwitchKey=K"

	// sign returns the Authorization header for a client request.
	sign := func(t *testing.T, method, target string) string {
		t.Helper()
		req, err := http.NewRequest(method, target, strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		s := &Signer{Credentials: cred, Now: func() time.Time { return signedAt }, Nonce: func() string { return "nonce-1" }}
		if err := s.Sign(req); err != nil {
			t.Fatal(err)
		}
		return req.Header.Get("Authorization")
	}
	header := sign(t, "POST", target)

	tests := []struct {
		name    string
		method  string
		target  string
		header  string
		body    string
		plain   bool // received without TLS
		cred    func(*Credentials)
		now     time.Time
		maxSkew time.Duration
		want    error
	}{
		{name: "valid"},
		{name: "body beyond max_body is not covered", body: body[:16] + "tampered"},
		{name: "within skew", now: signedAt.Add(29 * time.Second), maxSkew: 30 * time.Second},
		{name: "within default skew", now: signedAt.Add(-59 * time.Second), maxSkew: 0},
		{name: "beyond default skew", now: signedAt.Add(61 * time.Second), maxSkew: -1, want: ErrStaleTimestamp},
		{name: "stale", now: signedAt.Add(31 * time.Second), maxSkew: 30 * time.Second, want: ErrStaleTimestamp},
		{name: "from the future", now: signedAt.Add(-31 * time.Second), maxSkew: 30 * time.Second, want: ErrStaleTimestamp},
		{name: "no header", header: "-", want: ErrMalformedAuthorization},
		{name: "other scheme", header: "Basic eDp5", want: ErrMalformedAuthorization},
		{name: "bad timestamp", header: strings.Replace(header, "timestamp=20260102T03:04:05+0000", "timestamp=2026-01-02T03:04:05Z", 1), want: ErrMalformedAuthorization},
		{name: "tampered body", body: `{"OBJECTS":["https://www.example.com/a"]}`, want: ErrSignatureMismatch},
		{name: "tampered query", target: strings.Replace(target, "=K", "=L", 1), want: ErrSignatureMismatch},
		{name: "tampered path", target: strings.Replace(target, "invalidate", "delete", 1), want: ErrSignatureMismatch},
		{name: "tampered host", target: strings.Replace(target, "akab-test", "akab-else", 1), want: ErrSignatureMismatch},
		{name: "tampered method", method: "PUT", want: ErrSignatureMismatch},
		{name: "plain http", plain: true, want: ErrSignatureMismatch},
		{name: "tampered nonce", header: strings.Replace(header, "nonce-1", "nonce-2", 1), want: ErrSignatureMismatch},
		{name: "tampered signature", header: header[:len(header)-3] + "AA=", want: ErrSignatureMismatch},
		{name: "wrong secret", cred: func(c *Credentials) { c.ClientSecret += "x" }, want: ErrSignatureMismatch},
		{name: "wrong client token", cred: func(c *Credentials) { c.ClientToken += "x" }, want: ErrTokenMismatch},
		{name: "wrong access token", cred: func(c *Credentials) { c.AccessToken = "akab-other" }, want: ErrTokenMismatch},
		{name: "max body differs", cred: func(c *Credentials) { c.MaxBody = 0 }, want: ErrSignatureMismatch},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			method, tgt, h, b := "POST", target, header, body
			if tt.method != "" {
				method = tt.method
			}
			if tt.target != "" {
				tgt = tt.target
			}
			if tt.header != "" {
				h = tt.header
			}
			if tt.body != "" {
				b = tt.body
			}
			r := httptest.NewRequest(method, tgt, strings.NewReader(b))
			if h != "-" {
				r.Header.Set("Authorization", h)
			}
			if tt.plain {
				r.TLS = nil
			} else if r.TLS == nil {
				r.TLS = &tls.ConnectionState{}
			}
			c := cred
			if tt.cred != nil {
				tt.cred(&c)
			}
			now := signedAt
			if !tt.now.IsZero() {
				now = tt.now
			}
			maxSkew := tt.maxSkew
			if maxSkew == 0 && tt.now.IsZero() {
				maxSkew = time.Second
			}
			a, err := Verify(r, []byte(b), c, now, maxSkew)
			if tt.want == nil {
				if err != nil {
					t.Fatalf("Verify: %v", err)
				}
			} else if !errors.Is(err, tt.want) {
				t.Fatalf("Verify = %v, want %v", err, tt.want)
			}
			if h != "-" && strings.HasPrefix(h, "EG1") && tt.name != "bad timestamp" && a.Nonce == "" {
				t.Error("parsed Authorization not returned")
			}
		})
	}

	t.Run("incomplete credentials", func(t *testing.T) {
		r := httptest.NewRequest("POST", target, nil)
		r.Header.Set("Authorization", header)
		c := cred
		c.ClientSecret = ""
		c.Host = ""
		var me *MissingCredentialsError
		if _, err := Verify(r, []byte(body), c, signedAt, time.Second); !errors.As(err, &me) || len(me.Missing) != 1 {
			t.Errorf("Verify = %v, want *MissingCredentialsError for client_secret only", err)
		}
	})
}

func TestOriginForm(t *testing.T) {
	for in, want := range map[string]string{
		"/a?b=https://c":    "/a?b=https://c",
		"https://h/a%20b?q": "/a%20b?q",
		"http://h:80?q=1":   "/?q=1",
		"https://h":         "/",
		"*":                 "*",
	} {
		if got := originForm(in); got != want {
			t.Errorf("originForm(%q) = %q, want %q", in, got, want)
		}
	}
}
