package akamaitest

import (
	"encoding/json"
	"slices"
	"strings"
	"testing"

	"github.com/purgebus/purgebus/akamai"
)

var bodySeeds = []string{
	`{"objects":["https://www.example.com/a","http://www.example.com/b?x=1&y=2"]}`,
	` { "objects" : [ "a" , "b" ] } `,
	"{\n\t\"objects\": [\r\n\"x\"]\n}\n",
	`{"objects":[]}`,
	`{"objects":[12345, 98765]}`,
	`{"objects":[0]}`,
	`{"objects":[-1]}`,
	`{"objects":[01]}`,
	`{"objects":[1.0]}`,
	`{"objects":[1e3]}`,
	`{"objects":[123456789012345678901]}`,
	`{"hostname":"www.example.com","objects":["/a","/b"]}`,
	`{"objects":["/a"],"hostname":"www.example.com"}`,
	`{"objects":["a"],"objects":["b"]}`,
	`{"Objects":["a"]}`,
	`{"objects":["a\"b"]}`,
	`{"objects":["a\u0041"]}`,
	`{"objects":["a b"]}`,
	`{"objects":["ä"]}`,
	"{\"objects\":[\"\xff\"]}",
	`{"objects":[null]}`,
	`{"objects":null}`,
	`{"objects":["a",]}`,
	`{"objects":["a"]`,
	`{"objects":["a"]}x`,
	`{"objects":"a"}`,
	`{"other":1,"objects":["a"]}`,
	`{}`,
	``,
	`[]`,
}

// FuzzParseBody checks decodeBody on arbitrary bodies: no panic; what it
// accepts is one JSON value; and a URL that plainURL lets skip
// NormalizeObject is one NormalizeObject accepts unchanged.
func FuzzParseBody(f *testing.F) {
	for _, s := range bodySeeds {
		for typ := range 3 {
			f.Add([]byte(s), uint8(typ))
		}
	}
	f.Fuzz(func(t *testing.T, body []byte, typ uint8) {
		checkBody(t, akamai.Types[int(typ)%3], body)
	})
}

func checkBody(t *testing.T, typ akamai.Type, body []byte) {
	t.Helper()
	pb, _, br := decodeBody(typ, body)
	if br != nil {
		if br.title != titleBadRequest && br.title != titleBadCPCode || br.detail == "" {
			t.Fatalf("%s %q: refused with %q %q", typ, body, br.title, br.detail)
		}
		return
	}
	if !json.Valid(body) {
		t.Fatalf("%s %q: accepted a body that is not one JSON value", typ, body)
	}
	for _, o := range pb.Objects {
		if typ == akamai.TypeURL && plainURL(o) && validateURL("", o) == nil {
			if n, err := akamai.NormalizeObject(akamai.TypeURL, o); err != nil || n != o {
				t.Fatalf("plainURL(%q) but NormalizeObject gives %q, %v", o, n, err)
			}
		}
	}
}

func TestDecodeBody(t *testing.T) {
	for _, s := range bodySeeds {
		for _, typ := range akamai.Types {
			checkBody(t, typ, []byte(s))
		}
	}
	tests := []struct {
		typ    akamai.Type
		body   string
		want   []string // nil: refused
		detail string   // substring of the refusal
	}{
		{akamai.TypeURL, bodySeeds[0], []string{"https://www.example.com/a", "http://www.example.com/b?x=1&y=2"}, ""},
		{akamai.TypeTag, bodySeeds[1], []string{"a", "b"}, ""},
		{akamai.TypeCPCode, bodySeeds[4], []string{"12345", "98765"}, ""},
		{akamai.TypeTag, `{"objects":["a\u0041"]}`, []string{"aA"}, ""},
		{akamai.TypeURL, `{"objects":["a"],"objects":["b"]}`, nil, `member "objects" appears twice`},
		{akamai.TypeURL, `{"hostname":"a.example","hostname":"b.example","objects":["/a"]}`, nil, `member "hostname" appears twice`},
		{akamai.TypeURL, `{"Objects":["a"]}`, nil, `unknown member "Objects"`},
		{akamai.TypeCPCode, `{"objects":[123456789012345678901]}`, nil, "array of integers"},
		{akamai.TypeURL, `{"objects":["a"]}x`, nil, "after the JSON object"},
		{akamai.TypeURL, `{"objects":["a"]`, nil, "Malformed JSON"},
		{akamai.TypeURL, " \n", nil, "empty body"},
	}
	for _, tt := range tests {
		pb, _, br := decodeBody(tt.typ, []byte(tt.body))
		switch {
		case tt.want == nil && br == nil:
			t.Errorf("%s %s: accepted %q", tt.typ, tt.body, pb.Objects)
		case tt.want == nil && !strings.Contains(br.detail, tt.detail):
			t.Errorf("%s %s: refused with %q, want it to say %q", tt.typ, tt.body, br.detail, tt.detail)
		case tt.want != nil && br != nil:
			t.Errorf("%s %s: refused: %s", tt.typ, tt.body, br.detail)
		case tt.want != nil && !slices.Equal(pb.Objects, tt.want):
			t.Errorf("%s %s: objects %q, want %q", tt.typ, tt.body, pb.Objects, tt.want)
		}
	}
	for _, u := range []string{"HTTP://a.example/", "https://:80/", "https:///a", "https://", "ftp://a/", "https://a.example"} {
		if plainURL(u) {
			if n, err := akamai.NormalizeObject(akamai.TypeURL, u); err != nil || n != u {
				t.Errorf("plainURL(%q) wrongly true", u)
			}
		}
	}
}
