package events

import (
	"strings"
	"testing"
	"unicode/utf8"
)

// TestCutJSON checks cutJSON against the encoder itself: the cut text,
// quoted, fits; it is the text or a beginning of it cut between
// characters; and jsonSize is what appendJSONString writes.
func TestCutJSON(t *testing.T) {
	inputs := append([]string{"", "abc", strings.Repeat("\x01", 300), strings.Repeat("\"\\", 200), "\xff\xfe\u2028é\u2029" + strings.Repeat("ü", 100)}, trickyStrings...)
	for _, s := range inputs {
		if got, want := jsonSize(s), len(appendJSONString(nil, s))-2; got != want {
			t.Errorf("jsonSize(%q) = %d, appendJSONString writes %d", s, got, want)
		}
		for _, n := range []int{0, 1, 3, 4, 5, 7, 16, 64, 1024} {
			c := cutJSON(s, n)
			if c == s {
				if jsonSize(s) > n {
					t.Errorf("cutJSON(%q, %d) kept %d bytes of JSON", s, n, jsonSize(s))
				}
				continue
			}
			body, ok := strings.CutSuffix(c, "…")
			if c != "" && (!ok || !strings.HasPrefix(s, body) || utf8.ValidString(s) && !utf8.ValidString(body)) {
				t.Errorf("cutJSON(%q, %d) = %q, not a beginning of it with an ellipsis", s, n, c)
			}
			if jsonSize(c) > n {
				t.Errorf("cutJSON(%q, %d) = %q takes %d bytes of JSON", s, n, c, jsonSize(c))
			}
		}
	}
}
