package main

import (
	"math"
	"strings"
	"testing"
	"time"
)

// TestTrend: the least-squares slope per hour of exact lines, and of a
// flat series with noise.
func TestTrend(t *testing.T) {
	line := func(perHour, at0 float64, noise ...float64) []soakSample {
		var out []soakSample
		for i := range 60 {
			at := time.Duration(i) * 30 * time.Second
			v := at0 + perHour*at.Hours()
			if len(noise) > 0 {
				v += noise[i%len(noise)]
			}
			out = append(out, soakSample{at: at, rssMiB: v})
		}
		return out
	}
	rss := func(s soakSample) float64 { return s.rssMiB }
	for _, tc := range []struct {
		samples       []soakSample
		mean, perHour float64
		tolerance     float64
	}{
		{line(0, 80), 80, 0, 1e-9},
		{line(12, 50), 50 + 12*29.5*30/3600, 12, 1e-9},
		{line(-6, 90), 90 - 6*29.5*30/3600, -6, 1e-9},
		{line(0, 80, 3, -3, 2, -2), 80, 0, 1},
	} {
		mean, perHour := trend(tc.samples, rss)
		if math.Abs(mean-tc.mean) > tc.tolerance+1e-9 || math.Abs(perHour-tc.perHour) > tc.tolerance {
			t.Errorf("trend = %v, %v/h; want %v, %v/h", mean, perHour, tc.mean, tc.perHour)
		}
	}
	if _, perHour := trend(line(5, 1)[:1], rss); perHour != 0 {
		t.Errorf("one sample: slope %v", perHour)
	}
}

// TestSoakTiny runs figure 7 for a few seconds against the real
// cmd/consumer: every event published gets its result, and the report
// has the three slopes. Their values at this length say nothing.
func TestSoakTiny(t *testing.T) {
	if testing.Short() {
		t.Skip("builds cmd/consumer and runs it")
	}
	rep := runReport(t, 3*time.Minute, "--soak", "4s", "--soak-every", "1s", "--soak-rate", "50")
	if len(rep.Figures) != 1 || rep.Figures[0].N != 7 || rep.Figures[0].Error != "" {
		t.Fatalf("figures %+v", rep.Figures)
	}
	f := rep.Figures[0]
	raw := map[string]float64{}
	for _, v := range f.Raw {
		raw[v.Name] = v.Value
	}
	if raw["events published"] < 100 || raw["results stored"] < raw["events published"] || raw["samples"] < 4 {
		t.Errorf("raw values %v", raw)
	}
	var slopes int
	for _, c := range f.Checks {
		if strings.Contains(c.Name, "slope per hour") && c.Ratio != nil {
			slopes++
		}
	}
	if slopes != 3 {
		t.Errorf("%d slopes in %+v, want 3 (RSS, heap, goroutines)", slopes, f.Checks)
	}
}
