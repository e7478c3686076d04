package metrics

import (
	"context"
	"fmt"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/purgebus/purgebus/akamai"
)

// The token buckets of an Akamai account: BucketRequests counts requests,
// the others count objects of their type.
const (
	BucketRequests = "requests"
	BucketURL      = string(akamai.TypeURL)
	BucketCPCode   = string(akamai.TypeCPCode)
	BucketTag      = string(akamai.TypeTag)
)

// BucketLevel is the state of one token bucket of one account.
type BucketLevel struct {
	// Account is a name the operator configured (an .edgerc section,
	// say), never a credential.
	Account string
	// Bucket is BucketRequests, BucketURL, BucketCPCode or BucketTag;
	// anything else is exported as "other".
	Bucket string
	// Remaining is the number of tokens left.
	Remaining float64
	// Capacity is the bucket's size; 0 when unknown, and then it is not
	// exported.
	Capacity float64
}

// RateLimitLevels returns the bucket levels that the X-Ratelimit-* headers
// of an answer to a request of type t report: the request bucket and the
// object bucket of t, each when its header was present.
func RateLimitLevels(account string, t akamai.Type, rl akamai.RateLimit) []BucketLevel {
	var out []BucketLevel
	if rl.Has(akamai.FieldRemaining) {
		l := BucketLevel{Account: account, Bucket: BucketRequests, Remaining: float64(rl.Remaining)}
		if rl.Has(akamai.FieldLimit) {
			l.Capacity = float64(rl.Limit)
		}
		out = append(out, l)
	}
	if rl.Has(akamai.FieldRemainingObjects) && t.Valid() {
		l := BucketLevel{Account: account, Bucket: string(t), Remaining: float64(rl.RemainingObjects)}
		if rl.Has(akamai.FieldLimitObjects) {
			l.Capacity = float64(rl.LimitObjects)
		}
		out = append(out, l)
	}
	return out
}

var (
	bucketRemainingDesc = prometheus.NewDesc(Namespace+"_ratelimit_tokens_remaining",
		"Tokens left in an Akamai token bucket, by account and bucket (requests, url, cpcode, tag).",
		[]string{"account", "bucket"}, nil)
	bucketCapacityDesc = prometheus.NewDesc(Namespace+"_ratelimit_tokens_capacity",
		"Capacity of an Akamai token bucket, by account and bucket (requests, url, cpcode, tag).",
		[]string{"account", "bucket"}, nil)
)

// WatchBuckets exports the token-bucket levels that levels returns; it is
// called at every scrape, so it must be quick and safe for concurrent
// use. A later call replaces levels (a restarted consumer calls it
// again); nil stops the export.
func (m *Metrics) WatchBuckets(levels func() []BucketLevel) error {
	if m == nil {
		return nil
	}
	m.watchMu.Lock()
	defer m.watchMu.Unlock()
	if m.buckets == nil {
		c := &bucketCollector{}
		if err := m.register(c); err != nil {
			return fmt.Errorf("metrics: watch buckets: %w", err)
		}
		m.buckets = c
	}
	m.buckets.levels.Store(&levels)
	return nil
}

type bucketCollector struct {
	levels atomic.Pointer[func() []BucketLevel]
}

func (c *bucketCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- bucketRemainingDesc
	ch <- bucketCapacityDesc
}

func (c *bucketCollector) Collect(ch chan<- prometheus.Metric) {
	levels := c.levels.Load()
	if levels == nil || *levels == nil {
		return
	}
	type key struct{ account, bucket string }
	// The last level of a bucket wins: a duplicate series would fail the
	// scrape.
	seen := map[key]BucketLevel{}
	var order []key
	for _, l := range (*levels)() {
		switch l.Bucket {
		case BucketRequests, BucketURL, BucketCPCode, BucketTag:
		default:
			l.Bucket = other
		}
		k := key{l.Account, l.Bucket}
		if _, ok := seen[k]; !ok {
			order = append(order, k)
		}
		seen[k] = l
	}
	for _, k := range order {
		l := seen[k]
		if finite(l.Remaining) {
			ch <- prometheus.MustNewConstMetric(bucketRemainingDesc, prometheus.GaugeValue, l.Remaining, l.Account, l.Bucket)
		}
		if l.Capacity > 0 && finite(l.Capacity) {
			ch <- prometheus.MustNewConstMetric(bucketCapacityDesc, prometheus.GaugeValue, l.Capacity, l.Account, l.Bucket)
		}
	}
}

// LagTimeout bounds one call of the function WatchConsumerLag is given.
const LagTimeout = 3 * time.Second

// ConsumerLagFunc returns the state of the durable consumer: the messages
// in the stream not yet delivered to it (jetstream.ConsumerInfo.NumPending)
// and those delivered and not yet acknowledged (NumAckPending).
type ConsumerLagFunc func(ctx context.Context) (pending, ackPending uint64, err error)

var (
	pendingDesc = prometheus.NewDesc(Namespace+"_consumer_pending_messages",
		"Events in the stream not yet delivered to the durable consumer.", nil, nil)
	ackPendingDesc = prometheus.NewDesc(Namespace+"_consumer_ack_pending_messages",
		"Events delivered to the durable consumer and not yet acknowledged.", nil, nil)
	lagErrorsDesc = prometheus.NewDesc(Namespace+"_consumer_lag_errors_total",
		"Scrapes at which the durable consumer's state could not be read.", nil, nil)
)

// WatchConsumerLag exports the durable consumer's lag, calling lag at
// every scrape with a context that ends after LagTimeout. When lag fails,
// the two gauges are left out of that scrape and
// purgebus_consumer_lag_errors_total grows; the rest of the scrape is
// unaffected. A later call replaces lag (a restarted consumer calls it
// again); nil stops the export of the gauges.
func (m *Metrics) WatchConsumerLag(lag ConsumerLagFunc) error {
	if m == nil {
		return nil
	}
	m.watchMu.Lock()
	defer m.watchMu.Unlock()
	if m.lag == nil {
		c := &lagCollector{}
		if err := m.register(c); err != nil {
			return fmt.Errorf("metrics: watch consumer lag: %w", err)
		}
		m.lag = c
	}
	m.lag.lag.Store(&lag)
	return nil
}

type lagCollector struct {
	lag    atomic.Pointer[ConsumerLagFunc]
	errors atomic.Uint64
}

func (c *lagCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- pendingDesc
	ch <- ackPendingDesc
	ch <- lagErrorsDesc
}

func (c *lagCollector) Collect(ch chan<- prometheus.Metric) {
	if lag := c.lag.Load(); lag != nil && *lag != nil {
		c.collectLag(ch, *lag)
	}
	ch <- prometheus.MustNewConstMetric(lagErrorsDesc, prometheus.CounterValue, float64(c.errors.Load()))
}

func (c *lagCollector) collectLag(ch chan<- prometheus.Metric, lag ConsumerLagFunc) {
	ctx, cancel := context.WithTimeout(context.Background(), LagTimeout)
	defer cancel()
	pending, ackPending, err := lag(ctx)
	if err != nil {
		c.errors.Add(1)
	} else {
		ch <- prometheus.MustNewConstMetric(pendingDesc, prometheus.GaugeValue, float64(pending))
		ch <- prometheus.MustNewConstMetric(ackPendingDesc, prometheus.GaugeValue, float64(ackPending))
	}
}
