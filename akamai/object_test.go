package akamai

import (
	"errors"
	neturl "net/url"
	"strings"
	"testing"
)

func TestNormalizeURL(t *testing.T) {
	longPath := func(encoded int) string {
		// A URL whose JSON string is exactly encoded bytes.
		const prefix = "https://e.com/"
		return prefix + strings.Repeat("a", encoded-2-len(prefix))
	}
	tests := []struct {
		name string
		in   string
		want string // "" means invalid
	}{
		{"plain", "https://www.example.com/a", "https://www.example.com/a"},
		{"http", "http://foo2.bar.com/some/other/path", "http://foo2.bar.com/some/other/path"},
		{"no path", "https://e.com", "https://e.com"},
		{"port", "https://e.com:8443/x", "https://e.com:8443/x"},
		{"IPv6 host", "https://[::1]:8443/x", "https://[::1]:8443/x"},
		{"scheme lower-cased", "HTTPS://E.com/X", "https://E.com/X"},
		{"query with ampersands kept", "https://e.com/?a=1&b=2&c=3", "https://e.com/?a=1&b=2&c=3"},
		{"already escaped kept", "https://e.com/a%20b", "https://e.com/a%20b"},
		{"escapes of any case kept", "https://e.com/%3c%3E%7b", "https://e.com/%3c%3E%7b"},
		{"non-ASCII path escaped", "https://e.com/café", "https://e.com/caf%C3%A9"},
		{"non-ASCII query escaped", "https://e.com/?q=日本", "https://e.com/?q=%E6%97%A5%E6%9C%AC"},
		{"space escaped", "https://e.com/a b", "https://e.com/a%20b"},
		{"invalid UTF-8 escaped", "https://e.com/\xff", "https://e.com/%FF"},
		{"punycode host", "https://xn--bcher-kva.de/", "https://xn--bcher-kva.de/"},
		{"largest", longPath(maxObjectBytes), longPath(maxObjectBytes)},

		// Characters RFC 3986 allows nowhere are escaped in path, query
		// and fragment, each on its own so a missed one shows by name.
		{"double quote", `https://e.com/"q"`, "https://e.com/%22q%22"},
		{"angle brackets in query", "https://e.com/?a=1&b=<2>", "https://e.com/?a=1&b=%3C2%3E"},
		{"backslash", `https://e.com/a\b`, "https://e.com/a%5Cb"},
		{"caret", "https://e.com/a^b", "https://e.com/a%5Eb"},
		{"backtick", "https://e.com/a`b", "https://e.com/a%60b"},
		{"braces", "https://e.com/{id}", "https://e.com/%7Bid%7D"},
		{"pipe in query", "https://e.com/?x=a|b", "https://e.com/?x=a%7Cb"},
		{"all together", "https://e.com/ \"<>\\^`{|}?q= \"<>\\^`{|}",
			"https://e.com/%20%22%3C%3E%5C%5E%60%7B%7C%7D?q=%20%22%3C%3E%5C%5E%60%7B%7C%7D"},
		{"reserved characters kept", "https://e.com/a;b,c:d@e!f$g'h(i)j*k+l=m?n=/?&o[]=p~", "https://e.com/a;b,c:d@e!f$g'h(i)j*k+l=m?n=/?&o[]=p~"},
		{"escapes mixed with raw", "https://e.com/%3C<%3E>", "https://e.com/%3C%3C%3E%3E"},

		// ARLs: the url type takes them too (Akamai's example request).
		{"ARL", "/L/512/6848/1h/www.example1.com/", "/L/512/6848/1h/www.example1.com/"},
		{"ARL with path", "/L/1234/5678/1d/www.example.com/a.jpg", "/L/1234/5678/1d/www.example.com/a.jpg"},
		{"ARL from X-Cache-Key", "/=/16382/123456/2d/www.example.com/us/content/css/style.css", "/=/16382/123456/2d/www.example.com/us/content/css/style.css"},
		{"ARL type D", "/D/1/2/000/origin.example.com/x?y=1", "/D/1/2/000/origin.example.com/x?y=1"},
		{"ARL numeric type code", "/7/1/2/30m/h.example.com/", "/7/1/2/30m/h.example.com/"},
		{"ARL without path", "/L/1/2/1d/h.example.com", "/L/1/2/1d/h.example.com"},
		{"ARL with port", "/L/1/2/1d/h.example.com:8080/a", "/L/1/2/1d/h.example.com:8080/a"},
		{"ARL path escaped", "/L/1/2/1d/h.example.com/é {x}", "/L/1/2/1d/h.example.com/%C3%A9%20%7Bx%7D"},

		{"empty", "", ""},
		{"ftp", "ftp://e.com/x", ""},
		{"javascript", "javascript://e.com/%0aalert(1)", ""},
		{"relative path", "/some/path", ""},
		{"root", "/", ""},
		{"slash only type code", "/L/", ""},
		{"ARL type code too long", "/LL/512/6848/1h/www.example.com/", ""},
		{"ARL type code not alphanumeric", "/~/512/6848/1h/www.example.com/", ""},
		{"ARL serial not decimal", "/L/5x2/6848/1h/www.example.com/", ""},
		{"ARL empty CP code", "/L/512//1h/www.example.com/", ""},
		{"ARL TTL only a unit", "/L/512/6848/d/www.example.com/", ""},
		{"ARL TTL two units", "/L/512/6848/1dd/www.example.com/", ""},
		{"ARL without host", "/L/512/6848/1h/", ""},
		{"ARL cut short", "/L/512/6848", ""},
		{"ARL IDN host", "/L/1/2/1d/bücher.de/", ""},
		{"ARL control character", "/L/1/2/1d/h.example.com/a\nb", ""},
		{"no scheme", "www.example.com/a", ""},
		{"scheme-relative", "//e.com/a", ""},
		{"no host", "https:///a", ""},
		{"port only", "https://:80/a", ""},
		{"newline", "https://e.com/a\nb", ""},
		{"tab", "https://e.com/a\tb", ""},
		{"NUL", "https://e.com/\x00", ""},
		{"DEL", "https://e.com/\x7f", ""},
		{"CR in host", "https://e.com\r/", ""},
		{"IDN host", "https://bücher.de/", ""},
		{"space in host", "https://e .com/", ""},
		{"backslash in host", `https://e.com\evil.com/`, ""},
		{"brace in host", "https://e{x}.com/", ""},
		{"quote in host", `https://e".com/`, ""},
		{"too long", longPath(maxObjectBytes + 1), ""},
		{"too long once escaped", "https://e.com/" + strings.Repeat("<", maxObjectBytes/3), ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := NormalizeObject(TypeURL, tt.in)
			if tt.want == "" {
				var ie *InvalidObjectError
				if !errors.As(err, &ie) {
					t.Fatalf("NormalizeObject(%q) = %q, %v; want *InvalidObjectError", tt.in, got, err)
				}
				if ie.Type != TypeURL || ie.Object != tt.in || ie.Reason == "" {
					t.Errorf("error = %+v", ie)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Fatalf("NormalizeObject(%q) = %q, %v; want %q", tt.in, got, err, tt.want)
			}
			if again, err := NormalizeObject(TypeURL, got); err != nil || again != got {
				t.Errorf("not idempotent: %q → %q, %v", got, again, err)
			}
		})
	}
}

// TestNormalizeURLValidForGo: every http(s) URL the table accepts (all
// free of stray '%') parses with net/url, an independent judge of URL
// syntax, and keeps its escaped path and query byte for byte.
func TestNormalizeURLValidForGo(t *testing.T) {
	for _, in := range []string{
		"https://e.com/ \"<>\\^`{|}?q= \"<>\\^`{|}",
		"https://e.com/café/日本?q=é&r=%20",
		"HTTP://e.com:81/a%2Fb?x=%3C",
	} {
		got, err := NormalizeObject(TypeURL, in)
		if err != nil {
			t.Fatalf("NormalizeObject(%q): %v", in, err)
		}
		u, err := neturl.Parse(got)
		if err != nil {
			t.Fatalf("net/url refuses %q (from %q): %v", got, in, err)
		}
		path, query, _ := strings.Cut(strings.SplitN(got, "#", 2)[0][len(u.Scheme)+3+len(u.Host):], "?")
		if u.EscapedPath() != path || u.RawQuery != query {
			t.Errorf("%q: net/url sees path %q query %q, want %q %q", got, u.EscapedPath(), u.RawQuery, path, query)
		}
	}
}

func TestValidateTag(t *testing.T) {
	tests := []struct {
		tag string
		ok  bool
	}{
		{"black-friday", true},
		{"laptops", true},
		{"A.b_c~1", true},
		{strings.Repeat("t", MaxTagLength), true},
		{strings.Repeat("t", MaxTagLength+1), false},
		{"", false},
		{"é", false},
		{"a\nb", false},
	}
	for _, c := range "!#$%'+-.^_`|~&" {
		tests = append(tests, struct {
			tag string
			ok  bool
		}{"tag" + string(c) + "x", true})
	}
	for _, c := range " <>*@\\{}:,\"=()?;/[]" {
		tests = append(tests, struct {
			tag string
			ok  bool
		}{"tag" + string(c) + "x", false})
	}
	for _, tt := range tests {
		got, err := NormalizeObject(TypeTag, tt.tag)
		if tt.ok {
			if err != nil || got != tt.tag {
				t.Errorf("NormalizeObject(tag, %q) = %q, %v; want it unchanged", tt.tag, got, err)
			}
			continue
		}
		var ie *InvalidObjectError
		if !errors.As(err, &ie) || ie.Type != TypeTag || got != "" {
			t.Errorf("NormalizeObject(tag, %q) = %q, %v; want \"\" and *InvalidObjectError", tt.tag, got, err)
		}
	}
}

func TestNormalizeCPCode(t *testing.T) {
	tests := []struct {
		in, want string // want "" means invalid
	}{
		{"12345", "12345"},
		{" 98765 ", "98765"},
		{"007", "7"},
		{"1", "1"},
		{"0", ""},
		{"-5", ""},
		{"", ""},
		{"abc", ""},
		{"1.5", ""},
		{"1e3", ""},
		{"0x10", ""},
		{"99999999999999999999", ""},
	}
	for _, tt := range tests {
		got, err := NormalizeObject(TypeCPCode, tt.in)
		if tt.want == "" {
			var ie *InvalidObjectError
			if !errors.As(err, &ie) || ie.Type != TypeCPCode {
				t.Errorf("NormalizeObject(cpcode, %q) = %q, %v; want *InvalidObjectError", tt.in, got, err)
			}
			continue
		}
		if err != nil || got != tt.want {
			t.Errorf("NormalizeObject(cpcode, %q) = %q, %v; want %q", tt.in, got, err, tt.want)
		}
	}
	if got := CPCodes(12345, 98765); strings.Join(got, ",") != "12345,98765" {
		t.Errorf("CPCodes = %q", got)
	}
}

func TestNormalizeObjectUnknownType(t *testing.T) {
	var ie *InvalidObjectError
	if _, err := NormalizeObject("arl", "x"); !errors.As(err, &ie) {
		t.Fatalf("err = %v", err)
	}
}

func TestInvalidObjectErrorTruncates(t *testing.T) {
	e := &InvalidObjectError{Type: TypeURL, Object: strings.Repeat("x", 1000), Reason: "r"}
	if n := len(e.Error()); n > 300 {
		t.Errorf("Error() is %d bytes", n)
	}
}

// FuzzNormalizeURL checks that every accepted URL is an http(s) URL or an
// ARL of printable ASCII without spaces or characters that RFC 3986
// allows nowhere, that encodes within one request body, normalizes to
// itself and percent-decodes to what the input decodes to: nothing was
// lost, and no escape was encoded twice.
func FuzzNormalizeURL(f *testing.F) {
	for _, s := range []string{
		"https://www.example.com/a", "HTTP://e.com/ä?x=1&y=2", "ftp://e.com", "/rel", "https://bücher.de/",
		"https://e.com/a b\x00", "https://:1/", "http://e.com#frag", "https://e.com/\"quote\\",
		"https://e.com/%3C<%3e>%", "https://e.com/%%C3%A9é%4", "https://e.com/{|}^`?q=<\\>#\"",
		"/L/512/6848/1h/www.example1.com/", "/=/16382/123456/2d/www.example.com/us/style.css?v=<1>",
		"/L/1/2/1dd/h/", "/L//2/1d/h/", "//e.com/", "/L/1/2/3/h\\x/",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in string) {
		got, err := NormalizeObject(TypeURL, in)
		if err != nil {
			var ie *InvalidObjectError
			if !errors.As(err, &ie) || ie.Type != TypeURL || ie.Object != in || ie.Reason == "" {
				t.Fatalf("error %T %v, want an *InvalidObjectError naming the URL", err, err)
			}
			return
		}
		prefix := 0 // bytes of the scheme, which is lower-cased
		switch {
		case strings.HasPrefix(got, "http://"), strings.HasPrefix(got, "https://"):
			prefix = strings.Index(got, "://")
		case isARL(got):
			if _, reason := arlPrefix(got); reason != "" {
				t.Fatalf("%q → %q: neither http(s) URL nor ARL", in, got)
			}
		default:
			t.Fatalf("%q → %q: neither http(s) URL nor ARL", in, got)
		}
		if !strings.EqualFold(got[:prefix], in[:prefix]) {
			t.Fatalf("%q → %q: scheme changed", in, got)
		}
		for i := 0; i < len(got); i++ {
			if c := got[i]; c <= ' ' || c >= 0x7f || escapeByte(c) {
				t.Fatalf("%q → %q: byte %#x at %d", in, got, c, i)
			}
		}
		if d, dIn := percentDecode(got[prefix:]), percentDecode(in[prefix:]); d != dIn {
			t.Fatalf("%q → %q: decodes to %q, the input to %q", in, got, d, dIn)
		}
		if n := EncodedSize(TypeURL, got); n+bodyOverhead > MaxBodyBytes {
			t.Fatalf("%q → %d encoded bytes: too large for a request", in, n)
		}
		if again, err := NormalizeObject(TypeURL, got); err != nil || again != got {
			t.Fatalf("not idempotent: %q → %q → %q, %v", in, got, again, err)
		}
	})
}

// percentDecode decodes every %XX escape of s and keeps stray '%'s, as a
// lenient server would.
func percentDecode(s string) string {
	unhex := func(c byte) (byte, bool) {
		switch {
		case '0' <= c && c <= '9':
			return c - '0', true
		case 'a' <= c && c <= 'f':
			return c - 'a' + 10, true
		case 'A' <= c && c <= 'F':
			return c - 'A' + 10, true
		}
		return 0, false
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '%' && i+2 < len(s) {
			hi, ok1 := unhex(s[i+1])
			lo, ok2 := unhex(s[i+2])
			if ok1 && ok2 {
				b.WriteByte(hi<<4 | lo)
				i += 2
				continue
			}
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

// TestNormalizeURLRefusesWhatNoCacheKeyHolds: user info, ports that are
// not ports, '%' that starts no escape and fragments name nothing Akamai
// caches; each is refused with a reason that says so, and a password is
// never repeated.
func TestNormalizeURLRefusesWhatNoCacheKeyHolds(t *testing.T) {
	for _, tc := range []struct {
		name, in, reason, object string // object "": the input itself
	}{
		{"user and password", "https://user:hunter2@www.example.com/a", "user info", "https://user:[redacted]@www.example.com/a"},
		{"user only", "https://token-XYZ@www.example.com/a", "user info", "https://[redacted]@www.example.com/a"},
		{"password with @ and ?", "https://u:p@ss?w@www.example.com/a", "user info", "https://u:[redacted]@www.example.com/a"},
		{"user info with port", "http://u:hunter2@e.com:8080/", "user info", "http://u:[redacted]@e.com:8080/"},
		{"ARL with user info", "/L/1/2/1d/u:hunter2@h.example.com/a", "user info", "/L/1/2/1d/u:[redacted]@h.example.com/a"},
		{"port too large", "https://e.com:99999/", "invalid port \"99999\"", ""},
		{"port zero", "https://e.com:0/", "invalid port", ""},
		{"port not a number", "https://e.com:http/", "invalid port", ""},
		{"signed port", "https://e.com:+80/", "invalid port", ""},
		{"two colons", "https://e.com:80:81/", "invalid port", ""},
		{"IPv6 port too large", "https://[::1]:65536/", "invalid port", ""},
		{"IPv6 unclosed", "https://[::1/", "IPv6", ""},
		{"IPv6 junk after bracket", "https://[::1]x/", "IPv6", ""},
		{"bad escape", "https://e.com/%zz", `invalid percent-escape "%zz"`, ""},
		{"half escape at the end", "https://e.com/a%4", `invalid percent-escape "%4"`, ""},
		{"stray percent", "https://e.com/100%?q=1", "invalid percent-escape", ""},
		{"bad escape in query", "https://e.com/?q=%g0", "invalid percent-escape", ""},
		{"fragment", "https://e.com/a#top", "fragment", ""},
		{"empty fragment", "https://e.com/a#", "fragment", ""},
		{"SPA route", "https://e.com/#/news", "fragment", ""},
		{"ARL fragment", "/L/1/2/1d/h.example.com/a#b", "fragment", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := NormalizeObject(TypeURL, tc.in)
			var ie *InvalidObjectError
			if !errors.As(err, &ie) {
				t.Fatalf("NormalizeObject(%q) = %q, %v; want *InvalidObjectError", tc.in, got, err)
			}
			if !strings.Contains(ie.Reason, tc.reason) {
				t.Errorf("reason %q does not say %q", ie.Reason, tc.reason)
			}
			want := tc.object
			if want == "" {
				want = tc.in
			}
			if ie.Object != want {
				t.Errorf("object %q, want %q", ie.Object, want)
			}
			if strings.Contains(tc.in, "hunter2") && strings.Contains(err.Error(), "hunter2") {
				t.Errorf("error repeats the password: %v", err)
			}
		})
	}
	// Valid neighbours of the refused.
	for _, in := range []string{"https://e.com:1/", "https://e.com:65535/a", "https://[::1]/", "https://[::1]:443/", "https://e.com/a%2Fb%20c?q=%E6", "https://e.com/a@b?c=d@e", "https://e.com:/a"} {
		if _, err := NormalizeObject(TypeURL, in); err != nil {
			t.Errorf("NormalizeObject(%q): %v", in, err)
		}
	}
}

func TestRedactUserinfo(t *testing.T) {
	for in, want := range map[string]string{
		"https://u:pw@h/a":        "https://u:[redacted]@h/a",
		"https://tok@h":           "https://[redacted]@h",
		"https://h/a@b":           "https://h/a@b",
		"no URL":                  "no URL",
		"/L/1/2/1d/u:pw@h/a":      "/L/1/2/1d/u:[redacted]@h/a",
		"nats://a:b@h,nats://c@d": "nats://a:[redacted]@h,nats://c@d",
	} {
		if got := RedactUserinfo(in); got != want {
			t.Errorf("RedactUserinfo(%q) = %q, want %q", in, got, want)
		}
	}
}

// TestTagErrorNamesTheCharacter: an error about a tag's character shows
// the character, not the first byte of its UTF-8 form.
func TestTagErrorNamesTheCharacter(t *testing.T) {
	for in, want := range map[string]string{
		"nöws":   `character 'ö'`,
		"日本":     `character '日'`,
		"a b":    `character ' '`,
		"x\xffy": "byte 0xFF (not UTF-8)",
		"emoji😀": `character '😀'`,
	} {
		_, err := NormalizeObject(TypeTag, in)
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("NormalizeObject(tag %q) = %v, want it to name %s", in, err, want)
		}
		if err != nil && strings.Contains(err.Error(), "Ã") {
			t.Errorf("error shows a byte as a character: %v", err)
		}
	}
}

// TestInvalidObjectErrorCutsWholeCharacters: a long object is shortened
// in the message between characters, never inside one.
func TestInvalidObjectErrorCutsWholeCharacters(t *testing.T) {
	long := strings.Repeat("a", 199) + strings.Repeat("ö", 10)
	msg := (&InvalidObjectError{Type: TypeTag, Object: long, Reason: "too long"}).Error()
	if strings.Contains(msg, `\x`) || !strings.Contains(msg, strings.Repeat("a", 199)+"…") {
		t.Errorf("message %q", msg)
	}
}
