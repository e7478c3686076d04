package akamai

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"
)

// normalizeURLReference is normalizeURL as it was before it returned
// normalized URLs without copying them: it builds every URL anew. The
// tests below hold normalizeURL to it.
func normalizeURLReference(raw string) (string, error) {
	bad := func(reason string) (string, error) {
		return "", &InvalidObjectError{Type: TypeURL, Object: raw, Reason: reason}
	}
	if raw == "" {
		return bad("empty URL")
	}
	var (
		b    strings.Builder
		rest string // the host and what follows it
	)
	b.Grow(len(raw) + 8)
	if isARL(raw) {
		// The four fields before the host need no encoding: arlPrefix
		// accepted only digits and a type code in them.
		n, reason := arlPrefix(raw)
		if reason != "" {
			return bad(reason)
		}
		b.WriteString(raw[:n])
		rest = raw[n:]
	} else {
		schemeEnd := strings.Index(raw, "://")
		if schemeEnd < 0 {
			return bad("not an absolute http or https URL, nor an ARL (/L/…)")
		}
		scheme := strings.ToLower(raw[:schemeEnd])
		if scheme != "http" && scheme != "https" {
			return bad("scheme must be http or https")
		}
		b.WriteString(scheme)
		b.WriteString("://")
		rest = raw[schemeEnd+3:]
	}
	hostEnd := strings.IndexAny(rest, "/?#")
	if hostEnd < 0 {
		hostEnd = len(rest)
	}
	host := rest[:hostEnd]
	if host == "" || strings.HasPrefix(host, ":") {
		return bad("missing host")
	}
	if reason, redact := structureProblem(rest, hostEnd); reason != "" {
		if redact {
			return "", &InvalidObjectError{Type: TypeURL, Object: raw[:len(raw)-len(rest)] + redactAuthority(rest), Reason: reason}
		}
		return bad(reason)
	}
	for i := 0; i < len(rest); i++ {
		c := rest[i]
		switch {
		case c < 0x20 || c == 0x7f:
			return bad("control character in URL")
		case i >= hostEnd && (c >= 0x80 || escapeByte(c)):
			// Path, query and fragment: what may not appear in a URL is
			// percent-encoded, so that Akamai gets a valid URL (RFC
			// 3986); browsers request non-ASCII and "<> this way too.
			b.WriteByte('%')
			b.WriteByte(upperHex[c>>4])
			b.WriteByte(upperHex[c&15])
		case c >= 0x80:
			return bad("non-ASCII host: use its punycode (xn--) form")
		case c == ' ':
			return bad("space in host")
		case escapeByte(c):
			// A host cannot be percent-encoded; these are not host
			// characters, and a browser would not send them either.
			return bad(fmt.Sprintf("character %q is not allowed in a host", c))
		default:
			b.WriteByte(c)
		}
	}
	u := b.String()
	if n := encodedStringSize(u); n > maxObjectBytes {
		return bad(fmt.Sprintf("URL is %d bytes encoded; a request body holds at most %d", n, maxObjectBytes))
	}
	return u, nil
}

// normalizeURLCases are URLs that take every branch of normalizeURL.
var normalizeURLCases = []string{
	"",
	"https://www.example.com/a",
	"https://www.example.com/hot/1?a=1&b=2",
	"http://e.com",
	"https://e.com?q",
	"https://e.com#f",
	"HTTPS://e.com/a",
	"Http://E.com/A",
	"hTTpS://e.com/ x",
	"HTTPſ://e.com/",
	"httpſ://e.com/",
	"htt\u212Ap://e.com/",
	"ftp://e.com/",
	"https:/e.com/",
	"e.com/a",
	"//e.com/a",
	"https:///a",
	"https://:80/a",
	"https://e.com:81/a%2Fb?x=%3C",
	"https://e.com/ \"<>\\^`{|}?q= \"<>\\^`{|}#f<",
	"https://e.com/ \"<>\\^`{|}?q= \"<>\\^`{|}",
	"https://u:p@e.com/",
	"https://e.com:99999/",
	"https://e.com/%zz",
	"https://e.com/café/日本?q=é&r=%20",
	"https://e.com/\xff\xfe",
	"https://e.com/\x00",
	"https://e.com/\x7f",
	"https://e.com\r/",
	"https://bücher.de/",
	"https://e .com/",
	`https://e.com\evil.com/`,
	"https://e{x}.com/",
	`https://e".com/`,
	"/L/512/6848/1h/www.example.com/a.jpg",
	"/L/512/6848/1h/www.example.com/a b<c>.jpg",
	"/=/16382/123456/2d/www.example.com/us/style.css",
	"/L/x/6848/1h/www.example.com/a.jpg",
	"/L/512/6848/1h/",
	"/L/512/6848/1h/e .com/",
	"https://e.com/" + strings.Repeat("a", maxObjectBytes),
	"https://e.com/" + strings.Repeat("<", maxObjectBytes/3),
	"https://e.com/" + strings.Repeat("a", maxObjectBytes/2-20) + strings.Repeat("é", 10),
}

func checkSameAsReference(t *testing.T, in string) {
	t.Helper()
	got, err := normalizeURL(in)
	want, wantErr := normalizeURLReference(in)
	if got != want || (err == nil) != (wantErr == nil) {
		t.Fatalf("normalizeURL(%q) = %q, %v; the reference gives %q, %v", in, got, err, want, wantErr)
	}
	if err != nil {
		var ie, wie *InvalidObjectError
		if !errors.As(err, &ie) || !errors.As(wantErr, &wie) || *ie != *wie {
			t.Fatalf("normalizeURL(%q) fails with %#v; the reference with %#v", in, err, wantErr)
		}
	}
}

func TestNormalizeURLMatchesReference(t *testing.T) {
	for _, in := range normalizeURLCases {
		t.Run(fmt.Sprintf("%.40q", in), func(t *testing.T) { checkSameAsReference(t, in) })
	}
}

// TestNormalizeURLMatchesReferenceRandom compares both on URLs put
// together at random from pieces that matter to them.
func TestNormalizeURLMatchesReferenceRandom(t *testing.T) {
	pieces := []string{
		"http", "https", "HTTP", "Https", "ſ", "K", "://", ":/", "/", "//", "?", "#", ":", "%", "%2F",
		"e.com", "E.COM", "a", "Z", " ", "\"", "<", ">", "\\", "^", "`", "{", "|", "}",
		"é", "日", "\xff", "\x00", "\x1f", "\x7f", "/L/512/6848/1h/", "/=/1/2/3d/", "/L/", "x",
	}
	r := rand.New(rand.NewPCG(1, 2))
	for range 50000 {
		var b strings.Builder
		for n := r.IntN(8); n >= 0; n-- {
			b.WriteString(pieces[r.IntN(len(pieces))])
		}
		checkSameAsReference(t, b.String())
	}
}

func FuzzNormalizeURLMatchesReference(f *testing.F) {
	for _, in := range normalizeURLCases {
		f.Add(in)
	}
	f.Fuzz(func(t *testing.T, in string) { checkSameAsReference(t, in) })
}

// TestEscapeByteTable holds the table behind escapeByte to the characters
// it names.
func TestEscapeByteTable(t *testing.T) {
	for c := range 256 {
		want := strings.IndexByte(" \"<>\\^`{|}", byte(c)) >= 0
		if got := escapeByte(byte(c)); got != want {
			t.Errorf("escapeByte(%q) = %v, want %v", byte(c), got, want)
		}
	}
}
