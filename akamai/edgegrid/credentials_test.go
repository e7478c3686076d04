package edgegrid

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

func TestCredentialsValidate(t *testing.T) {
	full := Credentials{Host: "h", ClientToken: "ct", ClientSecret: "cs", AccessToken: "at"}
	if err := full.Validate(); err != nil {
		t.Fatalf("Validate(full) = %v", err)
	}
	tests := []struct {
		name string
		c    Credentials
		want []string
	}{
		{"empty", Credentials{}, []string{"host", "client_token", "client_secret", "access_token"}},
		{"blank secret", Credentials{Host: "h", ClientToken: "ct", ClientSecret: " ", AccessToken: "at"}, []string{"client_secret"}},
		{"no host, no access token", Credentials{ClientToken: "ct", ClientSecret: "cs"}, []string{"host", "access_token"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var me *MissingCredentialsError
			if err := tt.c.Validate(); !errors.As(err, &me) || !slices.Equal(me.Missing, tt.want) {
				t.Errorf("Validate() = %v, want missing %q", err, tt.want)
			}
		})
	}
	neg := full
	neg.MaxBody = -1
	var ie *InvalidValueError
	if err := neg.Validate(); !errors.As(err, &ie) {
		t.Errorf("Validate(MaxBody -1) = %v, want *InvalidValueError", err)
	}
}

// TestNoCredentialLeaks formats Credentials, Authorization, Signer and every
// error this package produces in every way a program might log them, and
// checks that the secret and tokens never appear.
func TestNoCredentialLeaks(t *testing.T) {
	cred := Credentials{
		Host:         "akab-host.luna.akamaiapis.net",
		ClientToken:  testClientToken,
		ClientSecret: testSecret,
		AccessToken:  testAccessToken,
		MaxBody:      4096,
		AccountKey:   "1-ACC:1-KEY",
	}
	secrets := []string{testSecret, testClientToken, testAccessToken, "SECRET", "CLIENTTOKEN", "ACCESSTOKEN"}

	signer := &Signer{Credentials: cred}
	req := httptest.NewRequest("POST", "https://akab-host.luna.akamaiapis.net/ccu/v3/invalidate/url", strings.NewReader(`{"objects":[]}`))
	req.RequestURI = ""
	if err := signer.Sign(req); err != nil {
		t.Fatal(err)
	}
	auth, err := ParseAuthorization(req.Header.Get("Authorization"))
	if err != nil {
		t.Fatal(err)
	}

	values := map[string]any{
		"Credentials":   cred,
		"*Credentials":  &cred,
		"Authorization": auth,
		"Signer":        signer,
		"struct":        struct{ C Credentials }{cred},
		"struct auth":   struct{ A *Authorization }{&auth},
	}
	// Errors, each produced for real.
	errs := map[string]error{}
	_, errs["Load missing"] = Load(LoadOptions{
		Path:      filepath.Join(t.TempDir(), "missing"),
		LookupEnv: envMap(map[string]string{"AKAMAI_CLIENT_SECRET": testSecret, "AKAMAI_CCU_CLIENT_TOKEN": testClientToken}),
	})
	_, errs["Load bad max body"] = Load(LoadOptions{
		Path:      writeEdgerc(t, "[ccu]\n"+fullSection+"max_body = "+testSecret+"\n"),
		LookupEnv: envMap(nil),
	})
	_, errs["Load bad env max body"] = Load(LoadOptions{
		Path:      writeEdgerc(t, "[ccu]\n"+fullSection),
		LookupEnv: envMap(map[string]string{"AKAMAI_MAX_BODY": testSecret}),
	})
	_, errs["Load malformed"] = Load(LoadOptions{
		Path:      writeEdgerc(t, "[ccu]\n"+fullSection+testClientToken+"\n"+testSecret+" \"x\n"),
		LookupEnv: envMap(nil),
	})
	_, errs["Load malformed quote"] = Load(LoadOptions{
		Path:      writeEdgerc(t, "[ccu]\nclient_secret = \""+testSecret+"\n"),
		LookupEnv: envMap(nil),
	})
	_, errs["Load pasted secret"] = Load(LoadOptions{
		Path:      writeEdgerc(t, testSecret+"\n"),
		LookupEnv: envMap(nil),
	})
	incomplete := cred
	incomplete.AccessToken = ""
	errs["Validate"] = incomplete.Validate()
	errs["Sign incomplete"] = (&Signer{Credentials: incomplete}).Sign(httptest.NewRequest("GET", "/", nil))
	_, errs["ParseAuthorization"] = ParseAuthorization("EG1-HMAC-SHA256 " + testClientToken + ";" + testSecret + "=x")
	verify := func(mutate func(r *http.Request), c Credentials, now time.Time) error {
		r := httptest.NewRequest("POST", "https://akab-host.luna.akamaiapis.net/ccu/v3/invalidate/url", nil)
		r.Header.Set("Authorization", req.Header.Get("Authorization"))
		mutate(r)
		_, err := Verify(r, []byte(`{"objects":[]}`), c, now, time.Minute)
		return err
	}
	other := cred
	other.ClientToken += "x"
	errs["Verify token"] = verify(func(*http.Request) {}, other, time.Now())
	errs["Verify stale"] = verify(func(*http.Request) {}, cred, time.Now().Add(time.Hour))
	errs["Verify signature"] = verify(func(r *http.Request) { r.Method = "PUT" }, cred, time.Now())
	errs["Verify malformed"] = verify(func(r *http.Request) {
		r.Header.Set("Authorization", strings.Replace(r.Header.Get("Authorization"), "nonce=", "nonsense=", 1))
	}, cred, time.Now())
	errs["Verify incomplete"] = verify(func(*http.Request) {}, incomplete, time.Now())
	for name, err := range errs {
		if err == nil {
			t.Errorf("%s: no error", name)
			continue
		}
		values["error "+name] = err
	}

	for name, v := range values {
		var outs []string
		for _, verb := range []string{"%v", "%+v", "%#v", "%s", "%q"} {
			outs = append(outs, fmt.Sprintf(verb, v))
		}
		for _, newHandler := range []func(*bytes.Buffer) slog.Handler{
			func(b *bytes.Buffer) slog.Handler { return slog.NewJSONHandler(b, nil) },
			func(b *bytes.Buffer) slog.Handler { return slog.NewTextHandler(b, nil) },
		} {
			var buf bytes.Buffer
			slog.New(newHandler(&buf)).Info("msg", "value", v)
			outs = append(outs, buf.String())
		}
		if j, err := json.Marshal(v); err == nil {
			outs = append(outs, string(j))
		}
		for _, out := range outs {
			for _, s := range secrets {
				if strings.Contains(out, s) {
					t.Errorf("%s: output contains %q: %s", name, s, out)
				}
			}
		}
		if strings.HasPrefix(name, "Credentials") && !strings.Contains(outs[0], cred.Host) {
			t.Errorf("%s: host not shown: %s", name, outs[0])
		}
	}
}
