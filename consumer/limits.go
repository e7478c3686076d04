package consumer

import (
	"errors"
	"fmt"

	"github.com/purgebus/purgebus/events"
)

// checkMaxPayload reports settings that the NATS server's largest message
// (maxPayload, which only the server knows) makes unworkable: an event
// larger than it cannot be published, and a result or dead-letter stream
// smaller than it drops a message of that size as soon as it is stored.
func checkMaxPayload(cfg Config, maxPayload int64) error {
	if maxPayload <= 0 {
		return nil
	}
	var errs []error
	maxEvent := int64(cfg.Handler.MaxEventBytes)
	if maxEvent <= 0 {
		maxEvent = events.DefaultMaxEventBytes
	}
	if maxEvent > maxPayload {
		errs = append(errs, fmt.Errorf("the largest event accepted (MaxEventBytes, --max-event-bytes) is %d bytes, more than the NATS server's max payload of %d: lower it, or raise the server's max_payload", maxEvent, maxPayload))
	}
	// Unless provisioned, the streams are the server's as they are.
	provisioned := cfg.Provision || cfg.NATSURL == ""
	for _, s := range []struct {
		what string
		n    int64
	}{{"result stream's size limit (ResultMaxBytes, --result-max-bytes)", cfg.Streams.ResultMaxBytes}, {"dead-letter stream's size limit (DeadLetterMaxBytes, --deadletter-max-bytes)", cfg.Streams.DeadLetterMaxBytes}} {
		if provisioned && s.n > 0 && s.n < maxPayload {
			errs = append(errs, fmt.Errorf("the %s is %d bytes, less than one message of the NATS server's max payload of %d: it would drop such a message as soon as it is stored", s.what, s.n, maxPayload))
		}
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("consumer: %w", err)
	}
	return nil
}
