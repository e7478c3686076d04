package metrics_test

import (
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

// scraper serves a registry over real HTTP, as /metrics would.
type scraper struct {
	t   *testing.T
	url string
}

func newScraper(t *testing.T, g prometheus.Gatherer) *scraper {
	t.Helper()
	srv := httptest.NewServer(promhttp.HandlerFor(g, promhttp.HandlerOpts{ErrorHandling: promhttp.ContinueOnError}))
	t.Cleanup(srv.Close)
	return &scraper{t: t, url: srv.URL}
}

// scrape fetches and parses the text exposition.
func (s *scraper) scrape() families {
	s.t.Helper()
	resp, err := http.Get(s.url)
	if err != nil {
		s.t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		s.t.Fatal(err)
	}
	if resp.StatusCode != http.StatusOK {
		s.t.Fatalf("scrape: %s: %s", resp.Status, body)
	}
	p := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := p.TextToMetricFamilies(strings.NewReader(string(body)))
	if err != nil {
		s.t.Fatalf("parse scrape: %v\n%s", err, body)
	}
	return families{t: s.t, m: fams}
}

type families struct {
	t *testing.T
	m map[string]*dto.MetricFamily
}

// labels is a flat list of label name, value pairs.
type labels []string

func (l labels) String() string {
	var b strings.Builder
	for i := 0; i+1 < len(l); i += 2 {
		if i > 0 {
			b.WriteByte(',')
		}
		fmt.Fprintf(&b, "%s=%q", l[i], l[i+1])
	}
	return "{" + b.String() + "}"
}

// find returns the series of name whose labels are exactly ls, or nil.
func (f families) find(name string, ls labels) *dto.Metric {
	mf := f.m[name]
	if mf == nil {
		return nil
	}
	for _, m := range mf.GetMetric() {
		if len(m.GetLabel())*2 != len(ls) {
			continue
		}
		match := true
		for _, lp := range m.GetLabel() {
			i := slices.Index(ls, lp.GetName())
			if i < 0 || i%2 != 0 || ls[i+1] != lp.GetValue() {
				match = false
				break
			}
		}
		if match {
			return m
		}
	}
	return nil
}

// value returns the value of a counter or gauge series, or the sample
// count of a histogram; the series must exist.
func (f families) value(name string, ls labels) float64 {
	f.t.Helper()
	m := f.find(name, ls)
	if m == nil {
		f.t.Fatalf("no series %s%s in the scrape", name, ls)
	}
	switch {
	case m.Counter != nil:
		return m.GetCounter().GetValue()
	case m.Gauge != nil:
		return m.GetGauge().GetValue()
	case m.Untyped != nil:
		return m.GetUntyped().GetValue()
	case m.Histogram != nil:
		return float64(m.GetHistogram().GetSampleCount())
	}
	f.t.Fatalf("series %s%s has no value", name, ls)
	return 0
}

// histogram returns a histogram series; it must exist.
func (f families) histogram(name string, ls labels) *dto.Histogram {
	f.t.Helper()
	m := f.find(name, ls)
	if m == nil || m.Histogram == nil {
		f.t.Fatalf("no histogram %s%s in the scrape", name, ls)
	}
	return m.GetHistogram()
}

// sample is one expected series value.
type sample struct {
	name   string
	labels labels
	value  float64
}

func (f families) check(want ...sample) {
	f.t.Helper()
	for _, w := range want {
		if got := f.value(w.name, w.labels); got != w.value {
			f.t.Errorf("%s%s = %v, want %v", w.name, w.labels, got, w.value)
		}
	}
}

// absent fails if a series of name with labels ls exists.
func (f families) absent(name string, ls labels) {
	f.t.Helper()
	if f.find(name, ls) != nil {
		f.t.Errorf("%s%s is in the scrape; want it absent", name, ls)
	}
}

// eventually retries check until it returns nil or a deadline passes.
func eventually(t *testing.T, check func() error) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		err := check()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatal(err)
		}
		time.Sleep(10 * time.Millisecond)
	}
}
