package akamai

import (
	"errors"
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
		{"scheme lower-cased", "HTTPS://E.com/X", "https://E.com/X"},
		{"query with ampersands kept", "https://e.com/?a=1&b=2&c=<3>", "https://e.com/?a=1&b=2&c=<3>"},
		{"already escaped kept", "https://e.com/a%20b", "https://e.com/a%20b"},
		{"non-ASCII path escaped", "https://e.com/café", "https://e.com/caf%C3%A9"},
		{"non-ASCII query escaped", "https://e.com/?q=日本", "https://e.com/?q=%E6%97%A5%E6%9C%AC"},
		{"space escaped", "https://e.com/a b", "https://e.com/a%20b"},
		{"invalid UTF-8 escaped", "https://e.com/\xff", "https://e.com/%FF"},
		{"punycode host", "https://xn--bcher-kva.de/", "https://xn--bcher-kva.de/"},
		{"largest", longPath(maxObjectBytes), longPath(maxObjectBytes)},

		{"empty", "", ""},
		{"ftp", "ftp://e.com/x", ""},
		{"javascript", "javascript://e.com/%0aalert(1)", ""},
		{"relative path", "/some/path", ""},
		{"ARL-like", "/L/512/6848/1h/www.example1.com/", ""},
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
		{"too long", longPath(maxObjectBytes + 1), ""},
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

// FuzzNormalizeURL checks that every accepted URL is an http(s) URL of
// printable ASCII without spaces that encodes within one request body and
// normalizes to itself.
func FuzzNormalizeURL(f *testing.F) {
	for _, s := range []string{
		"https://www.example.com/a", "HTTP://e.com/ä?x=1&y=2", "ftp://e.com", "/rel", "https://bücher.de/",
		"https://e.com/a b\x00", "https://:1/", "http://e.com#frag", "https://e.com/\"quote\\",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in string) {
		got, err := NormalizeObject(TypeURL, in)
		if err != nil {
			var ie *InvalidObjectError
			if !errors.As(err, &ie) {
				t.Fatalf("error %T, want *InvalidObjectError", err)
			}
			return
		}
		if !strings.HasPrefix(got, "http://") && !strings.HasPrefix(got, "https://") {
			t.Fatalf("%q → %q: not http(s)", in, got)
		}
		for i := 0; i < len(got); i++ {
			if c := got[i]; c <= ' ' || c >= 0x7f {
				t.Fatalf("%q → %q: byte %#x at %d", in, got, c, i)
			}
		}
		if n := EncodedSize(TypeURL, got); n+bodyOverhead > MaxBodyBytes {
			t.Fatalf("%q → %d encoded bytes: too large for a request", in, n)
		}
		if again, err := NormalizeObject(TypeURL, got); err != nil || again != got {
			t.Fatalf("not idempotent: %q → %q → %q, %v", in, got, again, err)
		}
	})
}
