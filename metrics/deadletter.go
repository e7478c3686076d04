package metrics

import (
	"slices"
	"strings"
)

// DeadLetterReasons are the reason classes of
// purgebus_events_dead_lettered_total:
//
//   - too_large: the event exceeded the size limit
//   - undecodable: not UTF-8, or not JSON
//   - invalid_objects: some URLs, tags or CP codes are invalid
//   - invalid_event: a bad action, network or ID, or no objects
//   - poison: the handler panicked on every delivery
//   - gave_up: not finished by the durable's last delivery, or its
//     result refused for good by NATS
//   - other: any other reason
var DeadLetterReasons = []string{"too_large", "undecodable", "invalid_objects", "invalid_event", "poison", "gave_up", other}

// DeadLetterClass returns the class in DeadLetterReasons of a dead
// letter's reason, as the handler writes it (events.DeadLetter.Reason). A
// class name is its own class.
func DeadLetterClass(reason string) string {
	if slices.Contains(DeadLetterReasons, reason) {
		return reason
	}
	if strings.HasPrefix(reason, "handler panicked") {
		return "poison"
	}
	if strings.HasPrefix(reason, "gave up: ") { // handler.GiveUpPrefix
		return "gave_up"
	}
	// The rest of the handler's reasons are *events.InvalidEventError
	// texts. Only their fixed beginnings are read: what follows may quote
	// the event's own objects.
	r, ok := strings.CutPrefix(reason, "invalid event: ")
	if !ok {
		return other
	}
	switch {
	case strings.HasPrefix(r, "event is not valid UTF-8"), strings.HasPrefix(r, "undecodable JSON"):
		return "undecodable"
	case strings.HasPrefix(r, "event is ") && strings.Contains(r, " bytes; the limit is "):
		return "too_large"
	case isInvalidObjects(r):
		return "invalid_objects"
	}
	return "invalid_event"
}

// isInvalidObjects reports whether r starts "N invalid object(s)".
func isInvalidObjects(r string) bool {
	digits := strings.TrimLeft(r, "0123456789")
	return len(digits) < len(r) && strings.HasPrefix(digits, " invalid object(s)")
}
