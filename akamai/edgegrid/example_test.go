package edgegrid_test

import (
	"errors"
	"fmt"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/purgebus/purgebus/akamai/edgegrid"
)

// mapEnv returns a LookupEnv reading m instead of the process environment.
func mapEnv(m map[string]string) func(string) (string, bool) {
	return func(k string) (string, bool) {
		v, ok := m[k]
		return v, ok
	}
}

// Load reads the [ccu] section of an .edgerc file; the environment
// overrides it field by field, AKAMAI_CCU_* before AKAMAI_*.
func ExampleLoad() {
	dir, err := os.MkdirTemp("", "edgerc")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)
	path := filepath.Join(dir, ".edgerc")
	edgerc := `
[ccu]
host = https://akab-file.luna.akamaiapis.net/
client_token = akab-client-token-xxx-xxxxxxxxxxxxxxxx
client_secret = "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx="
access_token = akab-access-token-xxx-xxxxxxxxxxxxxxxx ; inline comment
max-body = 131072
`
	if err := os.WriteFile(path, []byte(edgerc), 0o600); err != nil {
		log.Fatal(err)
	}

	cred, err := edgegrid.Load(edgegrid.LoadOptions{
		Path: path,
		LookupEnv: mapEnv(map[string]string{
			"AKAMAI_HOST":        "akab-bare.luna.akamaiapis.net",
			"AKAMAI_CCU_HOST":    "akab-env.luna.akamaiapis.net",
			"AKAMAI_ACCOUNT_KEY": "1-ABCDE:1-FGHIJ",
		}),
	})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(cred) // secret and tokens are redacted
	// Output:
	// {Host:akab-env.luna.akamaiapis.net ClientToken:[redacted] ClientSecret:[redacted] AccessToken:[redacted] MaxBody:131072 AccountKey:1-ABCDE:1-FGHIJ}
}

// A *MissingCredentialsError names every missing field and every place
// Load looked.
func ExampleLoad_missing() {
	_, err := edgegrid.Load(edgegrid.LoadOptions{
		Path:      filepath.Join(os.TempDir(), "no-such-dir", ".edgerc"),
		LookupEnv: mapEnv(map[string]string{"AKAMAI_HOST": "akab-env.luna.akamaiapis.net"}),
	})
	var missing *edgegrid.MissingCredentialsError
	if errors.As(err, &missing) {
		fmt.Println("missing:", strings.Join(missing.Missing, ", "))
		fmt.Println("looked:", filepath.Base(missing.Looked[0])) // the full path varies
		fmt.Println("looked:", missing.Looked[1])
	}
	// Output:
	// missing: client_token, client_secret, access_token
	// looked: .edgerc [ccu] (file not found)
	// looked: environment AKAMAI_CCU_* / AKAMAI_*
}

// Sign adds the EdgeGrid Authorization header. Now and Nonce are fixed here
// only to make the output reproducible.
func ExampleSigner() {
	s := &edgegrid.Signer{
		Credentials: edgegrid.Credentials{
			Host:         "akab-xxxxxxxxxxxxxxxx-xxxxxxxxxxxxxxxx.luna.akamaiapis.net",
			ClientToken:  "akab-client-token-xxx-xxxxxxxxxxxxxxxx",
			ClientSecret: "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx=",
			AccessToken:  "akab-access-token-xxx-xxxxxxxxxxxxxxxx",
		},
		Now:   func() time.Time { return time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC) },
		Nonce: func() string { return "6f1c0a4e-3b9d-4f57-9d2e-8a6b2f0c1d3e" },
	}
	req, err := http.NewRequest(http.MethodPost,
		"https://"+s.Credentials.Host+"/ccu/v3/invalidate/url",
		strings.NewReader(`{"objects":["https://www.example.com/"]}`))
	if err != nil {
		log.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	if err := s.Sign(req); err != nil {
		log.Fatal(err)
	}
	for field := range strings.SplitSeq(req.Header.Get("Authorization"), ";") {
		fmt.Println(field)
	}
	// Output:
	// EG1-HMAC-SHA256 client_token=akab-client-token-xxx-xxxxxxxxxxxxxxxx
	// access_token=akab-access-token-xxx-xxxxxxxxxxxxxxxx
	// timestamp=20261125T12:00:00+0000
	// nonce=6f1c0a4e-3b9d-4f57-9d2e-8a6b2f0c1d3e
	// signature=QJ13vpM288Kl3ZZNncs62DPxnNhcLtjlKtTGm4bifXo=
}

// RoundTripper signs every request of an http.Client; Verify checks them
// on the receiving side, here a stand-in for Fast Purge.
func ExampleSigner_RoundTripper() {
	cred := edgegrid.Credentials{
		Host:         "akab-xxxxxxxxxxxxxxxx-xxxxxxxxxxxxxxxx.luna.akamaiapis.net",
		ClientToken:  "akab-client-token-xxx-xxxxxxxxxxxxxxxx",
		ClientSecret: "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx=",
		AccessToken:  "akab-access-token-xxx-xxxxxxxxxxxxxxxx",
		AccountKey:   "1-ABCDE:1-FGHIJ",
	}
	fake := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		if _, err := edgegrid.Verify(r, body, cred, time.Now(), time.Minute); err != nil {
			http.Error(w, err.Error(), http.StatusUnauthorized)
			return
		}
		w.WriteHeader(http.StatusCreated)
		fmt.Fprintf(w, "purged for account %s", r.URL.Query().Get("accountSwitchKey"))
	}))
	defer fake.Close()

	client := &http.Client{Transport: (&edgegrid.Signer{Credentials: cred}).RoundTripper(nil)}
	resp, err := client.Post(fake.URL+"/ccu/v3/invalidate/tag", "application/json",
		strings.NewReader(`{"objects":["black-friday"]}`))
	if err != nil {
		log.Fatal(err)
	}
	defer resp.Body.Close()
	answer, _ := io.ReadAll(resp.Body)
	fmt.Println(resp.Status, string(answer))
	// Output:
	// 201 Created purged for account 1-ABCDE:1-FGHIJ
}
