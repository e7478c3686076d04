// Package flagvalues lists the values that most often break a setting
// (zero, negative, empty, absurd) for every flag of a flag set, so that a
// command's test can try them all and a new flag cannot skip validation.
package flagvalues

import (
	"flag"
	"fmt"
	"strings"
)

// Kind is a class of values every flag is tried with.
type Kind string

// The kinds, in the order they are tried.
const (
	Zero     Kind = "zero"
	Negative Kind = "negative"
	Empty    Kind = "empty"
	Absurd   Kind = "absurd"
)

// Kinds lists every kind.
var Kinds = []Kind{Zero, Negative, Empty, Absurd}

// standard are the values of each kind for the flag package's own value
// types, by their %T. A kind a type lacks is not tried (a bool has no
// negative, and false is every bool's default).
var standard = map[string]map[Kind]string{
	"*flag.stringValue":   {Empty: "", Absurd: "x\ny"},
	"*flag.intValue":      {Zero: "0", Negative: "-1", Empty: "", Absurd: "9223372036854775807"},
	"*flag.int64Value":    {Zero: "0", Negative: "-1", Empty: "", Absurd: "9223372036854775807"},
	"*flag.uintValue":     {Zero: "0", Negative: "-1", Empty: "", Absurd: "18446744073709551615"},
	"*flag.durationValue": {Zero: "0s", Negative: "-1s", Empty: "", Absurd: "2562047h"},
	"*flag.float64Value":  {Zero: "0", Negative: "-1", Empty: "", Absurd: "1e308"},
	"*flag.boolValue":     {Empty: "", Absurd: "maybe"},
}

// DurationLike and SizeLike are the values of custom value types that
// read a duration or a number of bytes.
var (
	DurationLike = standard["*flag.durationValue"]
	SizeLike     = standard["*flag.intValue"]
)

// Case is one value to try on one flag.
type Case struct {
	Flag  *flag.Flag
	Kind  Kind
	Value string
}

// Arg is the case as a command-line argument.
func (c Case) Arg() string { return "--" + c.Flag.Name + "=" + c.Value }

// Cases returns the cases of every flag of fs but those skipped; custom
// gives the values of the command's own value types, by %T. A flag of a
// type neither knows is an error that names it.
func Cases(fs *flag.FlagSet, custom map[string]map[Kind]string, skip ...string) ([]Case, error) {
	var cases []Case
	var unknown []string
	fs.VisitAll(func(f *flag.Flag) {
		for _, s := range skip {
			if s == f.Name {
				return
			}
		}
		typ := fmt.Sprintf("%T", f.Value)
		values, ok := custom[typ]
		if !ok {
			values, ok = standard[typ]
		}
		if !ok {
			unknown = append(unknown, fmt.Sprintf("--%s (%s)", f.Name, typ))
			return
		}
		for _, k := range Kinds {
			if v, ok := values[k]; ok {
				cases = append(cases, Case{Flag: f, Kind: k, Value: v})
			}
		}
	})
	if len(unknown) > 0 {
		return cases, fmt.Errorf("flags of value types without values to try: %s; add their zero, negative, empty and absurd values", strings.Join(unknown, ", "))
	}
	return cases, nil
}

// Verdict judges how a command took a case: refused says it was refused,
// with msg; reason and listed say whether the value is a setting rather
// than a mistake, and why. It returns the problem, or "".
func Verdict(c Case, refused bool, msg string, reason string, listed bool) string {
	switch {
	case !refused && !listed:
		return fmt.Sprintf("--%s=%q (%s) was accepted: validate it, or list it as meaningful with the reason it is a setting", c.Flag.Name, c.Value, c.Kind)
	case refused && listed:
		return fmt.Sprintf("--%s=%q is listed as meaningful (%s) but refused: %s", c.Flag.Name, c.Value, reason, msg)
	case refused && !strings.Contains(msg, "-"+c.Flag.Name):
		return fmt.Sprintf("--%s=%q: the error does not name the flag: %s", c.Flag.Name, c.Value, msg)
	}
	return ""
}
