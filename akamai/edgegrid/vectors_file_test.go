package edgegrid

import (
	"encoding/json"
	"errors"
	"io"
	"io/fs"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"
)

// vectorsFile is Akamai's test vector file as kept in the shared research
// directory next to the repository. It is not part of the repository; the
// hand-encoded table in vectors_test.go always runs.
var vectorsFile = filepath.Join("..", "..", "..", "shared", "testdata", "edgegrid-testdata.json")

type fileRequest struct {
	Method  string              `json:"method"`
	Path    string              `json:"path"`
	Data    *string             `json:"data"`
	Headers []map[string]string `json:"headers"`
}

type fileCase struct {
	TestName              string       `json:"testName"`
	Request               *fileRequest `json:"request"`
	SignedPath            string       `json:"signedPath"`
	ExpectedAuthorization string       `json:"expectedAuthorization"`
	ExpectedDataToSign    *string      `json:"expectedDataToSign"`
}

type vectorFile struct {
	TestData struct {
		BaseURL         string   `json:"base_url"`
		AccessToken     string   `json:"access_token"`
		ClientToken     string   `json:"client_token"`
		ClientSecret    string   `json:"client_secret"`
		MaxBody         int      `json:"max_body"`
		HeadersToSign   []string `json:"headers_to_sign"`
		Nonce           string   `json:"nonce"`
		Timestamp       string   `json:"timestamp"`
		JSONTestHash    string   `json:"jsontest_hash"`
		SignKeyTest     string   `json:"sign_key_test"`
		ContentHashTest string   `json:"content_hash_test"`
	} `json:"testdata"`
	TestCases []fileCase `json:"testcases"`
	Extra     struct {
		Cases []fileCase `json:"cases"`
	} `json:"extra"`
}

// TestVectorsFile walks every case of the shared vector file. It skips when
// the file is absent, except under CI (env CI set), where it fails.
func TestVectorsFile(t *testing.T) {
	raw, err := os.ReadFile(vectorsFile)
	if errors.Is(err, fs.ErrNotExist) {
		if os.Getenv("CI") != "" {
			t.Fatalf("CI is set but %s is missing", vectorsFile)
		}
		t.Skipf("%s not present", vectorsFile)
	}
	if err != nil {
		t.Fatal(err)
	}
	var vf vectorFile
	if err := json.Unmarshal(raw, &vf); err != nil {
		t.Fatal(err)
	}
	td := vf.TestData
	base, err := url.Parse(td.BaseURL)
	if err != nil {
		t.Fatal(err)
	}
	now, err := time.Parse(TimestampLayout, td.Timestamp)
	if err != nil {
		t.Fatal(err)
	}
	cred := Credentials{
		Host:         base.Host,
		ClientToken:  td.ClientToken,
		ClientSecret: td.ClientSecret,
		AccessToken:  td.AccessToken,
		MaxBody:      td.MaxBody,
	}
	signer := func(c Credentials, headers []string) *Signer {
		return &Signer{
			Credentials:   c,
			HeadersToSign: headers,
			Now:           func() time.Time { return now },
			Nonce:         func() string { return td.Nonce },
		}
	}
	if len(vf.TestCases) == 0 {
		t.Fatal("no test cases in file")
	}

	// build returns the request of c and its body.
	build := func(t *testing.T, c fileCase) (*http.Request, []byte) {
		t.Helper()
		u := *base
		var body []byte
		method := "GET"
		if c.Request != nil {
			method = c.Request.Method
			p, q, _ := strings.Cut(c.Request.Path, "?")
			u.Path, u.RawQuery = p, q
			if c.Request.Data != nil {
				body = []byte(*c.Request.Data)
			}
		} else {
			p, err := url.PathUnescape(c.SignedPath)
			if err != nil {
				t.Fatal(err)
			}
			u.Path = p
		}
		if c.SignedPath != "" && u.RequestURI() != c.SignedPath {
			t.Fatalf("request URI %q, want signedPath %q", u.RequestURI(), c.SignedPath)
		}
		var r io.Reader
		if body != nil {
			r = strings.NewReader(string(body))
		}
		req, err := http.NewRequest(method, u.String(), r)
		if err != nil {
			t.Fatal(err)
		}
		if c.Request != nil {
			for _, h := range c.Request.Headers {
				for k, v := range h {
					if strings.EqualFold(k, "Host") {
						req.Host = v
					} else {
						req.Header.Set(k, v)
					}
				}
			}
		}
		return req, body
	}
	sign := func(t *testing.T, s *Signer, req *http.Request) string {
		t.Helper()
		if err := s.Sign(req); err != nil {
			t.Fatal(err)
		}
		return req.Header.Get("Authorization")
	}

	for _, c := range vf.TestCases {
		t.Run(c.TestName, func(t *testing.T) {
			req, body := build(t, c)
			if c.ExpectedDataToSign != nil {
				if got := DataToSign(req, body, cred.MaxBody, td.HeadersToSign, ""); got != *c.ExpectedDataToSign {
					t.Errorf("DataToSign:\n got %q\nwant %q", got, *c.ExpectedDataToSign)
				}
			}
			if got := sign(t, signer(cred, td.HeadersToSign), req); got != c.ExpectedAuthorization {
				t.Errorf("Authorization:\n got %s\nwant %s", got, c.ExpectedAuthorization)
			}
		})
	}

	repeat := regexp.MustCompile(`^(\d+) x '(.)'$`)
	for _, c := range vf.Extra.Cases {
		t.Run("extra/"+c.TestName, func(t *testing.T) {
			if c.Request != nil && c.Request.Data != nil {
				if m := repeat.FindStringSubmatch(*c.Request.Data); m != nil {
					n, _ := strconv.Atoi(m[1])
					d := strings.Repeat(m[2], n)
					c.Request.Data = &d
				}
			}
			if strings.Contains(c.TestName, "WITHOUT truncation") {
				// Negative control: must differ with max_body honoured,
				// match when the whole body fits.
				req, _ := build(t, c)
				if got := sign(t, signer(cred, td.HeadersToSign), req); got == c.ExpectedAuthorization {
					t.Errorf("max_body %d not honoured", cred.MaxBody)
				}
				big := cred
				big.MaxBody = 1 << 20
				req, _ = build(t, c)
				if got := sign(t, signer(big, td.HeadersToSign), req); got != c.ExpectedAuthorization {
					t.Errorf("untruncated:\n got %s\nwant %s", got, c.ExpectedAuthorization)
				}
				return
			}
			req, _ := build(t, c)
			if got := sign(t, signer(cred, td.HeadersToSign), req); got != c.ExpectedAuthorization {
				t.Errorf("Authorization:\n got %s\nwant %s", got, c.ExpectedAuthorization)
			}
		})
	}

	t.Run("testdata/sign_key_test", func(t *testing.T) {
		if got := signingKey(td.ClientSecret, td.Timestamp); got != td.SignKeyTest {
			t.Errorf("got %s, want %s", got, td.SignKeyTest)
		}
	})
	t.Run("testdata/content_hash_test", func(t *testing.T) {
		if got := contentHash("POST", []byte("test_body"), td.MaxBody); got != td.ContentHashTest {
			t.Errorf("got %s, want %s", got, td.ContentHashTest)
		}
	})
	t.Run("testdata/jsontest_hash", func(t *testing.T) {
		u := *base
		u.Path, u.RawQuery = "/testapi/v1/t3", "extended=true"
		req, err := http.NewRequest("POST", u.String(), strings.NewReader(`{"key": "value"}`))
		if err != nil {
			t.Fatal(err)
		}
		c := cred
		c.MaxBody = DefaultMaxBody
		if got := sign(t, signer(c, nil), req); got != td.JSONTestHash {
			t.Errorf("got %s, want %s", got, td.JSONTestHash)
		}
	})
	// testdata.multipart_hash_test needs sample_file.txt from the Python
	// repository: not reproducible here.
}
