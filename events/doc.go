// Package events defines purgebus's wire contract and publishes to it: the
// Go counterpart of django-akamai's purge_request and queue_purge_request
// signals.
//
// # Content-changed events
//
// A service whose content changed publishes a ContentChanged event as
// UTF-8 JSON to the subject "content.changed" or any subject below it
// ("content.changed.blog"), with JetStream or plain core NATS:
//
//	{"id":"8d2c…","urls":["https://www.example.com/a"],"tags":["news"],
//	 "cpcodes":[12345],"action":"invalidate","network":"production",
//	 "source":"cms","occurred_at":"2026-11-25T12:00:00Z"}
//
// Every field is optional except that at least one object (url, tag or CP
// code) is required. action is "invalidate" (the default) or "delete";
// network is "production" (the default) or "staging". metadata, an object
// of strings within the limits of CheckMetadata, is echoed in the result.
// Without an id the
// Nats-Msg-Id header names the event, else the consumer assigns a UUID
// derived from the event's stream position, so redeliveries keep it.
// Unknown fields are ignored; field names match exactly (case included);
// fields of the wrong JSON type, a name given twice in one object (its
// value would be ambiguous: decoders disagree on which one counts) and
// anything after the object make the event invalid.
//
// # Results
//
// The consumer answers every event with exactly one PurgeResult on
// "purge.result.<outcome>.<event-id>", outcome being "succeeded", "partial"
// or "failed". Subscribe to "purge.result.*.<id>" to wait for one event,
// "purge.result.failed.>" for failures, "purge.result.>" for everything.
// Results are compact one-line JSON.
//
// # Dead letters
//
// Events that can never succeed (undecodable JSON, no objects, invalid
// objects, too large) get a failed result and a DeadLetter copy, with the
// reason and the original payload, on "purge.deadletter.<event-id>".
// Transient trouble at Akamai does not make a dead letter at once: the
// event stays in JetStream and is retried, up to the durable's last
// delivery.
//
// Results and dead letters always fit a NATS message (EncodeWithin): a
// result too large is Truncated, and a dead letter too large keeps the
// beginning of the event (PayloadTruncated), the whole being kept in a
// JetStream object store bucket (PayloadBucket, PayloadObject).
//
// # Publishing from Go
//
// Publisher.Publish is the queued form: it returns once JetStream has
// stored the event. Publisher.PurgeAndWait is the immediate form: it
// publishes and waits for the event's result.
package events
