package handler

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/purgebus/purgebus/events"
)

// refusingPublisher refuses results that say "succeeded" with err, and
// stores everything else in rec.
type refusingPublisher struct {
	rec *recorder
	err error
}

func (p *refusingPublisher) Publish(ctx context.Context, subject string, data []byte, msgID string) error {
	if strings.HasPrefix(subject, events.SubjectResults+".succeeded.") {
		return p.err
	}
	return p.rec.Publish(ctx, subject, data, msgID)
}

// TestGiveUp: a result that NATS refuses for good ends the event at once
// with a dead letter and a failed result that say why; a result refused
// for a passing reason is retried (the event redelivered), unless this
// was the event's last delivery.
func TestGiveUp(t *testing.T) {
	refused := []error{
		fmt.Errorf("bus: publish: %w", nats.ErrMaxPayload),
		fmt.Errorf("bus: publish: %w", &jetstream.APIError{ErrorCode: jetstream.JSErrCodeStreamMessageExceedsMaximum, Code: 400}),
	}
	passing := fmt.Errorf("bus: publish: %w", jetstream.ErrNoStreamResponse)
	for i, tc := range []struct {
		err     error
		last    bool
		giveUp  bool
		wantWhy string
	}{
		{refused[0], false, true, "gave up: the result was refused: "},
		{refused[1], false, true, "gave up: the result was refused: "},
		{passing, false, false, ""},
		{passing, true, true, "gave up: not finished after 7 deliveries: "},
	} {
		t.Run(fmt.Sprint(i), func(t *testing.T) {
			r := newHandlerRig(t, CoalescerConfig{}, Config{})
			r.h.pub = &refusingPublisher{rec: r.pub, err: tc.err}
			id := fmt.Sprintf("ev-giveup-%d", i)
			payload := eventJSON(t, events.ContentChanged{ID: id, URLs: []string{"https://www.example.com/g"}})
			err := r.h.Handle(newMsg(payload, testDelivery{seq: 5, delivered: 7, last: tc.last}))
			msgs := r.pub.all()
			if !tc.giveUp {
				if !errors.Is(err, jetstream.ErrNoStreamResponse) || len(msgs) != 0 {
					t.Fatalf("err %v, published %d: want the error, for a redelivery, and nothing published", err, len(msgs))
				}
				return
			}
			if err != nil {
				t.Fatalf("err = %v, want nil: the event ends", err)
			}
			if len(msgs) != 2 || msgs[0].subject != events.DeadLetterSubject(id) || msgs[1].subject != events.ResultSubject(events.OutcomeFailed, id) {
				t.Fatalf("published %+v, want a dead letter and a failed result", msgs)
			}
			res := decodeResult(t, msgs[1])
			if len(res.Failures) != 1 || !strings.HasPrefix(res.Failures[0].Detail, tc.wantWhy) {
				t.Errorf("result failures %+v, want the reason %q…", res.Failures, tc.wantWhy)
			}
		})
	}
}
