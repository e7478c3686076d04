package metrics

import (
	"math"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/purgebus/purgebus/akamai"
	"github.com/purgebus/purgebus/events"
	"github.com/purgebus/purgebus/handler"
)

// Namespace prefixes the name of every purgebus metric.
const Namespace = "purgebus"

// The circuit states SetCircuit takes; they are the values of
// handler.CircuitState.
const (
	CircuitClosed   = 0
	CircuitOpen     = 1
	CircuitHalfOpen = 2
)

// other stands for any label value outside a label's fixed set.
const other = "other"

var (
	// eventBuckets suit event and handler latencies: 10 ms to 60 s.
	eventBuckets = []float64{0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 20, 30, 60}
	// requestBuckets suit one Fast Purge round trip, up to the 30 s
	// request timeout.
	requestBuckets = []float64{0.025, 0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 30}
)

// types are the object types with a label value of their own; the index
// of "other" is len(types).
var types = [...]string{string(akamai.TypeURL), string(akamai.TypeCPCode), string(akamai.TypeTag)}

func typeIndex(t akamai.Type) int {
	for i, s := range types {
		if string(t) == s {
			return i
		}
	}
	return len(types)
}

func typeLabel(t akamai.Type) string {
	if i := typeIndex(t); i < len(types) {
		return types[i]
	}
	return other
}

// Metrics holds purgebus's metrics. Its methods are safe for concurrent
// use, and do nothing on a nil *Metrics.
type Metrics struct {
	reg prometheus.Registerer

	eventsReceived prometheus.Counter
	eventsInFlight prometheus.Gauge
	eventsRetried  prometheus.Counter
	eventsFinished *prometheus.CounterVec
	eventLatency   *prometheus.HistogramVec
	deadLettered   *prometheus.CounterVec

	objectsSubmitted *prometheus.CounterVec
	objectsSent      *prometheus.CounterVec
	objectsPurged    *prometheus.CounterVec

	requests        *prometheus.CounterVec
	requestDuration *prometheus.HistogramVec
	rateLimited     *prometheus.CounterVec
	retries         *prometheus.CounterVec

	circuit *prometheus.GaugeVec

	escalations *prometheus.CounterVec

	// submitted and sent count objects by type index, for the coalescing
	// ratio.
	submitted, sent [len(types) + 1]atomic.Uint64

	watchMu    sync.Mutex // registers the collectors below once
	buckets    *bucketCollector
	lag        *lagCollector
	escBudgets *escalationCollector
}

// NewRegistry returns a new registry holding the Go runtime and process
// collectors, for a consumer's /metrics; pass it to New.
func NewRegistry() *prometheus.Registry {
	reg := prometheus.NewRegistry()
	reg.MustRegister(
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
	)
	return reg
}

// New creates purgebus's metrics and registers them on reg. It panics if
// reg already holds them: create one Metrics per registry. A nil reg
// registers nothing (the metrics still count, and nobody sees them).
func New(reg prometheus.Registerer) *Metrics {
	counter := func(name, help string, labels ...string) *prometheus.CounterVec {
		return prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: Namespace, Name: name, Help: help}, labels)
	}
	m := &Metrics{
		reg: reg,
		eventsReceived: prometheus.NewCounter(prometheus.CounterOpts{Namespace: Namespace, Name: "events_received_total",
			Help: "Event deliveries handed to the handler, redeliveries included."}),
		eventsInFlight: prometheus.NewGauge(prometheus.GaugeOpts{Namespace: Namespace, Name: "events_in_flight",
			Help: "Events being handled now."}),
		eventsRetried: prometheus.NewCounter(prometheus.CounterOpts{Namespace: Namespace, Name: "events_retried_total",
			Help: "Event deliveries that ended without an outcome; the event is redelivered later."}),
		eventsFinished: counter("events_finished_total",
			"Events whose result was published, by outcome (succeeded, partial, failed).", "outcome"),
		eventLatency: prometheus.NewHistogramVec(prometheus.HistogramOpts{Namespace: Namespace, Name: "event_latency_seconds",
			Help:    "Time from an event's arrival in JetStream until its outcome was decided, by outcome.",
			Buckets: eventBuckets}, []string{"outcome"}),
		deadLettered: counter("events_dead_lettered_total",
			"Events dead-lettered, by reason class.", "reason"),
		objectsSubmitted: counter("objects_submitted_total",
			"Objects that events asked to purge, before coalescing, by type.", "type"),
		objectsSent: counter("objects_sent_total",
			"Objects in the Fast Purge requests sent, retries and splits included, by type.", "type"),
		objectsPurged: counter("objects_purged_total",
			"Objects in Fast Purge requests Akamai accepted, by type.", "type"),
		requests: counter("purge_requests_total",
			"Fast Purge requests sent, by type, action, network and HTTP status (\"error\" when none was received).",
			"type", "action", "network", "status"),
		requestDuration: prometheus.NewHistogramVec(prometheus.HistogramOpts{Namespace: Namespace, Name: "purge_request_duration_seconds",
			Help:    "Round trip of one Fast Purge request, by type and result (accepted, refused, error).",
			Buckets: requestBuckets}, []string{"type", "result"}),
		rateLimited: counter("purge_rate_limited_total",
			"Fast Purge requests Akamai answered 429 Too Many Requests, by type.", "type"),
		retries: counter("purge_retries_total",
			"Fast Purge requests that retried an earlier attempt, by type.", "type"),
		circuit: prometheus.NewGaugeVec(prometheus.GaugeOpts{Namespace: Namespace, Name: "circuit_state",
			Help: "State of the circuit breaker of an Akamai account: 0 closed, 1 open, 2 half-open."}, []string{"account"}),
		escalations: counter("escalations_total",
			"Floods of URLs purged by the CP code or cache tag that covers them (accepted covering purges), by account and covering type.",
			"account", "type"),
	}
	// Series that alerts and rates rely on exist from the start, at zero.
	for _, o := range []events.Outcome{events.OutcomeSucceeded, events.OutcomePartial, events.OutcomeFailed} {
		m.eventsFinished.WithLabelValues(string(o))
		m.eventLatency.WithLabelValues(string(o))
	}
	for _, r := range DeadLetterReasons {
		m.deadLettered.WithLabelValues(r)
	}
	for _, t := range types {
		for _, v := range []*prometheus.CounterVec{m.objectsSubmitted, m.objectsSent, m.objectsPurged, m.rateLimited, m.retries} {
			v.WithLabelValues(t)
		}
	}
	if reg != nil {
		reg.MustRegister(
			m.eventsReceived, m.eventsInFlight, m.eventsRetried, m.eventsFinished, m.eventLatency, m.deadLettered,
			m.objectsSubmitted, m.objectsSent, m.objectsPurged,
			m.requests, m.requestDuration, m.rateLimited, m.retries,
			m.circuit, m.escalations, ratioCollector{m},
		)
	}
	return m
}

// EventReceived counts a delivery handed to the handler, and holds it in
// flight until EventHandled. Middleware calls both.
func (m *Metrics) EventReceived() {
	if m == nil {
		return
	}
	m.eventsReceived.Inc()
	m.eventsInFlight.Inc()
}

// EventHandled ends a delivery that EventReceived counted: err is what
// the handler returned, and a non-nil err means the event was nacked, to
// be redelivered.
func (m *Metrics) EventHandled(err error) {
	if m == nil {
		return
	}
	m.eventsInFlight.Dec()
	if err != nil {
		m.eventsRetried.Inc()
	}
}

// EventFinished counts an event whose result was published, by outcome
// (events.Outcome: succeeded, partial or failed; anything else counts as
// "other"), and observes its latency: from its arrival in JetStream
// (PurgeResult.ReceivedAt) to the outcome (PurgeResult.CompletedAt).
// A negative latency, from clock skew, counts as zero.
func (m *Metrics) EventFinished(outcome string, latency time.Duration) {
	if m == nil {
		return
	}
	switch events.Outcome(outcome) {
	case events.OutcomeSucceeded, events.OutcomePartial, events.OutcomeFailed:
	default:
		outcome = other
	}
	m.eventsFinished.WithLabelValues(outcome).Inc()
	m.eventLatency.WithLabelValues(outcome).Observe(max(latency, 0).Seconds())
}

// DeadLettered counts a dead-lettered event under the class of reason
// (DeadLetter.Reason, or a class name itself; see DeadLetterClass). Its
// failed result is counted by EventFinished like any other.
func (m *Metrics) DeadLettered(reason string) {
	if m == nil {
		return
	}
	m.deadLettered.WithLabelValues(DeadLetterClass(reason)).Inc()
}

// ObjectsSubmitted counts n objects of type t that an event submitted for
// purging, before coalescing: the numerator of the coalescing ratio.
func (m *Metrics) ObjectsSubmitted(t akamai.Type, n int) {
	if m == nil || n <= 0 {
		return
	}
	m.objectsSubmitted.WithLabelValues(typeLabel(t)).Add(float64(n))
	m.submitted[typeIndex(t)].Add(uint64(n))
}

// ObserveRequest records one Fast Purge request; its signature fits
// handler.CoalescerConfig.Observe.
func (m *Metrics) ObserveRequest(st handler.RequestStats) {
	if m == nil {
		return
	}
	t := typeLabel(st.Key.Type)
	action, network := string(st.Key.Action), string(st.Key.Network)
	if !st.Key.Action.Valid() {
		action = other
	}
	if !st.Key.Network.Valid() {
		network = other
	}
	m.requests.WithLabelValues(t, action, network, statusLabel(st)).Inc()
	result := "accepted"
	switch {
	case st.Err == nil:
	case st.Status != 0:
		result = "refused"
	default:
		result = "error"
	}
	m.requestDuration.WithLabelValues(t, result).Observe(max(st.Latency, 0).Seconds())
	if st.Objects > 0 {
		m.objectsSent.WithLabelValues(t).Add(float64(st.Objects))
		m.sent[typeIndex(st.Key.Type)].Add(uint64(st.Objects))
		if st.Err == nil {
			m.objectsPurged.WithLabelValues(t).Add(float64(st.Objects))
		}
	}
	if st.Status == 429 {
		m.rateLimited.WithLabelValues(t).Inc()
	}
	if st.Attempt > 1 {
		m.retries.WithLabelValues(t).Inc()
	}
}

// statusLabel is the HTTP status of a request, "error" when no answer
// came, or "other" for a number that is no HTTP status.
func statusLabel(st handler.RequestStats) string {
	switch {
	case st.Status >= 100 && st.Status <= 599:
		return strconv.Itoa(st.Status)
	case st.Status == 0 && st.Err != nil:
		return "error"
	}
	return other
}

// SetCircuit sets the circuit state of an Akamai account: CircuitClosed,
// CircuitOpen or CircuitHalfOpen. account is a name the operator
// configured (an .edgerc section, say), never a credential.
func (m *Metrics) SetCircuit(account string, state int) {
	if m == nil {
		return
	}
	m.circuit.WithLabelValues(account).Set(float64(state))
}

// ratioCollector exports the coalescing ratio by type, for the types that
// have both submitted and sent objects.
type ratioCollector struct{ m *Metrics }

var ratioDesc = prometheus.NewDesc(Namespace+"_coalescing_ratio",
	"Objects submitted per object sent to Akamai since start, by type (objects_submitted_total / objects_sent_total).",
	[]string{"type"}, nil)

func (c ratioCollector) Describe(ch chan<- *prometheus.Desc) { ch <- ratioDesc }

func (c ratioCollector) Collect(ch chan<- prometheus.Metric) {
	for i := range c.m.sent {
		in, out := c.m.submitted[i].Load(), c.m.sent[i].Load()
		if in == 0 || out == 0 {
			continue
		}
		label := other
		if i < len(types) {
			label = types[i]
		}
		ch <- prometheus.MustNewConstMetric(ratioDesc, prometheus.GaugeValue, float64(in)/float64(out), label)
	}
}

// register registers c on the registry New was given, if any.
func (m *Metrics) register(c prometheus.Collector) error {
	if m.reg == nil {
		return nil
	}
	return m.reg.Register(c)
}

// finite reports whether v is a number a gauge can carry.
func finite(v float64) bool { return !math.IsNaN(v) && !math.IsInf(v, 0) }
