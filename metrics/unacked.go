package metrics

import (
	"fmt"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

var oldestUnackedDesc = prometheus.NewDesc(Namespace+"_oldest_unacked_event_age_seconds",
	"How long the oldest event this consumer took has been unacknowledged (being handled, or nacked and waiting for its redelivery); 0 when none is.",
	nil, nil)

// WatchOldestUnacked exports the age of the oldest unacknowledged event,
// calling oldest at every scrape; it must be quick and safe for
// concurrent use, and return 0 when no event is unacknowledged. A later
// call replaces oldest; nil stops the export.
func (m *Metrics) WatchOldestUnacked(oldest func() time.Duration) error {
	if m == nil {
		return nil
	}
	m.watchMu.Lock()
	defer m.watchMu.Unlock()
	if m.unacked == nil {
		c := &unackedCollector{}
		if err := m.register(c); err != nil {
			return fmt.Errorf("metrics: watch oldest unacked event: %w", err)
		}
		m.unacked = c
	}
	m.unacked.oldest.Store(&oldest)
	return nil
}

type unackedCollector struct {
	oldest atomic.Pointer[func() time.Duration]
}

func (c *unackedCollector) Describe(ch chan<- *prometheus.Desc) { ch <- oldestUnackedDesc }

func (c *unackedCollector) Collect(ch chan<- prometheus.Metric) {
	f := c.oldest.Load()
	if f == nil || *f == nil {
		return
	}
	ch <- prometheus.MustNewConstMetric(oldestUnackedDesc, prometheus.GaugeValue, max((*f)(), 0).Seconds())
}
