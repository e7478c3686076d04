package akamai

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"unicode/utf8"
)

// stdBody is the body encoding/json writes for objects with HTML escaping
// off: the reference that EncodeBody must match byte for byte.
func stdBody(t testing.TB, typ Type, objects []string) []byte {
	t.Helper()
	var v any
	if typ == TypeCPCode {
		nums := make([]json.Number, len(objects))
		for i, o := range objects {
			nums[i] = json.Number(o)
		}
		v = struct {
			Objects []json.Number `json:"objects"`
		}{nums}
	} else {
		v = struct {
			Objects []string `json:"objects"`
		}{objects}
	}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		t.Fatal(err)
	}
	return bytes.TrimSuffix(buf.Bytes(), []byte("\n"))
}

// decodeBody decodes a request body back into object strings.
func decodeBody(t testing.TB, typ Type, body []byte) []string {
	t.Helper()
	if !json.Valid(body) {
		t.Fatalf("invalid JSON body: %.200q", body)
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	var v struct {
		Objects []any `json:"objects"`
	}
	if err := dec.Decode(&v); err != nil {
		t.Fatal(err)
	}
	out := make([]string, len(v.Objects))
	for i, o := range v.Objects {
		switch o := o.(type) {
		case json.Number:
			if typ != TypeCPCode {
				t.Fatalf("%s body holds number %s", typ, o)
			}
			out[i] = o.String()
		case string:
			if typ == TypeCPCode {
				t.Fatalf("cpcode body holds string %q", o)
			}
			out[i] = o
		default:
			t.Fatalf("object %d is %T", i, o)
		}
	}
	return out
}

// ampURL returns an &-heavy URL of at least n bytes: every & would grow to
// \u0026 (6 bytes) under json.Marshal.
func ampURL(i, n int) string {
	var b strings.Builder
	fmt.Fprintf(&b, "https://e.com/%d?", i)
	for k := 0; b.Len() < n; k++ {
		if k > 0 {
			b.WriteByte('&')
		}
		fmt.Fprintf(&b, "%c=%d", 'a'+k%26, k)
	}
	return b.String()
}

// checkGroups asserts the packing invariants: groups are non-empty, hold
// at most maxObjects objects, encode to at most MaxBodyBytes exactly as
// encoding/json does, decode back to themselves, concatenate to objects in
// order, and are greedy (the next object would not have fitted).
func checkGroups(t testing.TB, typ Type, objects []string, groups [][]string, maxObjects int) {
	t.Helper()
	var all []string
	for i, g := range groups {
		if len(g) == 0 || len(g) > maxObjects {
			t.Fatalf("group %d has %d objects (cap %d)", i, len(g), maxObjects)
		}
		body := EncodeBody(typ, g)
		if len(body) > MaxBodyBytes {
			t.Fatalf("group %d encodes to %d bytes > %d", i, len(body), MaxBodyBytes)
		}
		if want := stdBody(t, typ, g); !bytes.Equal(body, want) {
			t.Fatalf("group %d: EncodeBody differs from encoding/json:\n got %.300q\nwant %.300q", i, body, want)
		}
		if utf8.Valid(body) {
			if back := decodeBody(t, typ, body); !slices.Equal(back, g) {
				t.Fatalf("group %d does not decode back to its objects", i)
			}
		}
		if i+1 < len(groups) && len(g) < maxObjects {
			next := append(slices.Clip(g), groups[i+1][0])
			if n := len(EncodeBody(typ, next)); n <= MaxBodyBytes {
				t.Fatalf("group %d is not full: the next object would fit (%d bytes)", i, n)
			}
		}
		all = append(all, g...)
	}
	if !slices.Equal(all, objects) {
		t.Fatalf("groups hold %d objects in some other order; want the %d objects in order", len(all), len(objects))
	}
}

func TestEncodeBodyExamples(t *testing.T) {
	tests := []struct {
		typ     Type
		objects []string
		want    string
	}{
		{TypeURL, []string{"https://foo1.bar.com/some/path", "http://foo2.bar.com/some/other/path"},
			`{"objects":["https://foo1.bar.com/some/path","http://foo2.bar.com/some/other/path"]}`},
		{TypeCPCode, CPCodes(12345, 98765), `{"objects":[12345,98765]}`},
		{TypeTag, []string{"black-friday", "electronics", "laptops", "tablets"},
			`{"objects":["black-friday","electronics","laptops","tablets"]}`},
		{TypeURL, []string{"https://e.com/?a=1&b=<2>"}, `{"objects":["https://e.com/?a=1&b=<2>"]}`},
		{TypeTag, []string{"a&b"}, `{"objects":["a&b"]}`},
		{TypeURL, nil, `{"objects":[]}`},
	}
	for _, tt := range tests {
		got := EncodeBody(tt.typ, tt.objects)
		if string(got) != tt.want {
			t.Errorf("EncodeBody(%s, %q) = %s; want %s", tt.typ, tt.objects, got, tt.want)
		}
		if size := bodySize(tt.typ, tt.objects); size != len(got) {
			t.Errorf("sizes add up to %d, body is %d", size, len(got))
		}
	}
}

// bodySize is the body size computed from EncodedSize alone.
func bodySize(typ Type, objects []string) int {
	n := bodyOverhead
	for i, o := range objects {
		if i > 0 {
			n++
		}
		n += EncodedSize(typ, o)
	}
	return n
}

// TestEncodeBodyMatchesRequestExamples compares EncodeBody with Akamai's
// example request bodies.
func TestEncodeBodyMatchesRequestExamples(t *testing.T) {
	for _, tt := range []struct {
		file    string
		typ     Type
		objects []string
	}{
		{"post-url.json", TypeURL, []string{"https://foo1.bar.com/some/path", "http://foo2.bar.com/some/other/path"}},
		{"post-cpcode.json", TypeCPCode, CPCodes(12345, 98765)},
		{"post-tag.json", TypeTag, []string{"black-friday", "electronics", "laptops", "tablets"}},
	} {
		t.Run(tt.file, func(t *testing.T) {
			want := readExample(t, tt.file)
			assertJSONEqual(t, EncodeBody(tt.typ, tt.objects), want)
			if got := decodeBody(t, tt.typ, want); !slices.Equal(got, tt.objects) {
				t.Errorf("example decodes to %q", got)
			}
		})
	}
}

// TestEncodeBodyMatchesEncodingJSON compares EncodeBody with encoding/json
// (HTML escaping off) on random strings, including &, <, >, quotes,
// backslashes, control characters, U+2028 and invalid UTF-8.
func TestEncodeBodyMatchesEncodingJSON(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	alphabet := []string{"a", "Z", "0", "/", "?", "&", "<", ">", "=", "%", "\"", "\\", "\n", "\x00", "\x1f", "\x7f",
		"é", "日", "\u2028", "\u2029", "\xff", "\xc3", " ", "'", "`"}
	for i := range 2000 {
		typ := []Type{TypeURL, TypeTag}[i%2]
		objects := make([]string, rng.IntN(6))
		for j := range objects {
			var b strings.Builder
			for range rng.IntN(30) {
				b.WriteString(alphabet[rng.IntN(len(alphabet))])
			}
			objects[j] = b.String()
		}
		got := EncodeBody(typ, objects)
		if want := stdBody(t, typ, objects); !bytes.Equal(got, want) {
			t.Fatalf("EncodeBody(%q)\n got %q\nwant %q", objects, got, want)
		}
		if n := bodySize(typ, objects); n != len(got) {
			t.Fatalf("EncodedSize sum %d != body length %d for %q", n, len(got), objects)
		}
	}
	// The trap this avoids: json.Marshal escapes & to \u0026.
	marshalled, _ := json.Marshal(struct {
		Objects []string `json:"objects"`
	}{[]string{"https://e.com/?a=1&b=2"}})
	if !bytes.Contains(marshalled, []byte(`\u0026`)) {
		t.Fatalf("json.Marshal no longer escapes &: %s", marshalled)
	}
}

func TestPackAmpersandHeavy(t *testing.T) {
	// URLs of about 1 KB with ~250 ampersands each: escaped, each would grow
	// by ~1250 bytes, so packing on escaped sizes would send half-empty
	// requests, and counting unescaped bytes but sending escaped ones
	// would send 413s.
	for _, size := range []int{60, 999, 1000, 1001, 4096} {
		t.Run(fmt.Sprint(size), func(t *testing.T) {
			objects := make([]string, 200)
			for i := range objects {
				u, err := NormalizeObject(TypeURL, ampURL(i, size))
				if err != nil {
					t.Fatal(err)
				}
				objects[i] = u
			}
			groups, err := Pack(TypeURL, objects, 0)
			if err != nil {
				t.Fatal(err)
			}
			checkGroups(t, TypeURL, objects, groups, DefaultMaxObjects[TypeURL])
			for i, g := range groups {
				if body := EncodeBody(TypeURL, g); bytes.Contains(body, []byte(`\u0026`)) {
					t.Fatalf("group %d escapes &", i)
				}
			}
		})
	}
}

func TestPackExactBoundary(t *testing.T) {
	// url returns a URL that adds exactly n bytes to a body.
	url := func(i, n int) string {
		p := fmt.Sprintf("https://e.com/%d/", i)
		return p + strings.Repeat("&", n-2-len(p))
	}
	tests := []struct {
		name       string
		sizes      []int // encoded sizes of the objects
		wantGroups []int // objects per group
	}{
		{"one object of exactly 50000", []int{MaxBodyBytes - bodyOverhead}, []int{1}},
		{"two objects of exactly 50000", []int{25000, MaxBodyBytes - bodyOverhead - 25000 - 1}, []int{2}},
		{"one byte over splits", []int{25000, MaxBodyBytes - bodyOverhead - 25000}, []int{1, 1}},
		{"exact then more", []int{25000, MaxBodyBytes - bodyOverhead - 25000 - 1, 30}, []int{2, 1}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var objects []string
			for i, n := range tt.sizes {
				objects = append(objects, url(i, n))
				if got := EncodedSize(TypeURL, objects[i]); got != n {
					t.Fatalf("object %d adds %d bytes, want %d", i, got, n)
				}
			}
			groups, err := Pack(TypeURL, objects, 0)
			if err != nil {
				t.Fatal(err)
			}
			var got []int
			for _, g := range groups {
				got = append(got, len(g))
			}
			if !slices.Equal(got, tt.wantGroups) {
				t.Fatalf("groups of %v objects; want %v", got, tt.wantGroups)
			}
			checkGroups(t, TypeURL, objects, groups, DefaultMaxObjects[TypeURL])
			if n := len(EncodeBody(TypeURL, groups[0])); n != MaxBodyBytes && tt.wantGroups[0] == len(tt.sizes) {
				t.Errorf("first body is %d bytes, want exactly %d", n, MaxBodyBytes)
			}
		})
	}

	t.Run("an object that cannot fit", func(t *testing.T) {
		var ie *InvalidObjectError
		_, err := Pack(TypeURL, []string{"https://e.com/", url(1, MaxBodyBytes-bodyOverhead+1)}, 0)
		if !errors.As(err, &ie) {
			t.Fatalf("err = %v; want *InvalidObjectError", err)
		}
	})
}

func TestPackMaxObjects(t *testing.T) {
	short := func(n int) []string {
		out := make([]string, n)
		for i := range out {
			out[i] = fmt.Sprintf("https://e.com/%d", i)
		}
		return out
	}
	tests := []struct {
		name       string
		typ        Type
		objects    []string
		maxObjects int
		want       []int
	}{
		// The default URL cap (10,000) cannot bind: 50,000 bytes hold at
		// most 4,545 URLs of "http://a" size.
		{"URL body limit before default cap", TypeURL, short(4000), 0, []int{2433, 1567}},
		{"explicit cap", TypeURL, short(7), 3, []int{3, 3, 1}},
		{"cap of one", TypeTag, []string{"a", "b"}, 1, []int{1, 1}},
		{"default CP code cap", TypeCPCode, cpcodes(601), 0, []int{300, 300, 1}},
		{"default tag cap", TypeTag, tags(5001), 0, []int{5000, 1}},
		{"nothing", TypeTag, nil, 0, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			groups, err := Pack(tt.typ, tt.objects, tt.maxObjects)
			if err != nil {
				t.Fatal(err)
			}
			var got []int
			for _, g := range groups {
				got = append(got, len(g))
			}
			if !slices.Equal(got, tt.want) {
				t.Fatalf("groups of %v; want %v", got, tt.want)
			}
			limit := tt.maxObjects
			if limit <= 0 {
				limit = DefaultMaxObjects[tt.typ]
			}
			checkGroups(t, tt.typ, tt.objects, groups, limit)
		})
	}
}

func cpcodes(n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = fmt.Sprint(100000 + i)
	}
	return out
}

// tags returns n distinct tags of at most 3 characters, so that 5,000 of
// them fit one body.
func tags(n int) []string {
	const digits = "0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
	out := make([]string, n)
	for i := range out {
		var b []byte
		for k := i; ; k /= len(digits) {
			b = append(b, digits[k%len(digits)])
			if k < len(digits) {
				break
			}
		}
		out[i] = string(b)
	}
	return out
}

func TestPackCPCodesAsIntegers(t *testing.T) {
	groups, err := Pack(TypeCPCode, CPCodes(12345, 98765), 0)
	if err != nil || len(groups) != 1 {
		t.Fatalf("Pack = %v, %v", groups, err)
	}
	if got := string(EncodeBody(TypeCPCode, groups[0])); got != `{"objects":[12345,98765]}` {
		t.Errorf("body %s", got)
	}
	// The CP code body limit: 50,000 bytes of 7-digit codes is more than the
	// 300 cap, so the cap decides.
	objects := cpcodes(1000)
	groups, err = Pack(TypeCPCode, objects, 0)
	if err != nil {
		t.Fatal(err)
	}
	checkGroups(t, TypeCPCode, objects, groups, DefaultMaxObjects[TypeCPCode])
}

func TestBatch(t *testing.T) {
	b := NewBatch(TypeTag, 2)
	if b.Type() != TypeTag || b.Len() != 0 || b.Size() != bodyOverhead || b.Full() {
		t.Fatalf("empty batch: %+v", b)
	}
	if !b.Fits("a&b") || !b.Add("a&b") || b.Size() != len(`{"objects":["a&b"]}`) {
		t.Fatalf("after one add: size %d", b.Size())
	}
	if !b.Add("c") || b.Size() != len(b.Body()) || b.Len() != 2 {
		t.Fatalf("after two adds: size %d, body %s", b.Size(), b.Body())
	}
	if b.Add("d") || b.Fits("d") || !b.Full() || b.Len() != 2 {
		t.Fatal("a third object fitted a batch capped at 2")
	}
	if got := string(b.Body()); got != `{"objects":["a&b","c"]}` {
		t.Errorf("Body = %s", got)
	}
}

// objectsFrom turns fuzz input into normalized objects of type typ: one per
// line, invalid ones dropped.
func objectsFrom(typ Type, data string) []string {
	var out []string
	for line := range strings.SplitSeq(data, "\n") {
		if o, err := NormalizeObject(typ, line); err == nil {
			out = append(out, o)
		}
	}
	return out
}

func fuzzSeeds(f *testing.F, add func(data string)) {
	var amp, long strings.Builder
	for i := range 400 {
		fmt.Fprintln(&amp, ampURL(i, 150))
		fmt.Fprintf(&long, "https://www.example.com/articles/%06d/some-slug-of-sixty-bytes\n", i)
	}
	for _, s := range []string{
		"https://foo1.bar.com/some/path\nhttp://foo2.bar.com/some/other/path",
		"12345\n98765\n0\nx",
		"black-friday\nelectronics\nlaptops\ntablets\na&b",
		"https://e.com/?a=1&b=2&c=3\nhttps://e.com/é\n\"quote\"\n<tag>",
		amp.String(),
		long.String(),
		"https://e.com/" + strings.Repeat("&", MaxBodyBytes-bodyOverhead-16) + "\nhttps://e.com/x",
	} {
		add(s)
	}
}

// FuzzPack checks the packing invariants on arbitrary objects of each type
// and arbitrary caps; its seeds cross the 50,000-byte boundary.
func FuzzPack(f *testing.F) {
	fuzzSeeds(f, func(data string) {
		for typ := range uint8(3) {
			f.Add(data, typ, uint16(0))
			f.Add(data, typ, uint16(7))
		}
	})
	f.Fuzz(func(t *testing.T, data string, typ uint8, maxObjects uint16) {
		tp := Types[int(typ)%len(Types)]
		objects := objectsFrom(tp, data)
		groups, err := Pack(tp, objects, int(maxObjects))
		if err != nil {
			t.Fatalf("Pack of normalized objects: %v", err)
		}
		limit := int(maxObjects)
		if limit == 0 {
			limit = DefaultMaxObjects[tp]
		}
		checkGroups(t, tp, objects, groups, limit)
	})
}

// FuzzEncodeBody checks that EncodeBody is valid JSON, byte-identical to
// encoding/json without HTML escaping, sized exactly by EncodedSize, and
// decodes back to the objects.
func FuzzEncodeBody(f *testing.F) {
	fuzzSeeds(f, func(data string) {
		for typ := range uint8(3) {
			f.Add(data, typ)
		}
	})
	f.Add("\u2028\n\xff\n\\\n\x00", uint8(0))
	f.Fuzz(func(t *testing.T, data string, typ uint8) {
		tp := Types[int(typ)%len(Types)]
		objects := strings.Split(data, "\n")
		if tp == TypeCPCode {
			objects = objectsFrom(tp, data) // CP codes must be normalized
		}
		body := EncodeBody(tp, objects)
		if !json.Valid(body) {
			t.Fatalf("invalid JSON: %q", body)
		}
		if want := stdBody(t, tp, objects); !bytes.Equal(body, want) {
			t.Fatalf("EncodeBody\n got %q\nwant %q", body, want)
		}
		if n := bodySize(tp, objects); n != len(body) {
			t.Fatalf("EncodedSize sum %d, body %d", n, len(body))
		}
		if utf8.ValidString(data) {
			if back := decodeBody(t, tp, body); !slices.Equal(back, objects) {
				t.Fatalf("decodes to %q, want %q", back, objects)
			}
		}
	})
}
