package routing

import (
	"strings"
	"testing"
	"time"

	"github.com/purgebus/purgebus/akamai"
	"github.com/purgebus/purgebus/events"
)

func TestParseHostPattern(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want hostPattern
		err  string
	}{
		{"*", hostPattern{kind: patternAny}, ""},
		{"www.Example.COM", hostPattern{patternExact, "www.example.com"}, ""},
		{"*.Example.org", hostPattern{patternWildcard, "example.org"}, ""},
		{"*.org", hostPattern{patternWildcard, "org"}, ""},
		{"localhost", hostPattern{patternExact, "localhost"}, ""},
		{"10.0.0.1", hostPattern{patternExact, "10.0.0.1"}, ""},
		{"_dmarc.example.com", hostPattern{patternExact, "_dmarc.example.com"}, ""},
		{"xn--bcher-kva.example", hostPattern{patternExact, "xn--bcher-kva.example"}, ""},
		{"", hostPattern{}, "empty host name"},
		{"*.", hostPattern{}, "empty host name"},
		{"**.example.com", hostPattern{}, `"*" may only stand alone`},
		{"*.*.example.com", hostPattern{}, `"*" may only stand alone`},
		{"a*.example.com", hostPattern{}, `"*" may only stand alone`},
		{"example.com.", hostPattern{}, "must not end with a dot"},
		{".example.com", hostPattern{}, "not a valid host name"},
		{"a..b", hostPattern{}, "not a valid host name"},
		{"bücher.example", hostPattern{}, "not a valid host name"},
		{"\u212Aelvin.example", hostPattern{}, "not a valid host name"},
		{strings.Repeat("a", 64) + ".example", hostPattern{}, "not a valid host name"},
		{strings.Repeat("a.", 127) + "ab", hostPattern{}, "not a valid host name"},
		{"http://example.com", hostPattern{}, "bare host name"},
		{"example.com:443", hostPattern{}, "bare host name"},
		{"example.com/path", hostPattern{}, "bare host name"},
		{"user@example.com", hostPattern{}, "bare host name"},
		{"[::1]", hostPattern{}, "IPv6 literals"},
	} {
		got, err := parseHostPattern(tc.in)
		switch {
		case tc.err != "" && (err == nil || !strings.Contains(err.Error(), tc.err)):
			t.Errorf("%q: error %v, want %q", tc.in, err, tc.err)
		case tc.err == "" && (err != nil || got != tc.want):
			t.Errorf("%q: got %+v, %v; want %+v", tc.in, got, err, tc.want)
		}
	}
}

func TestURLHost(t *testing.T) {
	for _, tc := range []struct {
		url, host, raw string
		ok             bool
	}{
		{"https://www.example.com/a", "www.example.com", "www.example.com", true},
		{"https://WWW.Example.Com", "www.example.com", "WWW.Example.Com", true},
		{"http://example.com:8080/x", "example.com", "example.com:8080", true},
		{"http://example.com:/x", "example.com", "example.com:", true},
		{"http://example.com.?q", "example.com", "example.com.", true},
		{"http://example.com#f", "example.com", "example.com", true},
		{"http://10.1.2.3:80/", "10.1.2.3", "10.1.2.3:80", true},
		{"http://example.com..", "", "example.com..", false},
		{"http://user:pw@example.com/", "", "user:pw@example.com", false},
		{"http://[::1]:80/", "", "[::1]:80", false},
		{"http://exa%6Dple.com/", "", "exa%6Dple.com", false},
		{"http://example.com:8o/", "", "example.com:8o", false},
		{"http://\u212Aelvin.example/", "", "\u212Aelvin.example", false},
		{"http://example.com\\@evil.com/", "", "example.com\\@evil.com", false},
		{"/L/512/6848/1h/www.Example1.com/", "www.example1.com", "www.Example1.com", true},
		{"/=/16382/123456/2d/www.example.com/us/style.css", "www.example.com", "www.example.com", true},
		{"/L/1/2/1d/h.example.com:8080/a", "h.example.com", "h.example.com:8080", true},
		{"/L/1/2/1d/h.example.com", "h.example.com", "h.example.com", true},
		{"/L/1/2/1d/h.example.com?x", "h.example.com", "h.example.com", true},
		{"/L/1/2/1d/", "", "", false},
		{"/L/1/2/", "", "", false},
		{"/L//2/1d/h.example.com/", "", "", false},
		{"//h.example.com/", "", "", false},
		{"/L/1/2/1d/x.com/https://www.example.com/", "x.com", "x.com", true},
		{"/https://www.example.com/", "", "", false},
		{"http:///path", "", "", false},
		{"no scheme", "", "", false},
	} {
		host, raw, ok := urlHost(tc.url)
		if host != tc.host || raw != tc.raw || ok != tc.ok {
			t.Errorf("%q: got %q %q %v; want %q %q %v", tc.url, host, raw, ok, tc.host, tc.raw, tc.ok)
		}
	}
}

func TestHostTableOrderDoesNotMatter(t *testing.T) {
	patterns := []string{"*", "*.com", "*.example.com", "*.b.example.com", "a.b.example.com", "example.com"}
	hosts := map[string]string{
		"a.b.example.com":   "a.b.example.com",
		"x.a.b.example.com": "*.b.example.com",
		"b.example.com":     "*.example.com",
		"example.com":       "example.com",
		"other.com":         "*.com",
		"com":               "*",
		"example.org":       "*",
	}
	for _, order := range [][]int{{0, 1, 2, 3, 4, 5}, {5, 4, 3, 2, 1, 0}, {2, 0, 4, 1, 5, 3}} {
		tab := newHostTable[string]()
		for _, i := range order {
			p, err := parseHostPattern(patterns[i])
			if err != nil {
				t.Fatal(err)
			}
			if !tab.add(p, patterns[i]) {
				t.Fatalf("%q added twice", patterns[i])
			}
		}
		for host, want := range hosts {
			if got, _ := tab.lookup(host, true); got != want {
				t.Errorf("order %v: %s matched %q, want %q", order, host, got, want)
			}
		}
		if got, _ := tab.lookup("", false); got != "*" {
			t.Errorf("invalid host matched %q", got)
		}
	}
}

func TestTagTable(t *testing.T) {
	tab := newTagTable[string]()
	for _, s := range []string{"shop-*", "shop-media-*", "shop-media", "s*", "*"} {
		p, err := parseTagPattern(s)
		if err != nil {
			t.Fatal(err)
		}
		tab.add(p, s)
	}
	for tag, want := range map[string]string{
		"shop-media":   "shop-media",
		"shop-media-1": "shop-media-*",
		"shop-mediax":  "shop-*",
		"shop-":        "shop-*",
		"s":            "s*",
		"Shop-1":       "*",
		"news":         "*",
	} {
		if got, _ := tab.lookup(tag); got != want {
			t.Errorf("%s matched %q, want %q", tag, got, want)
		}
	}
}

// fuzzConfig routes URLs and tags by overlapping patterns.
const fuzzConfig = `
accounts:
  exact: {edgerc_section: exact}
  apex: {edgerc_section: apex}
  sub: {edgerc_section: sub}
  deep: {edgerc_section: deep}
  com: {edgerc_section: com}
  rest: {edgerc_section: rest}
routes:
  - hosts: [www.example.com]
    account: exact
  - hosts: [example.com]
    account: apex
  - hosts: ["*.example.com"]
    account: sub
  - hosts: ["*.b.example.com", "10.0.0.1"]
    account: deep
  - hosts: ["*.com"]
    account: com
  - hosts: ["*"]
    account: rest
tags:
  routes:
    - tags: ["a-*", exact]
      account: exact
    - tags: ["a-b-*"]
      account: deep
allow:
  hosts: ["*.com", "example.org", "10.0.0.1"]
`

// fuzzRoutes mirrors fuzzConfig's URL routes, for a naive reference.
var fuzzRoutes = []struct{ pattern, account string }{
	{"www.example.com", "exact"}, {"example.com", "apex"}, {"*.example.com", "sub"},
	{"*.b.example.com", "deep"}, {"10.0.0.1", "deep"}, {"*.com", "com"}, {"*", "rest"},
}

// referenceRoute is a naive most-specific match: an exact pattern scores
// highest, then wildcards by the length of their name, then "*".
func referenceRoute(host string, valid bool) string {
	best, score := "", -1
	for _, r := range fuzzRoutes {
		s := -1
		switch {
		case r.pattern == "*":
			s = 0
		case !valid:
		case strings.HasPrefix(r.pattern, "*."):
			if name := r.pattern[1:]; strings.HasSuffix(host, name) && len(host) > len(name) {
				s = len(name)
			}
		case host == r.pattern:
			s = 1000
		}
		if s > score {
			best, score = r.account, s
		}
	}
	return best
}

func referenceAllowed(host string, valid bool) bool {
	return valid && (strings.HasSuffix(host, ".com") || host == "example.org" || host == "10.0.0.1")
}

// FuzzRoute routes arbitrary URLs and tags and checks every object ends up
// exactly once in a group or a rejection, URLs with the account a naive
// matcher picks, whatever the case of the host.
func FuzzRoute(f *testing.F) {
	for _, seed := range []struct{ url, tag string }{
		{"https://www.example.com/a", "a-1"},
		{"https://WWW.EXAMPLE.COM:443/a?b#c", "A-1"},
		{"http://x.b.example.com./", "a-b-c"},
		{"https://b.example.com", "exact"},
		{"https://example.com", "a-"},
		{"https://example.com.evil.org/", "a"},
		{"https://evil.org/?example.com", "-"},
		{"https://user@www.example.com/", "a-b"},
		{"https://www.example.com\\@evil.org/", "exact2"},
		{"https://[::1]:8080/", "x"},
		{"https://10.0.0.1:80/", "a-b-"},
		{"https://exa%6Dple.com/", "%"},
		{"https://\u212A.example.com/", "a-\u212A"},
		{"https://a..example.com/", ""},
		{"https://.example.com/", "*"},
		{"no-scheme", "a-b-*"},
		{"/L/512/6848/1h/www.example.com/a.jpg", "a-b"},
		{"/=/1/2/3d/X.B.Example.COM:80/", "a"},
		{"/L/1/2/", "a"},
		{"", ""},
	} {
		f.Add(seed.url, seed.tag)
	}
	r := mustRouter(f, fuzzConfig)
	f.Fuzz(func(t *testing.T, url, tag string) {
		ev := events.ContentChanged{URLs: []string{url}, Tags: []string{tag}, Action: akamai.ActionInvalidate, Network: akamai.NetworkProduction}
		d := r.Route(ev, time.Time{})
		where := map[akamai.Type][]string{}
		for _, g := range d.Groups {
			for _, o := range g.Objects {
				where[g.Type] = append(where[g.Type], g.Account)
				if (g.Type == akamai.TypeURL && o != url) || (g.Type == akamai.TypeTag && o != tag) {
					t.Fatalf("group has %q", o)
				}
			}
		}
		for _, x := range d.Rejected {
			where[x.Type] = append(where[x.Type], "rejected:"+string(x.Reason))
		}
		if len(where[akamai.TypeURL]) != 1 || len(where[akamai.TypeTag]) != 1 || len(where) != 2 {
			t.Fatalf("objects placed %v", where)
		}

		host, _, valid := urlHost(url)
		want := "rejected:" + string(NotAllowed)
		if referenceAllowed(host, valid) {
			want = referenceRoute(host, valid)
		}
		if got := where[akamai.TypeURL][0]; got != want {
			t.Fatalf("%q (host %q, valid %v) went to %s, want %s", url, host, valid, got, want)
		}
		if valid && (host != strings.ToLower(host) || !strings.Contains(strings.ToLower(url), host)) {
			t.Fatalf("host %q is not the URL's, lower-cased", host)
		}

		// Case does not matter in the host.
		if i := strings.Index(url, "://"); i >= 0 {
			upper := url[:i+3] + asciiUpper(url[i+3:])
			if up := r.Route(events.ContentChanged{URLs: []string{upper}}, time.Time{}); len(up.Groups) > 0 != (want[0] != 'r') ||
				len(up.Groups) > 0 && up.Groups[0].Account != want {
				t.Fatalf("%q routed differently from %q", upper, url)
			}
		}
	})
}

func asciiUpper(s string) string {
	b := []byte(s)
	for i, c := range b {
		if 'a' <= c && c <= 'z' {
			b[i] = c - 'a' + 'A'
		}
	}
	return string(b)
}
