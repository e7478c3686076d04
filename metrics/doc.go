// Package metrics exposes purgebus's Prometheus metrics.
//
// There is no global state: New registers every metric on the registerer
// it is given (NewRegistry makes one that also carries the Go runtime and
// process metrics), and the consumer's wiring feeds a *Metrics through
// methods named for what happens: EventReceived and EventHandled (or
// Middleware, which calls both), EventFinished and DeadLettered (or
// WrapPublisher, which calls them for the results and dead letters the
// handler stores), ObjectsSubmitted, ObserveRequest
// (CoalescerConfig.Observe), SetCircuit, WatchBuckets, WatchConsumerLag
// and InstrumentRouter. Every method of a nil *Metrics does nothing, so
// metrics can be left unwired.
//
// Labels are bounded: types, actions, networks, outcomes, HTTP status codes
// and dead-letter reason classes are each a small fixed set (anything else
// becomes "other"), and accounts are the handful the operator configured.
// No metric is labelled by URL, object, event ID or free-form error text.
//
// # Metrics
//
// All names start with purgebus_; labels are in parentheses.
//
// Events:
//
//	events_received_total                  counter    deliveries handed to the handler, redeliveries included
//	events_in_flight                       gauge      events being handled now
//	events_retried_total                   counter    deliveries that ended without an outcome (nacked, redelivered later)
//	events_finished_total (outcome)        counter    results published: succeeded, partial, failed
//	event_latency_seconds (outcome)        histogram  event stored in JetStream → outcome decided (purges accepted)
//	events_dead_lettered_total (reason)    counter    dead letters by reason class (DeadLetterReasons)
//
// Objects and Fast Purge requests:
//
//	objects_submitted_total (type)         counter    objects events asked to purge, before coalescing
//	objects_sent_total (type)              counter    objects in requests sent, retries and splits included
//	objects_purged_total (type)            counter    objects in requests Akamai accepted
//	coalescing_ratio (type)                gauge      objects_submitted_total ÷ objects_sent_total since start
//	purge_requests_total (type, action, network, status)
//	                                       counter    requests; status is the HTTP code, or "error" when none came
//	purge_request_duration_seconds (type, result)
//	                                       histogram  one request's round trip; result accepted, refused or error
//	purge_rate_limited_total (type)        counter    requests Akamai answered 429
//	purge_retries_total (type)             counter    requests that retried an earlier attempt
//
// Akamai account and JetStream state, read at scrape time or set:
//
//	ratelimit_tokens_remaining (account, bucket)  gauge  tokens left: bucket requests, url, cpcode or tag
//	ratelimit_tokens_capacity (account, bucket)   gauge  the bucket's capacity, when known
//	circuit_state (account)                       gauge  0 closed, 1 open, 2 half-open
//	consumer_pending_messages                     gauge  events in the stream not yet delivered to the durable consumer
//	consumer_ack_pending_messages                 gauge  events delivered and not yet acknowledged
//	consumer_lag_errors_total                     counter  scrapes at which the consumer's state could not be read
//	oldest_unacked_event_age_seconds              gauge  how long the oldest event taken and not acked has been so; 0 when none
//
// The watermill router (InstrumentRouter):
//
//	router_handler_execution_time_seconds (handler_name, success)                  histogram
//	router_subscriber_messages_received_total (handler_name, subscriber_name, acked) counter
//	router_publish_time_seconds (handler_name, publisher_name, success)            histogram
//
// # PromQL
//
// Coalescing over the last five minutes, which coalescing_ratio (a ratio
// since start) cannot show:
//
//	sum(rate(purgebus_objects_submitted_total[5m])) / sum(rate(purgebus_objects_sent_total[5m]))
//
// Rate-limit headroom as a fraction of the bucket:
//
//	purgebus_ratelimit_tokens_remaining / purgebus_ratelimit_tokens_capacity
//
// 95th percentile of the event latency:
//
//	histogram_quantile(0.95, sum by (le) (rate(purgebus_event_latency_seconds_bucket[5m])))
//
// An event stuck for more than ten minutes (its purges or its result keep
// failing; /readyz's events check says which):
//
//	purgebus_oldest_unacked_event_age_seconds > 600
package metrics
