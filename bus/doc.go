// Package bus connects purgebus to NATS JetStream: it connects to an
// existing server or cluster (ConnectConfig), runs an embedded nats-server
// (loopback only unless it requires authentication), provisions the
// streams and the durable consumer or verifies that they suit purgebus
// (Provision, Verify), feeds a watermill router from JetStream, and
// publishes results asynchronously.
//
// # Why a subscriber of our own
//
// Purging coalesces objects from many events into one Fast Purge request,
// so the consumer must hold many events (1,000 by default) in flight and
// ack each when its own outcome is known. watermill-nats offers two
// subscribers and neither fits (see the measurements in the project's
// notes): its beta jetstream subscriber holds one event per subscription
// and crashes the process on some malformed headers, and its push
// subscriber blocks head-of-line. Subscriber here is a small
// message.Subscriber over nats.go's jetstream Consume: its callback hands
// each message to the router and returns at once; a goroutine per message
// waits for watermill's Ack or Nack and acks or naks in JetStream, sending
// InProgress while the event waits; the number in flight is bounded by the
// durable consumer's MaxAckPending. Undecodable input never fails here: the
// payload is passed through untouched and the handler dead-letters it.
// Pause stops pulling (draining what was pulled back to JetStream with a
// nak) while the events in flight finish; Resume pulls again.
//
// watermill's NATS publisher is synchronous only, a round trip per result;
// Publisher here uses JetStream's asynchronous publish with a bounded
// window, and each caller still waits for its own acknowledgement, so a
// result is stored before its event is acked.
package bus
