package akamaitest

import (
	"slices"
	"testing"

	"github.com/purgebus/purgebus/akamai"
)

var fastParseSeeds = []string{
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

// FuzzParseBody checks that whenever the fast parser accepts a body, it
// decodes it exactly as encoding/json does, and that a URL it lets skip
// NormalizeObject is one NormalizeObject accepts unchanged.
func FuzzParseBody(f *testing.F) {
	for _, s := range fastParseSeeds {
		for typ := range 3 {
			f.Add([]byte(s), uint8(typ))
		}
	}
	f.Fuzz(func(t *testing.T, body []byte, typ uint8) {
		checkFastParse(t, akamai.Types[int(typ)%3], body)
	})
}

func checkFastParse(t *testing.T, typ akamai.Type, body []byte) {
	t.Helper()
	fast, fastHost, ok := parseFast(typ, body)
	if !ok {
		return
	}
	slow, slowHost, br := parseSlow(typ, body)
	if br != nil {
		t.Fatalf("%s %q: fast parse accepted %q, encoding/json refused: %s", typ, body, fast.Objects, br.detail)
	}
	if !slices.Equal(fast.Objects, slow.Objects) || fast.Hostname != slow.Hostname || fastHost != slowHost ||
		(fast.Objects == nil) != (slow.Objects == nil) {
		t.Fatalf("%s %q: fast %q %q %v, encoding/json %q %q %v", typ, body, fast.Objects, fast.Hostname, fastHost,
			slow.Objects, slow.Hostname, slowHost)
	}
	for _, o := range fast.Objects {
		if typ == akamai.TypeURL && plainURL(o) {
			if n, err := akamai.NormalizeObject(akamai.TypeURL, o); err != nil || n != o {
				t.Fatalf("plainURL(%q) but NormalizeObject gives %q, %v", o, n, err)
			}
		}
	}
}

func TestFastParseSeeds(t *testing.T) {
	accepted := 0
	for _, s := range fastParseSeeds {
		for _, typ := range akamai.Types {
			checkFastParse(t, typ, []byte(s))
			if _, _, ok := parseFast(typ, []byte(s)); ok {
				accepted++
			}
		}
	}
	// The common forms must take the fast path.
	for _, c := range []struct {
		typ  akamai.Type
		body string
	}{
		{akamai.TypeURL, fastParseSeeds[0]},
		{akamai.TypeURL, fastParseSeeds[11]},
		{akamai.TypeTag, fastParseSeeds[1]},
		{akamai.TypeCPCode, fastParseSeeds[4]},
		{akamai.TypeURL, string(urlBody(200))},
	} {
		if _, _, ok := parseFast(c.typ, []byte(c.body)); !ok {
			t.Errorf("%s %s: not on the fast path", c.typ, c.body)
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
