package deploy_test

import (
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"go.yaml.in/yaml/v3"
)

// alertRule is one rule of deploy/prometheus/alerts.yml.
type alertRule struct {
	Alert       string            `yaml:"alert"`
	Expr        string            `yaml:"expr"`
	For         string            `yaml:"for"`
	Labels      map[string]string `yaml:"labels"`
	Annotations map[string]string `yaml:"annotations"`
}

func readAlertRules(t *testing.T) []alertRule {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("prometheus", "alerts.yml"))
	if err != nil {
		t.Fatal(err)
	}
	var file struct {
		Groups []struct {
			Rules []alertRule `yaml:"rules"`
		} `yaml:"groups"`
	}
	if err := yaml.Unmarshal(b, &file); err != nil {
		t.Fatalf("alerts.yml: %v", err)
	}
	var rules []alertRule
	for _, g := range file.Groups {
		rules = append(rules, g.Rules...)
	}
	return rules
}

// dashboardQueries returns every PromQL expression of the dashboard: the
// panels' targets and the template variables' queries.
func dashboardQueries(t *testing.T) []string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("grafana", "purgebus.json"))
	if err != nil {
		t.Fatal(err)
	}
	var dash any
	if err := json.Unmarshal(b, &dash); err != nil {
		t.Fatalf("purgebus.json: %v", err)
	}
	var out []string
	var walk func(v any)
	walk = func(v any) {
		switch v := v.(type) {
		case map[string]any:
			for k, e := range v {
				if s, ok := e.(string); ok && (k == "expr" || k == "definition") {
					out = append(out, s)
				}
				walk(e)
			}
		case []any:
			for _, e := range v {
				walk(e)
			}
		}
	}
	walk(dash)
	return out
}

var (
	promString   = regexp.MustCompile(`"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*'`)
	promMatchers = regexp.MustCompile(`\{[^}]*\}`)
	promRange    = regexp.MustCompile(`\[[^\]]*\]`)
	promGrouping = regexp.MustCompile(`\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)`)
	promVariable = regexp.MustCompile(`\$\{?\w+\}?`)
	promWord     = regexp.MustCompile(`[A-Za-z_:][A-Za-z0-9_:]*(\s*\()?`)
	// label_values(metric, label): the label is no metric.
	labelValues = regexp.MustCompile(`label_values\(\s*([A-Za-z_:][A-Za-z0-9_:]*)[^)]*\)`)
)

// promKeywords are PromQL's words that are neither metrics nor functions.
var promKeywords = []string{"and", "or", "unless", "by", "without", "on", "ignoring", "group_left", "group_right", "bool", "offset", "inf", "nan"}

// metricNames returns the metric names an expression reads: the words
// that are no function, keyword, label, string, duration or dashboard
// variable.
func metricNames(expr string) []string {
	expr = labelValues.ReplaceAllString(expr, "$1")
	for _, re := range []*regexp.Regexp{promString, promMatchers, promRange, promGrouping, promVariable} {
		expr = re.ReplaceAllString(expr, " ")
	}
	var names []string
	for _, m := range promWord.FindAllStringSubmatch(expr, -1) {
		word := strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(m[0]), "("))
		if m[1] != "" || slices.Contains(promKeywords, strings.ToLower(word)) {
			continue // a function call or a keyword
		}
		if !slices.Contains(names, word) {
			names = append(names, word)
		}
	}
	return names
}

func TestMetricNames(t *testing.T) {
	for _, tc := range []struct {
		expr string
		want []string
	}{
		{`up{job="purgebus"} == 0 or absent(up{job="purgebus"})`, []string{"up"}},
		{`sum by (instance, job) (increase(purgebus_purge_rate_limited_total[15m])) > 5`, []string{"purgebus_purge_rate_limited_total"}},
		{`histogram_quantile(0.95, sum by (le) (rate(a_bucket{instance=~"$instance"}[$__rate_interval])))`, []string{"a_bucket"}},
		{"(a + b) > 0\nand on (instance, job) sum by (instance, job) (increase(c[10m])) == 0", []string{"a", "b", "c"}},
		{`label_values(purgebus_events_received_total, instance)`, []string{"purgebus_events_received_total"}},
		{`x / y < 0.05`, []string{"x", "y"}},
	} {
		if got := metricNames(tc.expr); !slices.Equal(got, tc.want) {
			t.Errorf("metricNames(%q) = %q, want %q", tc.expr, got, tc.want)
		}
	}
}

// scrapeAfterOneEvent runs a consumer with --sandbox, purges one event
// through it and returns its /metrics.
func scrapeAfterOneEvent(t *testing.T) string {
	t.Helper()
	s := startSandbox(t)
	purgeOne(t, s.natsURL)
	// The result is published before the router's middleware records the
	// handler's time and acks the delivery; the ack comes last, so once the
	// subscriber counts it every metric of the event is there. Without it
	// after a while, the last scrape is returned for the test to judge.
	exposition, _ := scrapeUntil(t, s.httpURL+"/metrics", ackedDelivery, 10*time.Second)
	return exposition
}

// scrapeUntil scrapes url until the exposition matches re, or timeout
// passed; it returns the last scrape and whether it matched.
func scrapeUntil(t *testing.T, url string, re *regexp.Regexp, timeout time.Duration) (string, bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		exposition := string(get(t, url))
		if re.MatchString(exposition) {
			return exposition, true
		}
		if time.Now().After(deadline) {
			return exposition, false
		}
		time.Sleep(50 * time.Millisecond)
	}
}

var ackedDelivery = regexp.MustCompile(`(?m)^purgebus_router_subscriber_messages_received_total\{acked="acked"[^}]*\} [1-9]`)

// sampleNames returns the names of the samples of an exposition, such as
// x_bucket, x_sum and x_count for a histogram x.
func sampleNames(exposition string) map[string]bool {
	names := map[string]bool{}
	for line := range strings.Lines(exposition) {
		if line == "" || line[0] == '#' {
			continue
		}
		if i := strings.IndexAny(line, "{ "); i > 0 {
			names[line[:i]] = true
		}
	}
	return names
}

// TestMetricsUsedAreExported checks every metric that an alerting rule or
// the dashboard reads against /metrics of a consumer that purged one
// event, so that a renamed metric fails here rather than in production.
// up is Prometheus's own, not the consumer's.
func TestMetricsUsedAreExported(t *testing.T) {
	used := map[string][]string{} // metric → where
	rules := readAlertRules(t)
	for _, r := range rules {
		for _, n := range metricNames(r.Expr) {
			used[n] = append(used[n], "alert "+r.Alert)
		}
	}
	queries := dashboardQueries(t)
	for _, q := range queries {
		for _, n := range metricNames(q) {
			used[n] = append(used[n], "dashboard")
		}
	}
	if len(rules) < 8 || len(queries) < 15 || len(used) < 15 {
		t.Fatalf("read %d rules, %d dashboard queries and %d metric names: too few, the files or their parsing are broken", len(rules), len(queries), len(used))
	}
	exported := sampleNames(scrapeAfterOneEvent(t))
	for _, n := range slices.Sorted(func(yield func(string) bool) {
		for n := range used {
			if !yield(n) {
				return
			}
		}
	}) {
		if n == "up" {
			continue
		}
		if !exported[n] {
			t.Errorf("%s (used by %s) is not among the consumer's metrics", n, strings.Join(slices.Compact(used[n]), ", "))
		}
	}
}

// TestDashboardLayout checks what Grafana would take silently: panel IDs
// are unique, every panel but a row has queries with distinct refIds, and
// panels fit the 24-column grid.
func TestDashboardLayout(t *testing.T) {
	b, err := os.ReadFile(filepath.Join("grafana", "purgebus.json"))
	if err != nil {
		t.Fatal(err)
	}
	var dash struct {
		UID    string `json:"uid"`
		Title  string `json:"title"`
		Panels []struct {
			ID      int    `json:"id"`
			Type    string `json:"type"`
			Title   string `json:"title"`
			GridPos struct {
				X, Y, W, H int
			} `json:"gridPos"`
			Targets []struct {
				RefID string `json:"refId"`
				Expr  string `json:"expr"`
			} `json:"targets"`
		} `json:"panels"`
	}
	if err := json.Unmarshal(b, &dash); err != nil {
		t.Fatal(err)
	}
	if dash.UID == "" || dash.Title == "" {
		t.Error("the dashboard has no uid or title")
	}
	ids := map[int]bool{}
	for _, p := range dash.Panels {
		if ids[p.ID] {
			t.Errorf("panel %q: id %d is used twice", p.Title, p.ID)
		}
		ids[p.ID] = true
		if g := p.GridPos; g.W <= 0 || g.H <= 0 || g.X < 0 || g.X+g.W > 24 {
			t.Errorf("panel %q: gridPos %+v does not fit the grid", p.Title, g)
		}
		if p.Type == "row" {
			continue
		}
		refs := map[string]bool{}
		for _, q := range p.Targets {
			if q.RefID == "" || refs[q.RefID] || strings.TrimSpace(q.Expr) == "" {
				t.Errorf("panel %q: a query without expression or with a missing or repeated refId %q", p.Title, q.RefID)
			}
			refs[q.RefID] = true
		}
		if len(refs) == 0 {
			t.Errorf("panel %q has no query", p.Title)
		}
	}
}

// TestAlertRulesDocumented checks that every alert has a severity, a
// summary, a description and a runbook entry that docs/operating.md has.
func TestAlertRulesDocumented(t *testing.T) {
	doc, err := os.ReadFile(filepath.Join(moduleRoot, "docs", "operating.md"))
	if err != nil {
		t.Fatal(err)
	}
	anchors := map[string]bool{}
	heading := regexp.MustCompile(`(?m)^#{2,4} +(.+)$`)
	for _, m := range heading.FindAllStringSubmatch(string(doc), -1) {
		anchors[githubAnchor(m[1])] = true
	}
	const runbooks = "https://github.com/purgebus/purgebus/blob/main/docs/operating.md#"
	for _, r := range readAlertRules(t) {
		if r.Labels["severity"] == "" {
			t.Errorf("%s has no severity", r.Alert)
		}
		for _, a := range []string{"summary", "description"} {
			if strings.TrimSpace(r.Annotations[a]) == "" {
				t.Errorf("%s has no %s", r.Alert, a)
			}
		}
		anchor, ok := strings.CutPrefix(r.Annotations["runbook_url"], runbooks)
		if !ok || anchor != strings.ToLower(r.Alert) {
			t.Errorf("%s: runbook_url %q is not %s%s", r.Alert, r.Annotations["runbook_url"], runbooks, strings.ToLower(r.Alert))
		}
		if !anchors[anchor] {
			t.Errorf("%s: docs/operating.md has no heading %q for its runbook", r.Alert, r.Alert)
		}
	}
}

// githubAnchor is the fragment GitHub gives a Markdown heading.
func githubAnchor(h string) string {
	var b strings.Builder
	for _, r := range strings.ToLower(strings.TrimSpace(h)) {
		switch {
		case r == ' ':
			b.WriteRune('-')
		case r == '-' || r == '_' || r >= 'a' && r <= 'z' || r >= '0' && r <= '9':
			b.WriteRune(r)
		}
	}
	return b.String()
}
