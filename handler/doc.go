// Package handler turns content-changed events into Fast Purge requests
// and answers each event with its result.
//
// Handler is a watermill handler: it decodes and validates an event,
// hands its objects to the Coalescer, which merges the objects of many
// events per (type, action, network) into few requests, waits until every
// object has an outcome, and publishes the event's PurgeResult before
// returning, so the router acks the event only once its result is stored.
// Events that can never succeed are answered with a failed result and
// copied to the dead-letter subject, then acked. Transient failures
// (Akamai 429/5xx, timeouts) are retried by the Coalescer; when they
// persist, the handler returns an error, the event is naked with a delay
// and JetStream delivers it again later — no result is published until the
// outcome is final.
//
// A route of the routing file with escalate: hands its URLs to
// Coalescer.PurgeRoute, which purges a flood of them by the CP code or
// cache tag that covers them (see Escalation); their results say so.
package handler
