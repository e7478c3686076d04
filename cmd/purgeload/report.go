package main

import (
	"encoding/json"
	"fmt"
	"io"
	"math"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"
)

// Report is one run of the harness: every figure asked for, measured in
// this run, each against a baseline or bound of the same run.
type Report struct {
	Started    time.Time `json:"started"`
	Seconds    float64   `json:"seconds"`
	Command    string    `json:"command"`
	GoVersion  string    `json:"go_version"`
	CPUs       int       `json:"cpus"`
	GOMAXPROCS int       `json:"gomaxprocs"`
	// LoadBefore and LoadAfter are the 1-minute load averages at the
	// start and the end: other work on the machine skews every figure.
	LoadBefore float64   `json:"load_before"`
	LoadAfter  float64   `json:"load_after"`
	Figures    []*Figure `json:"figures"`
}

// Figure is one of the five figures: checks with goals, the raw numbers
// behind them, and notes.
type Figure struct {
	N       int      `json:"figure"`
	Title   string   `json:"title"`
	Checks  []Check  `json:"checks"`
	Raw     []Value  `json:"raw"`
	Notes   []string `json:"notes,omitempty"`
	Seconds float64  `json:"seconds"`
	Error   string   `json:"error,omitempty"`
}

// Check is one measured value against a baseline or bound, with its goal.
type Check struct {
	Name  string  `json:"name"`
	Value float64 `json:"value"`
	Unit  string  `json:"unit"`
	// Baseline is what Ratio divides by, measured or computed in the
	// same run; BaselineWhat says what it is.
	Baseline     float64  `json:"baseline,omitempty"`
	BaselineUnit string   `json:"baseline_unit,omitempty"`
	BaselineWhat string   `json:"baseline_what,omitempty"`
	Ratio        *float64 `json:"ratio,omitempty"`
	Goal         string   `json:"goal,omitempty"`
	// Result is PASS or MISS against Goal, or INFO for a check without
	// a goal.
	Result string `json:"result"`
}

// Value is one raw number.
type Value struct {
	Name  string  `json:"name"`
	Value float64 `json:"value"`
	Unit  string  `json:"unit,omitempty"`
}

// Results of a check.
const (
	Pass = "PASS"
	Miss = "MISS"
	Info = "INFO"
)

// goal is a bound on a check's ratio, or on its value when onValue.
type goal struct {
	op      string // ">=", "<=" or "=="
	bound   float64
	onValue bool
}

func (g goal) met(v float64) bool {
	if math.IsNaN(v) || math.IsInf(v, 0) {
		return false
	}
	switch g.op {
	case ">=":
		return v >= g.bound
	case "<=":
		return v <= g.bound
	default:
		return v == g.bound
	}
}

func (g goal) text(unit string) string {
	op := map[string]string{">=": "≥", "<=": "≤", "==": "="}[g.op]
	if g.onValue {
		return fmt.Sprintf("%s %s %s", op, num(g.bound), unit)
	}
	return fmt.Sprintf("ratio %s %s", op, strconv.FormatFloat(g.bound, 'f', -1, 64))
}

func (f *Figure) raw(name string, v float64, unit string) {
	f.Raw = append(f.Raw, Value{Name: name, Value: v, Unit: unit})
}

func (f *Figure) note(format string, args ...any) {
	f.Notes = append(f.Notes, fmt.Sprintf(format, args...))
}

// ratio adds a check of value ÷ baseline against g (a goal on the ratio,
// or nil for information only).
func (f *Figure) ratio(name string, value float64, unit string, baseline float64, baseUnit, baseWhat string, g *goal) {
	r := value / baseline
	c := Check{Name: name, Value: value, Unit: unit, Baseline: baseline, BaselineUnit: baseUnit, BaselineWhat: baseWhat, Result: Info}
	if !math.IsNaN(r) && !math.IsInf(r, 0) {
		c.Ratio = &r
	}
	if g != nil {
		c.Goal = g.text(unit)
		c.Result = Miss
		if g.met(r) {
			c.Result = Pass
		}
	}
	f.Checks = append(f.Checks, c)
}

// absolute adds a check of value against a goal on the value itself.
func (f *Figure) absolute(name string, value float64, unit string, g goal) {
	g.onValue = true
	c := Check{Name: name, Value: value, Unit: unit, Baseline: g.bound, BaselineUnit: unit, BaselineWhat: "bound", Goal: g.text(unit), Result: Miss}
	if g.bound != 0 {
		r := value / g.bound
		c.Ratio = &r
	}
	if g.met(value) {
		c.Result = Pass
	}
	f.Checks = append(f.Checks, c)
}

// Misses counts the checks that missed their goal and the figures that
// failed to run.
func (r *Report) Misses() int {
	n := 0
	for _, f := range r.Figures {
		if f.Error != "" {
			n++
		}
		for _, c := range f.Checks {
			if c.Result == Miss {
				n++
			}
		}
	}
	return n
}

// WriteJSON writes the report as indented JSON.
func (r *Report) WriteJSON(w io.Writer) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(r)
}

// WriteTable writes the report as a table, the raw numbers and notes of
// each figure below it.
func (r *Report) WriteTable(w io.Writer) error {
	fmt.Fprintf(w, "purgeload %s — %s, %d CPUs (GOMAXPROCS %d), load average %.2f → %.2f, %.0f s\n",
		r.Started.Format(time.RFC3339), r.GoVersion, r.CPUs, r.GOMAXPROCS, r.LoadBefore, r.LoadAfter, r.Seconds)
	fmt.Fprintf(w, "command: %s\n", r.Command)
	if float64(r.CPUs) < r.LoadBefore || float64(r.CPUs) < r.LoadAfter {
		fmt.Fprintf(w, "note: the load average exceeds the CPUs: other work competed with this run; expect noise\n")
	}
	fmt.Fprintln(w)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "#\tcheck\tmeasured\tbaseline / bound (same run)\tratio\tgoal\tresult")
	for _, f := range r.Figures {
		if f.Error != "" {
			fmt.Fprintf(tw, "%d\t%s\t-\t-\t-\t-\tERROR\n", f.N, f.Title)
			continue
		}
		for _, c := range f.Checks {
			base := "-"
			if c.BaselineWhat != "" {
				base = fmt.Sprintf("%s %s (%s)", num(c.Baseline), c.BaselineUnit, c.BaselineWhat)
			}
			ratio := "-"
			if c.Ratio != nil {
				ratio = strconv.FormatFloat(*c.Ratio, 'f', 3, 64)
			}
			g := c.Goal
			if g == "" {
				g = "-"
			}
			fmt.Fprintf(tw, "%d\t%s\t%s %s\t%s\t%s\t%s\t%s\n", f.N, c.Name, num(c.Value), c.Unit, base, ratio, g, c.Result)
		}
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	for _, f := range r.Figures {
		fmt.Fprintf(w, "\n(%d) %s — %.1f s\n", f.N, f.Title, f.Seconds)
		if f.Error != "" {
			fmt.Fprintf(w, "    ERROR: %s\n", f.Error)
		}
		for _, v := range f.Raw {
			fmt.Fprintf(w, "    %-44s %s %s\n", v.Name, num(v.Value), v.Unit)
		}
		for _, n := range f.Notes {
			fmt.Fprintf(w, "    note: %s\n", n)
		}
	}
	return nil
}

// num formats a number for people: thousands separated, a few
// significant decimals for small values.
func num(v float64) string {
	switch {
	case math.IsNaN(v) || math.IsInf(v, 0):
		return strconv.FormatFloat(v, 'f', -1, 64)
	case v == math.Trunc(v) && math.Abs(v) < 1e15:
		return group(strconv.FormatFloat(v, 'f', 0, 64))
	case math.Abs(v) >= 100:
		return group(strconv.FormatFloat(v, 'f', 0, 64))
	case math.Abs(v) >= 1:
		return strconv.FormatFloat(v, 'f', 2, 64)
	default:
		return strconv.FormatFloat(v, 'f', 4, 64)
	}
}

// group puts thousands separators into an integer's digits.
func group(s string) string {
	neg := strings.HasPrefix(s, "-")
	s = strings.TrimPrefix(s, "-")
	var b strings.Builder
	for i, c := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(c)
	}
	if neg {
		return "-" + b.String()
	}
	return b.String()
}
