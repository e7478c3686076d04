package edgegrid

import (
	"errors"
	"maps"
	"strings"
	"testing"
)

func TestParseEdgerc(t *testing.T) {
	const secret = "abc+def/ghi=jkl=="
	tests := []struct {
		name string
		in   string
		want map[string]map[string]string
	}{
		{
			name: "plain",
			in:   "[ccu]\nhost = h.luna.akamaiapis.net\nclient_secret = " + secret + "\n",
			want: map[string]map[string]string{"ccu": {"host": "h.luna.akamaiapis.net", "client_secret": secret}},
		},
		{
			name: "no spaces, CRLF, BOM, colon separator",
			in:   "\uFEFF[ccu]\r\nclient_secret=" + secret + "\r\nhost: h\r\n",
			want: map[string]map[string]string{"ccu": {"client_secret": secret, "host": "h"}},
		},
		{
			name: "quoted values keep comment characters and spaces",
			in:   "[ccu]\na = \"x ; y # z \" ; comment\nb = 'q=1' # comment\nc = \"\"\n",
			want: map[string]map[string]string{"ccu": {"a": "x ; y # z ", "b": "q=1", "c": ""}},
		},
		{
			name: "comments",
			in:   "; top\n# top\n[ccu] ; section comment\n  ; indented\nhost = h ; inline\ntoken = t # inline\nkey = a#b;c\nempty = ; nothing\n",
			want: map[string]map[string]string{"ccu": {"host": "h", "token": "t", "key": "a#b;c", "empty": ""}},
		},
		{
			name: "keys lower-cased, sections not; repeated section merges, last key wins",
			in:   "[CCU]\nHOST = a\n[default]\nhost = d\n[CCU]\nhost = b\nMax-Body = 1\n",
			want: map[string]map[string]string{"CCU": {"host": "b", "max-body": "1"}, "default": {"host": "d"}},
		},
		{
			name: "empty",
			in:   "",
			want: map[string]map[string]string{},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseEdgerc(strings.NewReader(tt.in))
			if err != nil {
				t.Fatal(err)
			}
			if !maps.EqualFunc(got, tt.want, func(a, b map[string]string) bool { return maps.Equal(a, b) }) {
				t.Errorf("got %v, want %v", got, tt.want)
			}
		})
	}
}

func TestParseEdgercErrors(t *testing.T) {
	const secret = "s3cr3t+value/xyz"
	tests := []struct {
		name string
		in   string
		line int
	}{
		{"line without separator", "[ccu]\nhost = h\n" + secret + "\n", 3},
		{"unterminated section", "[ccu\nhost = h\n", 1},
		{"empty section", "[ ]\n", 1},
		{"text after section", "[ccu] " + secret + "\n", 1},
		{"key before section", "client_secret = " + secret + "\n[ccu]\n", 1},
		{"pasted secret with '=' before section", secret + "==\n[ccu]\n", 1},
		{"pasted secret with '=' and a quote", "[ccu]\n" + secret + "= \"x\n", 2},
		{"missing key", "[ccu]\n = " + secret + "\n", 2},
		{"unterminated quote", "[ccu]\nclient_secret = \"" + secret + "\n", 2},
		{"text after quote", "[ccu]\nclient_secret = '" + secret + "' " + secret + "\n", 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := ParseEdgerc(strings.NewReader(tt.in))
			var pe *ParseError
			if !errors.As(err, &pe) {
				t.Fatalf("err = %v, want *ParseError", err)
			}
			if pe.Line != tt.line {
				t.Errorf("line = %d, want %d (%v)", pe.Line, tt.line, err)
			}
			if strings.Contains(err.Error(), secret) {
				t.Errorf("error leaks the value: %v", err)
			}
		})
	}
}
