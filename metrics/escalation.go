package metrics

import (
	"fmt"
	"sync/atomic"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/purgebus/purgebus/akamai"
)

// Escalated counts one escalation of account that Akamai accepted: a
// flood of URLs purged by the CP code or cache tag (t) that covers them.
func (m *Metrics) Escalated(account string, t akamai.Type) {
	if m == nil {
		return
	}
	m.escalations.WithLabelValues(account, typeLabel(t)).Inc()
}

// EscalationLevel is what is left of one escalating route's hourly
// escalation budget.
type EscalationLevel struct {
	// Account is a name the operator configured, never a credential.
	Account string
	// Route names the route (its host patterns, comma-separated).
	Route     string
	Remaining int
}

var escalationBudgetDesc = prometheus.NewDesc(Namespace+"_escalation_budget_remaining",
	"Escalations an escalating route may still make in the sliding hour (max_per_hour less those of the last hour), by account and route.",
	[]string{"account", "route"}, nil)

// WatchEscalations exports the escalation budgets that levels returns; it
// is called at every scrape, so it must be quick and safe for concurrent
// use. A later call replaces levels; nil stops the export.
func (m *Metrics) WatchEscalations(levels func() []EscalationLevel) error {
	if m == nil {
		return nil
	}
	m.watchMu.Lock()
	defer m.watchMu.Unlock()
	if m.escBudgets == nil {
		c := &escalationCollector{}
		if err := m.register(c); err != nil {
			return fmt.Errorf("metrics: watch escalations: %w", err)
		}
		m.escBudgets = c
	}
	m.escBudgets.levels.Store(&levels)
	return nil
}

type escalationCollector struct {
	levels atomic.Pointer[func() []EscalationLevel]
}

func (c *escalationCollector) Describe(ch chan<- *prometheus.Desc) { ch <- escalationBudgetDesc }

func (c *escalationCollector) Collect(ch chan<- prometheus.Metric) {
	levels := c.levels.Load()
	if levels == nil || *levels == nil {
		return
	}
	type key struct{ account, route string }
	seen := map[key]bool{}
	for _, l := range (*levels)() {
		// A duplicate series would fail the scrape: the first wins.
		if k := (key{l.Account, l.Route}); !seen[k] {
			seen[k] = true
			ch <- prometheus.MustNewConstMetric(escalationBudgetDesc, prometheus.GaugeValue, float64(l.Remaining), l.Account, l.Route)
		}
	}
}
