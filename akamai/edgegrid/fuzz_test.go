package edgegrid

import (
	"bufio"
	"errors"
	"fmt"
	"io/fs"
	"maps"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
)

// fuzzEdgercSeeds cover every branch of ParseEdgerc; with f.Add they run
// in every `go test`, and they are where `go test -fuzz` starts.
var fuzzEdgercSeeds = []string{
	"[ccu]\nhost = akab-h.luna.akamaiapis.net\nclient_token = akab-ct\nclient_secret = abc+def/ghi=jkl==\naccess_token = akab-at\nmax-body = 131072\n",
	"[default]\nhost: https://akab-h.luna.akamaiapis.net/\nclient_token: ct\nclient_secret: s\naccess_token: at\nmax_body = 50000\naccount_key = 1-ABC\n",
	"\ufeff; comment\n# comment\n\n[ccu]\r\nhost = \"h.example\" ; quoted\r\nclient_secret = 's;#\"x' # comment\r\n",
	"[ccu]\nclient_secret = a;b#c ; comment\naccess_token = a\t#comment\nclient_token = \"\"\nhost=\n",
	"[a]\nk = 1\n[b]\nk = 2\n[a]\nk = 3\nK = 4\n",
	"[ s p a c e ] ; trailing comment\nhost = h\n",
	"[ccu\nhost = h\n",
	"[]\n",
	"[ccu] junk\n",
	"host = h\n",
	"client_secret = s\n",
	"[ccu]\njust text\n",
	"[ccu]\n= value\n",
	"[ccu]\nhost = \"unterminated\n",
	"[ccu]\nhost = 'a' b\n",
	"[ccu]\nhost = \"a\" ; ok\nclient_secret = '\"'\naccess_token = \"'\"\n",
	"[ccu]\nmax_body = x\nhost=h\nclient_token=c\nclient_secret=s\naccess_token=a\n",
	"[ccu]\nmax_body = -1\nhost=h\nclient_token=c\nclient_secret=s\naccess_token=a\n",
	"[ccu]\nmax_body = 99999999999999999999\nhost=h\nclient_token=c\nclient_secret=s\naccess_token=a\n",
	"[ccu]\nhost = HTTPS://h.example//\nclient_token=c\nclient_secret=s\naccess_token=a\n",
	"[ccu]\nclient_secret = \u00e9\u00a0;x\nhost = \u0130\n",
	"[ccu]\n" + strings.Repeat("x", bufio.MaxScanTokenSize) + "\n",
	// Found by fuzzing: a line that fits the 64 KiB line limit but whose
	// written form does not (here the key grows when lower-cased).
	"[ccu]\n" + strings.Repeat("\u023a", 30000) + " = v\n",
	"[ccu]\n" + strings.Repeat("x", bufio.MaxScanTokenSize-4) + ":v\n",
}

// FuzzParseEdgerc checks ParseEdgerc (and Load over it) on arbitrary text:
// no panic; errors are typed and never quote the text (a ParseError's
// reason is one of a fixed set); what parses is in canonical form and
// comes back unchanged after being written as .edgerc text and parsed
// again; and a section's credentials loaded from the file come back
// unchanged from an .edgerc written from them.
func FuzzParseEdgerc(f *testing.F) {
	for i, s := range fuzzEdgercSeeds {
		f.Add(s, uint8(i))
	}
	dir := f.TempDir()
	f.Fuzz(func(t *testing.T, text string, pick uint8) {
		sections, err := ParseEdgerc(strings.NewReader(text))
		if err != nil {
			checkParseEdgercError(t, text, err)
			return
		}
		for name, keys := range sections {
			if name == "" || name != strings.TrimSpace(name) || strings.ContainsAny(name, "]\n") {
				t.Fatalf("section name %q is not canonical", name)
			}
			for k, v := range keys {
				if k == "" || k != strings.TrimSpace(k) || k != strings.ToLower(k) || strings.ContainsAny(k, "=:\n") {
					t.Fatalf("key %q is not canonical", k)
				}
				if strings.Contains(v, "\n") {
					t.Fatalf("value of %s holds a newline", k)
				}
			}
		}
		written, err := formatEdgerc(sections)
		if err != nil {
			t.Fatalf("parsed sections cannot be written back: %v", err)
		}
		if !fitsScanner(written) {
			// Lower-casing can lengthen a key (U+023A is 2 bytes, its
			// lower case 3; an invalid byte becomes 3-byte U+FFFD), so a
			// line just under the parser's 64 KiB line limit may not fit
			// once written. No real .edgerc comes near.
			return
		}
		again, err := ParseEdgerc(strings.NewReader(written))
		if err != nil {
			t.Fatalf("re-parsing the written .edgerc: %v\n%s", err, written)
		}
		if !maps.EqualFunc(sections, again, maps.Equal) {
			t.Fatalf("round trip changed the sections:\n%q\n%q", sections, again)
		}
		checkLoadRoundTrip(t, dir, text, sections, pick)
	})
}

// knownKey is how an error may name a key: only well-known keys by name,
// since anything else could be a pasted secret.
const knownKey = `(key (host|client_token|client_secret|access_token|max_body|max-body|account_key|account-key|headers_to_sign)|an unrecognised key)`

var parseReason = regexp.MustCompile(`^(unterminated section header|empty section name|unexpected text after section header|` +
	`expected key = value|missing key before '='|` + knownKey + ` outside of any \[section\]|` +
	`(unterminated quoted value|unexpected text after quoted value) for ` + knownKey + `)$`)

func checkParseEdgercError(t *testing.T, text string, err error) {
	t.Helper()
	var pe *ParseError
	if !errors.As(err, &pe) {
		// The only reading error a strings.Reader can cause: a line
		// longer than bufio.Scanner's buffer.
		if !errors.Is(err, bufio.ErrTooLong) {
			t.Fatalf("error %T %v, want a *ParseError or bufio.ErrTooLong", err, err)
		}
		return
	}
	if lines := strings.Count(text, "\n") + 1; pe.Line < 1 || pe.Line > lines {
		t.Fatalf("error on line %d of %d", pe.Line, lines)
	}
	if !parseReason.MatchString(pe.Reason) {
		t.Fatalf("unexpected reason %q: it may quote the file", pe.Reason)
	}
	if want := fmt.Sprintf("edgegrid: .edgerc line %d: %s", pe.Line, pe.Reason); err.Error() != want || pe.Path != "" {
		t.Fatalf("error %q (path %q), want %q", err, pe.Path, want)
	}
}

// checkLoadRoundTrip loads one section (chosen by pick) of text from a
// file with an empty environment; its credentials, written as .edgerc
// text and loaded again, must come back unchanged.
func checkLoadRoundTrip(t *testing.T, dir, text string, sections map[string]map[string]string, pick uint8) {
	t.Helper()
	section := DefaultSection
	if names := slices.Sorted(maps.Keys(sections)); len(names) > 0 {
		section = names[int(pick)%len(names)]
	}
	load := func(content string) (Credentials, error) {
		path := filepath.Join(dir, "edgerc")
		if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		return Load(LoadOptions{
			Path:      path,
			Section:   section,
			LookupEnv: func(string) (string, bool) { return "", false },
			HomeDir:   func() (string, error) { return "", fs.ErrNotExist },
		})
	}
	c, err := load(text)
	if err != nil {
		var (
			missing *MissingCredentialsError
			invalid *InvalidValueError
		)
		if !errors.As(err, &missing) && !errors.As(err, &invalid) {
			t.Fatalf("Load error %T %v, want *MissingCredentialsError or *InvalidValueError", err, err)
		}
		return
	}
	if err := c.Validate(); err != nil {
		t.Fatalf("Load returned credentials that do not validate: %v", err)
	}
	written, err := formatEdgerc(map[string]map[string]string{section: {
		"host":          c.Host,
		"client_token":  c.ClientToken,
		"client_secret": c.ClientSecret,
		"access_token":  c.AccessToken,
		"max_body":      strconv.Itoa(c.MaxBody),
		"account_key":   c.AccountKey,
	}})
	if err != nil {
		t.Fatalf("loaded credentials cannot be written: %v", err)
	}
	if !fitsScanner(written) {
		return
	}
	back, err := load(written)
	if err != nil {
		t.Fatalf("loading the written credentials: %v\n%s", err, written)
	}
	if back != c {
		t.Fatalf("credentials changed on the round trip through .edgerc text:\n%#v\n%#v\n(host %q → %q)", c, back, c.Host, back.Host)
	}
}

// fitsScanner reports whether every line of text is within the line
// length ParseEdgerc reads (bufio.Scanner's default buffer).
func fitsScanner(text string) bool {
	for line := range strings.SplitSeq(text, "\n") {
		if len(line)+1 >= bufio.MaxScanTokenSize {
			return false
		}
	}
	return true
}

// formatEdgerc writes sections as .edgerc text that ParseEdgerc reads
// back as the same sections: values are written bare when they read back
// bare, else quoted with a quote character they do not contain.
func formatEdgerc(sections map[string]map[string]string) (string, error) {
	var b strings.Builder
	for _, name := range slices.Sorted(maps.Keys(sections)) {
		fmt.Fprintf(&b, "[%s]\n", name)
		keys := sections[name]
		for _, k := range slices.Sorted(maps.Keys(keys)) {
			v, err := edgercValue(keys[k])
			if err != nil {
				return "", fmt.Errorf("[%s] %s: %w", name, k, err)
			}
			fmt.Fprintf(&b, "%s = %s\n", k, v)
		}
	}
	return b.String(), nil
}

func edgercValue(v string) (string, error) {
	bare := v == strings.TrimSpace(v) && (v == "" || !strings.ContainsRune("\"';#", rune(v[0])))
	for i := 1; bare && i < len(v); i++ {
		if (v[i] == ';' || v[i] == '#') && (v[i-1] == ' ' || v[i-1] == '\t') {
			bare = false // would start an inline comment
		}
	}
	switch {
	case bare:
		return v, nil
	case !strings.Contains(v, `"`):
		return `"` + v + `"`, nil
	case !strings.Contains(v, "'"):
		return "'" + v + "'", nil
	}
	return "", errors.New("value needs quoting but holds both quote characters")
}

// TestFormatEdgerc pins the writer the fuzz target relies on, so that a
// round-trip failure there is the parser's, not the writer's.
func TestFormatEdgerc(t *testing.T) {
	tests := []struct {
		value, want string
	}{
		{"plain", "k = plain\n"},
		{"abc+def/ghi=jkl==", "k = abc+def/ghi=jkl==\n"},
		{"a;b#c", "k = a;b#c\n"},
		{"", "k = \n"},
		{" padded ", "k = \" padded \"\n"},
		{"a ;b", "k = \"a ;b\"\n"},
		{"a\t#b", "k = \"a\t#b\"\n"},
		{"#a", "k = \"#a\"\n"},
		{`"q`, "k = '\"q'\n"},
		{`a"b'c`, "k = a\"b'c\n"},
	}
	for _, tt := range tests {
		got, err := formatEdgerc(map[string]map[string]string{"s": {"k": tt.value}})
		if err != nil || got != "[s]\n"+tt.want {
			t.Errorf("value %q written as %q, %v; want %q", tt.value, got, err, "[s]\n"+tt.want)
			continue
		}
		back, err := ParseEdgerc(strings.NewReader(got))
		if err != nil || back["s"]["k"] != tt.value {
			t.Errorf("value %q read back as %q, %v", tt.value, back["s"]["k"], err)
		}
	}
	if _, err := formatEdgerc(map[string]map[string]string{"s": {"k": ` "'`}}); err == nil {
		t.Error("a value that needs quoting and holds both quotes was written")
	}
}
