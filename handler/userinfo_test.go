package handler

import (
	"encoding/json"
	"slices"
	"strings"
	"testing"

	"github.com/purgebus/purgebus/events"
)

// TestHandleURLWithUserInfo: an event with a URL that carries credentials
// is refused as invalid, and neither its result nor its dead letter
// repeats the password, however the event's JSON spells the URL.
func TestHandleURLWithUserInfo(t *testing.T) {
	const secret = "hunter2-XYZ"
	for _, tc := range []struct {
		name    string
		payload string
		shown   string // the object as the result names it
	}{
		{"user and password", `{"id":"ev-ui","urls":["https://purge:` + secret + `@www.example.com/a","https://www.example.com/ok"]}`,
			"https://purge:[redacted]@www.example.com/a"},
		{"token", `{"id":"ev-ui","urls":["https://` + secret + `@www.example.com/a"]}`, "https://[redacted]@www.example.com/a"},
		{"escaped at sign", `{"id":"ev-ui","urls":["https://purge:` + secret + `\u0040www.example.com/a"]}`, "https://purge:[redacted]@www.example.com/a"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := newHandlerRig(t, CoalescerConfig{}, Config{})
			if err := r.h.Handle(newMsg([]byte(tc.payload), testDelivery{seq: 7})); err != nil {
				t.Fatalf("Handle = %v", err)
			}
			msgs := r.pub.all()
			if len(msgs) != 2 {
				t.Fatalf("published %d messages, want a dead letter and a result", len(msgs))
			}
			for _, m := range msgs {
				if strings.Contains(string(m.data), secret) {
					t.Errorf("%s repeats the password: %s", m.subject, m.data)
				}
			}
			var dl events.DeadLetter
			if err := json.Unmarshal(msgs[0].data, &dl); err != nil {
				t.Fatal(err)
			}
			if !strings.Contains(dl.Reason, "user info") || !strings.Contains(string(dl.OriginalPayload()), "[redacted]@www.example.com") {
				t.Errorf("dead letter %+v", dl)
			}
			res := decodeResult(t, msgs[1])
			var named bool
			for _, f := range res.Failures {
				named = named || slices.Contains(f.Objects, tc.shown) && strings.Contains(f.Detail, "user info")
			}
			if res.Outcome != events.OutcomeFailed || !named {
				t.Errorf("result %s does not name %s as invalid", msgs[1].data, tc.shown)
			}
			if n := len(r.fake.Requests()); n != 0 {
				t.Errorf("%d Akamai requests", n)
			}
		})
	}
}
