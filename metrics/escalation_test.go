package metrics_test

import (
	"testing"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/purgebus/purgebus/akamai"
	"github.com/purgebus/purgebus/metrics"
)

func TestEscalations(t *testing.T) {
	reg := prometheus.NewRegistry()
	m := metrics.New(reg)
	s := newScraper(t, reg)
	m.Escalated("main", akamai.TypeCPCode)
	m.Escalated("main", akamai.TypeCPCode)
	m.Escalated("shop", akamai.TypeTag)
	m.Escalated("shop", "arl")
	const total, budget = "purgebus_escalations_total", "purgebus_escalation_budget_remaining"
	f := s.scrape()
	f.check(
		sample{total, labels{"account", "main", "type", "cpcode"}, 2},
		sample{total, labels{"account", "shop", "type", "tag"}, 1},
		sample{total, labels{"account", "shop", "type", "other"}, 1},
	)
	f.absent(budget, labels{"account", "main", "route", "www.example.com"})

	if err := m.WatchEscalations(func() []metrics.EscalationLevel {
		return []metrics.EscalationLevel{
			{Account: "main", Route: "www.example.com", Remaining: 3},
			{Account: "main", Route: "www.example.com", Remaining: 1}, // the first wins
			{Account: "shop", Route: "shop.example.com,*.shop.example.com", Remaining: 0},
		}
	}); err != nil {
		t.Fatal(err)
	}
	s.scrape().check(
		sample{budget, labels{"account", "main", "route", "www.example.com"}, 3},
		sample{budget, labels{"account", "shop", "route", "shop.example.com,*.shop.example.com"}, 0},
	)
	var nilMetrics *metrics.Metrics
	nilMetrics.Escalated("main", akamai.TypeCPCode)
	if err := nilMetrics.WatchEscalations(nil); err != nil {
		t.Error(err)
	}
}
