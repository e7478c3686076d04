package handler

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/ThreeDotsLabs/watermill/message"

	"github.com/purgebus/purgebus/bus"
	"github.com/purgebus/purgebus/events"
)

// defaultMaxPayload is NATS's default max_payload, for a Handler without
// Config.MaxPayload.
const defaultMaxPayload = 1 << 20

// headerAllowance is the room a result or dead letter leaves for its
// headers (NATS/1.0, Nats-Msg-Id of up to 128 + 40 bytes) within the
// server's max_payload.
const headerAllowance = 512

// payloadTimeout bounds storing one event whole: a megabyte in chunks.
const payloadTimeout = 30 * time.Second

// maxMessage is the largest result or dead letter body the server takes
// now.
func (h *Handler) maxMessage() int {
	mp := int64(defaultMaxPayload)
	if h.cfg.MaxPayload != nil {
		if n := h.cfg.MaxPayload(); n > 0 {
			mp = n
		}
	}
	return int(max(mp-headerAllowance, 0))
}

// keepPayload stores the whole event (payload, as the dead letter keeps
// it) of a dead letter too large to hold it in h's PayloadStore, and
// names it in dl. Without a store or its bucket, or on the event's last
// delivery when the store fails, the dead letter keeps the beginning,
// size and SHA-256 of the event only: an event must end, and retrying
// cannot create the bucket. Otherwise a failure is returned, and the
// event is redelivered.
func (h *Handler) keepPayload(ctx context.Context, msg *message.Message, payload []byte, d *delivery, dl *events.DeadLetter) error {
	if h.cfg.Payloads == nil {
		h.log.Warn("dead letter keeps only the beginning of its event: no payload store", "event_id", d.id, "payload_bytes", len(payload))
		return nil
	}
	name := h.msgID("deadletter", d)
	ctx, cancel := context.WithTimeout(ctx, payloadTimeout)
	defer cancel()
	if err := h.cfg.Payloads.Put(ctx, name, payload); err != nil {
		if !errors.Is(err, bus.ErrNoPayloadBucket) && msg.Metadata.Get(bus.MetaLastDelivery) == "" {
			return fmt.Errorf("dead letter %s: %w", d.id, err)
		}
		h.log.Error("dead letter keeps only the beginning of its event: the whole could not be stored",
			"event_id", d.id, "payload_bytes", len(payload), "err", err)
		return nil
	}
	dl.PayloadBucket, dl.PayloadObject = h.cfg.Payloads.Bucket(), name
	return nil
}
