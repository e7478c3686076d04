package main

import (
	"errors"
	"flag"
	"fmt"
	"strings"
	"time"
)

// setErrorReason explains a flag value that did not parse: the flag
// package says only "parse error" or "value out of range".
func setErrorReason(f *flag.Flag, err error) string {
	var want string
	if g, ok := f.Value.(flag.Getter); ok {
		switch g.Get().(type) {
		case bool:
			want = "want true or false"
		case int, int64, uint, uint64:
			want = "want a whole number"
		case time.Duration:
			want = "want a duration such as 500ms, 30s or 5m"
		}
	}
	switch msg := err.Error(); {
	case want == "":
		return msg
	case msg == "value out of range":
		return "out of range; " + want
	case msg == "parse error" || strings.HasPrefix(msg, "strconv.") || strings.HasPrefix(msg, "time:"):
		return want
	default:
		return msg + "; " + want
	}
}

// explainParseError rewrites the flag package's "invalid value "x" for
// flag -name: parse error" (and its boolean form), which does not say
// what was wanted.
func explainParseError(fs *flag.FlagSet, err error) error {
	msg := err.Error()
	rest, ok := strings.CutPrefix(msg, "invalid value ")
	if !ok {
		if rest, ok = strings.CutPrefix(msg, "invalid boolean value "); !ok {
			return err
		}
	}
	i := strings.LastIndex(rest, " for ")
	if i < 0 {
		return err
	}
	name, _, _ := strings.Cut(strings.TrimPrefix(rest[i+len(" for "):], "flag "), ": ")
	name = strings.TrimLeft(name, "-")
	f := fs.Lookup(name)
	if f == nil {
		return err
	}
	value := rest[:i]
	if secretFlags[name] {
		value = "[redacted]"
	}
	_, cause, _ := strings.Cut(rest[i:], ": ")
	return fmt.Errorf("--%s %s: %s", name, value, setErrorReason(f, errors.New(cause)))
}
