package main

import (
	"bytes"
	"context"
	"encoding/json"
	"math"
	"strings"
	"testing"
	"time"
)

// TestEveryFigureTiny runs all six figures at tiny sizes and checks that
// the report is complete and sane: every figure measured, every number
// finite, every ratio positive. It says nothing about the goals: at these
// sizes, on a shared machine, the figures are noise.
func TestEveryFigureTiny(t *testing.T) {
	if testing.Short() {
		t.Skip("builds cmd/consumer and runs the consumer five times")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	var stdout, stderr bytes.Buffer
	args := []string{
		"--json", "--quiet",
		"--rate-events", "300", "--rate-burst", "300",
		"--ingest-events", "2000", "--ingest-distinct-urls", "100",
		"--pack-events", "300",
		"--latency-events", "20", "--latency-gap", "5ms",
		"--backlog-small", "2000", "--backlog-large", "5000",
		"--flood-urls", "50000", "--flood-time-scale", "20",
	}
	code, err := run(ctx, args, &stdout, &stderr)
	if err != nil || code != 0 {
		t.Fatalf("run: code %d, %v\n%s", code, err, stderr.String())
	}
	var rep Report
	if err := json.Unmarshal(stdout.Bytes(), &rep); err != nil {
		t.Fatalf("report is not JSON: %v\n%s", err, stdout.String())
	}
	if len(rep.Figures) != 6 {
		t.Fatalf("%d figures, want 6", len(rep.Figures))
	}
	for i, f := range rep.Figures {
		if f.N != i+1 {
			t.Errorf("figure #%d is numbered %d", i+1, f.N)
		}
		if f.Error != "" {
			t.Errorf("figure %d: %s", f.N, f.Error)
			continue
		}
		if len(f.Checks) == 0 || len(f.Raw) == 0 {
			t.Errorf("figure %d: %d checks, %d raw values", f.N, len(f.Checks), len(f.Raw))
		}
		if !(f.Seconds > 0) {
			t.Errorf("figure %d took %v s", f.N, f.Seconds)
		}
		for _, c := range f.Checks {
			if !finite(c.Value) || c.Value < 0 {
				t.Errorf("figure %d, %s: value %v", f.N, c.Name, c.Value)
			}
			if c.Result != Pass && c.Result != Miss && c.Result != Info {
				t.Errorf("figure %d, %s: result %q", f.N, c.Name, c.Result)
			}
			if (c.Goal == "") != (c.Result == Info) {
				t.Errorf("figure %d, %s: goal %q with result %s", f.N, c.Name, c.Goal, c.Result)
			}
			if c.Ratio != nil && (!finite(*c.Ratio) || *c.Ratio <= 0) {
				t.Errorf("figure %d, %s: ratio %v", f.N, c.Name, *c.Ratio)
			}
			// Every ratio-goal check has its ratio; only a bound of 0
			// (no 429s) has none.
			if c.Ratio == nil && c.Baseline != 0 {
				t.Errorf("figure %d, %s: no ratio against baseline %v", f.N, c.Name, c.Baseline)
			}
		}
		for _, v := range f.Raw {
			if !finite(v.Value) || v.Value < 0 {
				t.Errorf("figure %d, raw %s: %v", f.N, v.Name, v.Value)
			}
		}
	}
	// Headline values that must be positive whatever the machine.
	for _, want := range []struct {
		fig  int
		name string
	}{
		{1, "sustained URL rate after the burst"},
		{2, "consumer drain rate"},
		{3, "purge requests per 10,000 events"},
		{4, "event → 201 latency p99"},
		{5, "peak RSS, 5,000 backlogged"},
		{6, "flood time with escalation ÷ without"},
	} {
		c := findCheck(&rep, want.fig, want.name)
		if c == nil {
			t.Errorf("figure %d has no check %q", want.fig, want.name)
			continue
		}
		if !(c.Value > 0) || c.Ratio == nil {
			t.Errorf("figure %d, %s: value %v, ratio %v", want.fig, want.name, c.Value, c.Ratio)
		}
	}
	if c := findCheck(&rep, 3, "purge requests per 10,000 events"); c != nil && c.Ratio != nil && *c.Ratio < 1 {
		t.Errorf("fewer requests than the packing bound: ratio %v", *c.Ratio)
	}

	var table bytes.Buffer
	if err := rep.WriteTable(&table); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"ratio", "goal", "result", "(1)", "(2)", "(3)", "(4)", "(5)", "(6)"} {
		if !strings.Contains(table.String(), want) {
			t.Errorf("table lacks %q:\n%s", want, table.String())
		}
	}
	t.Logf("\n%s", table.String())
}

func findCheck(rep *Report, fig int, name string) *Check {
	for _, f := range rep.Figures {
		if f.N != fig {
			continue
		}
		for i := range f.Checks {
			if f.Checks[i].Name == name {
				return &f.Checks[i]
			}
		}
	}
	return nil
}

func finite(v float64) bool { return !math.IsNaN(v) && !math.IsInf(v, 0) }

func TestFlags(t *testing.T) {
	var stderr bytes.Buffer
	cfg, err := parseFlags([]string{"--only", "3, 1,3", "--time-scale", "10"}, &stderr)
	if err != nil {
		t.Fatal(err)
	}
	if len(cfg.only) != 2 || cfg.only[0] != 1 || cfg.only[1] != 3 || cfg.timeScale != 10 {
		t.Errorf("only %v, time scale %v", cfg.only, cfg.timeScale)
	}
	for _, bad := range [][]string{
		{"--only", "7"},
		{"--flood-time-scale", "0"},
		{"--only", ","},
		{"--rate-events", "0"},
		{"--time-scale", "-1"},
		{"--transport", "udp"},
		{"extra"},
	} {
		if _, err := parseFlags(bad, &stderr); err == nil {
			t.Errorf("%v: no error", bad)
		}
	}
}

func TestNum(t *testing.T) {
	for v, want := range map[float64]string{
		0: "0", 7: "7", 1234567: "1,234,567", -4321: "-4,321", 12.345: "12.35", 0.98765: "0.9877", 1234.4: "1,234",
	} {
		if got := num(v); got != want {
			t.Errorf("num(%v) = %q, want %q", v, got, want)
		}
	}
}

// TestFloodFigure runs figure 6 alone at a small size: both drains
// finish, every event succeeds, and the escalated drain escalated.
func TestFloodFigure(t *testing.T) {
	if testing.Short() {
		t.Skip("drains two floods against the fake Akamai")
	}
	rep := runReport(t, 2*time.Minute, "--only", "6", "--flood-urls", "50000", "--flood-time-scale", "20")
	if len(rep.Figures) != 1 || rep.Figures[0].Error != "" || len(rep.Figures[0].Notes) != 0 {
		for _, f := range rep.Figures {
			t.Errorf("figure 6: error %q, notes %q", f.Error, f.Notes)
		}
		t.Fatalf("figure 6: %d figures, want 1 without error or notes", len(rep.Figures))
	}
	c := findCheck(&rep, 6, "flood time with escalation ÷ without")
	if c == nil || c.Ratio == nil || !(*c.Ratio > 0) || *c.Ratio >= 1 {
		t.Errorf("flood check %+v: escalation should be faster than without", c)
	}
	// 429s are retried, never lost; that the budget keeps them at zero is
	// TestEscalationFlood's and the pacing tests' to prove, at time scales
	// where a loaded machine's scheduling cannot pass for Akamai's clock.
	if c := findCheck(&rep, 6, "429s (both runs)"); c == nil {
		t.Error("figure 6 reports no 429 count")
	} else {
		t.Logf("429s (both runs): %v", c.Value)
	}
}

// runReport runs the harness with args, --json and --quiet, within
// timeout, and returns its report.
func runReport(t *testing.T, timeout time.Duration, args ...string) Report {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	var stdout, stderr bytes.Buffer
	code, err := run(ctx, append([]string{"--json", "--quiet"}, args...), &stdout, &stderr)
	if err != nil || code != 0 {
		t.Fatalf("run: code %d, %v\n%s", code, err, stderr.String())
	}
	var rep Report
	if err := json.Unmarshal(stdout.Bytes(), &rep); err != nil {
		t.Fatalf("report is not JSON: %v\n%s", err, stdout.String())
	}
	return rep
}
