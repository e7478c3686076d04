package main

import "testing"

func TestVersionRequested(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want bool
	}{
		{nil, false},
		{[]string{"--version"}, true},
		{[]string{"-version"}, true},
		{[]string{"--sandbox", "--version"}, true},
		{[]string{"--sandbox"}, false},
		{[]string{"--", "--version"}, false},
		{[]string{"--versions"}, false},
	} {
		if got := versionRequested(tc.args); got != tc.want {
			t.Errorf("versionRequested(%q) = %v, want %v", tc.args, got, tc.want)
		}
	}
}
