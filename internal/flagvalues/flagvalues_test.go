package flagvalues

import (
	"flag"
	"strings"
	"testing"
	"time"
)

type custom struct{}

func (custom) String() string   { return "" }
func (custom) Set(string) error { return nil }

func TestCases(t *testing.T) {
	fs := flag.NewFlagSet("x", flag.ContinueOnError)
	fs.Int("n", 1, "")
	fs.Bool("b", false, "")
	fs.Duration("d", time.Second, "")
	fs.String("skipped", "", "")
	fs.Var(custom{}, "c", "")
	cases, err := Cases(fs, nil, "skipped")
	if err == nil || !strings.Contains(err.Error(), "--c (flagvalues.custom)") {
		t.Errorf("an unknown value type: %v", err)
	}
	got := map[string]int{}
	for _, c := range cases {
		got[c.Flag.Name]++
	}
	if got["n"] != 4 || got["d"] != 4 || got["b"] != 2 || got["skipped"] != 0 || got["c"] != 0 {
		t.Errorf("cases per flag %v", got)
	}
	if cases, err := Cases(fs, map[string]map[Kind]string{"flagvalues.custom": {Empty: ""}}, "skipped"); err != nil || len(cases) != 11 {
		t.Errorf("with the custom type: %d cases, %v", len(cases), err)
	}
}

func TestVerdict(t *testing.T) {
	c := Case{Flag: &flag.Flag{Name: "n"}, Kind: Zero, Value: "0"}
	for _, tc := range []struct {
		refused, listed bool
		msg, want       string
	}{
		{false, false, "", "was accepted"},
		{true, true, "--n must be", "listed as meaningful"},
		{true, false, "bad value", "does not name the flag"},
		{true, false, "--n must be positive", ""},
		{false, true, "", ""},
	} {
		got := Verdict(c, tc.refused, tc.msg, "why", tc.listed)
		if tc.want == "" && got != "" || !strings.Contains(got, tc.want) {
			t.Errorf("Verdict(refused %v, listed %v, %q) = %q, want %q", tc.refused, tc.listed, tc.msg, got, tc.want)
		}
	}
}
