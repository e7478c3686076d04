package akamaitest

import (
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"testing"

	"github.com/purgebus/purgebus/akamai"
)

// examplesDir holds Akamai's example responses, in the shared folder beside
// the repository (never copied into it).
var examplesDir = filepath.Join("..", "..", "..", "shared", "testdata", "ccu-v3", "examples")

// shape maps each member of a JSON object to its JSON type.
func shape(t *testing.T, b []byte) map[string]string {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatalf("%s: %v", b, err)
	}
	out := make(map[string]string, len(m))
	for k, v := range m {
		out[k] = reflect.TypeOf(v).String()
	}
	return out
}

// TestResponseShapesMatchAkamaiExamples checks that each answer has exactly
// the members, with the same JSON types, as Akamai's example of it.
func TestResponseShapesMatchAkamaiExamples(t *testing.T) {
	if _, err := os.Stat(examplesDir); err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("Akamai's examples are missing: %v", err)
		}
		t.Skipf("Akamai's examples are missing: %v", err)
	}
	h := newHarness(t, Options{})
	answers := map[string]func() *response{
		"201.json": func() *response { return h.post("/ccu/v3/invalidate/url", urlBody(2)) },
		"403.json": func() *response {
			h.s.Unauthorized("http://fpj-test.bad-ideas2.org/")
			return h.post("/ccu/v3/invalidate/url", body(akamai.TypeURL, []string{"http://fpj-test.bad-ideas2.org/"}))
		},
		"500.json": func() *response {
			h.s.FailNext(1, 500)
			return h.post("/ccu/v3/invalidate/url", urlBody(2))
		},
		"request_429.json": func() *response {
			h.s.Reset()
			h.s.SpendTokens(100, 0, 0, 0)
			return h.post("/ccu/v3/invalidate/url", urlBody(2))
		},
		"url-429.json": func() *response {
			h.s.Reset()
			h.s.SpendTokens(0, 10000-94, 0, 0)
			return h.post("/ccu/v3/invalidate/url", urlBody(110))
		},
		"cpcode-429.json": func() *response {
			h.s.Reset()
			h.s.SpendTokens(0, 0, 299, 0)
			return h.post("/ccu/v3/invalidate/cpcode", body(akamai.TypeCPCode, cpcodes(5)))
		},
		"tag-429.json": func() *response {
			h.s.Reset()
			h.s.SpendTokens(0, 0, 0, 5000-34)
			return h.post("/ccu/v3/invalidate/tag", body(akamai.TypeTag, tags(45)))
		},
	}
	for name, answer := range answers {
		t.Run(name, func(t *testing.T) {
			want, err := os.ReadFile(filepath.Join(examplesDir, name))
			if err != nil {
				t.Fatal(err)
			}
			r := answer()
			var example struct {
				HTTPStatus int `json:"httpStatus"`
				Title      string
				RateLimit  *int `json:"rateLimit"`
				Size       *int `json:"rateLimitCurrentRequestSize"`
				Remaining  *int `json:"rateLimitRemaining"`
			}
			if err := json.Unmarshal(want, &example); err != nil {
				t.Fatal(err)
			}
			mustStatus(t, r, example.HTTPStatus)
			if got, want := shape(t, r.body), shape(t, want); !reflect.DeepEqual(got, want) {
				t.Errorf("shape %v, Akamai's %v", got, want)
			}
			if example.Title != "" && r.str(t, "title") != example.Title {
				t.Errorf("title %q, Akamai's %q", r.str(t, "title"), example.Title)
			}
			if example.RateLimit != nil && (r.num(t, "rateLimit") != *example.RateLimit ||
				r.num(t, "rateLimitCurrentRequestSize") != *example.Size || r.num(t, "rateLimitRemaining") != *example.Remaining) {
				t.Errorf("429 numbers %s, Akamai's %s", r.body, want)
			}
		})
	}
}
