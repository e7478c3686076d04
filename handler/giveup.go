package handler

import (
	"errors"
	"fmt"

	"github.com/ThreeDotsLabs/watermill/message"

	"github.com/purgebus/purgebus/bus"
	"github.com/purgebus/purgebus/events"
)

// GiveUpPrefix starts the reason of the dead letter of an event that was
// given up (see Handle): metrics.DeadLetterClass files it as "gave_up".
const GiveUpPrefix = "gave up: "

// giveUp ends an event that could not be finished, with a dead letter and
// a failed result: on its last delivery (the durable's MaxDeliver), or
// when NATS refused its result for good. cause is why it was not
// finished. Whatever r already holds (the result whose publishing
// failed) is published once more; else a failed result says why.
//
// If even the dead letter cannot be stored, the event stays unacked: on
// its last delivery JetStream keeps it in the content stream without
// delivering it again, which an error log says.
func (h *Handler) giveUp(msg *message.Message, r *reply, cause error) error {
	ctx := msg.Context()
	d := r.d
	if d.id == "" { // handle stopped before naming the event
		d = h.delivery(msg)
		if d.corrID == "" {
			d.corrID = d.id
		}
	}
	reason := GiveUpPrefix + fmt.Sprintf("the result was refused: %v", cause)
	if !refused(cause) {
		reason = GiveUpPrefix + fmt.Sprintf("not finished after %d deliveries: %v", d.delivered, cause)
	}
	if err := h.publishDeadLetter(ctx, msg, d, r.labels.Source, reason); err != nil {
		h.log.Error("event abandoned: neither its result nor its dead letter could be stored; it stays in its stream, not delivered again",
			"event_id", d.id, "stream", msg.Metadata.Get(bus.MetaStream), "stream_seq", d.seq, "delivery", d.delivered, "cause", cause, "err", err)
		return err
	}
	failed := h.newResult(&d, &r.labels)
	failed.Outcome = events.OutcomeFailed
	failed.Failures = []events.Failure{{Title: "not purged", Detail: reason}}
	failed.CompletedAt = h.cfg.Now().UTC()
	res := r.res
	if res.Outcome == "" {
		res = failed
	}
	err := h.publishResult(ctx, &reply{d: d, res: res})
	if err != nil && r.res.Outcome != "" {
		// The result itself may be what NATS refuses: say at least why.
		err = h.publishResult(ctx, &reply{d: d, res: failed})
	}
	if err != nil {
		// The dead letter holds the event, to be replayed: acking it is
		// safe, and redelivering it would end the same way.
		h.log.Error("event ended with a dead letter but no result: the result could not be stored",
			"event_id", d.id, "correlation_id", d.corrID, "err", err)
	}
	return nil
}

// refused reports whether err says that NATS refused a message for good,
// or that it could not be made to fit.
func refused(err error) bool {
	return bus.PublishRefused(err) || errors.Is(err, events.ErrNoRoom)
}
