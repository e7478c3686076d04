package metrics

import (
	"context"
	"encoding/json"
	"strings"
	"time"

	"github.com/purgebus/purgebus/events"
	"github.com/purgebus/purgebus/handler"
)

// WrapPublisher returns a handler.Publisher that publishes through pub
// and, once a result or a dead letter is stored, counts it: EventFinished
// with the result's outcome and latency (CompletedAt - ReceivedAt), or
// DeadLettered with the dead letter's reason. Pass it to handler.New in
// place of pub. An event redelivered after its result was stored (its
// ack was lost) is counted again.
func (m *Metrics) WrapPublisher(pub handler.Publisher) handler.Publisher {
	if m == nil {
		return pub
	}
	return &resultPublisher{m: m, pub: pub}
}

type resultPublisher struct {
	m   *Metrics
	pub handler.Publisher
}

func (p *resultPublisher) Publish(ctx context.Context, subject string, data []byte, msgID string) error {
	if err := p.pub.Publish(ctx, subject, data, msgID); err != nil {
		return err
	}
	switch {
	case strings.HasPrefix(subject, events.SubjectResults+"."):
		var r struct {
			Outcome     string    `json:"outcome"`
			ReceivedAt  time.Time `json:"received_at"`
			CompletedAt time.Time `json:"completed_at"`
		}
		if json.Unmarshal(data, &r) == nil {
			var latency time.Duration
			if !r.ReceivedAt.IsZero() && !r.CompletedAt.IsZero() {
				latency = r.CompletedAt.Sub(r.ReceivedAt)
			}
			p.m.EventFinished(r.Outcome, latency)
		}
	case strings.HasPrefix(subject, events.SubjectDeadLetters+"."):
		var d struct {
			Reason string `json:"reason"`
		}
		if json.Unmarshal(data, &d) == nil {
			p.m.DeadLettered(d.Reason)
		}
	}
	return nil
}
