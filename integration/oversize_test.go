package integration

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/purgebus/purgebus/akamai/akamaitest"
	"github.com/purgebus/purgebus/bus"
	"github.com/purgebus/purgebus/consumer"
	"github.com/purgebus/purgebus/events"
)

// inflating is an event whose quoting in a result or a dead letter is
// many times its size.
type inflating struct {
	id      string
	payload []byte
}

// inflatingEvents returns, for a server whose max_payload is maxPayload
// and a consumer whose --max-event-bytes is maxEvent, one event of each
// kind that inflates when quoted (control bytes: ×6 as \u0001; quotes:
// ×2; invalid UTF-8: base64, ×4/3; an invalid object quoted in the
// result's failure and the dead letter's reason; thousands of invalid
// objects), each exactly at and just under every limit. largest is the
// largest payload the client can publish with the event's ID as header.
func inflatingEvents(maxEvent int, largest func(id string) int) []inflating {
	rep := func(b byte, n int) []byte { return bytes.Repeat([]byte{b}, n) }
	var out []inflating
	add := func(id string, p []byte) { out = append(out, inflating{id, p}) }
	for _, kind := range []struct {
		name string
		b    byte
	}{{"ctl", 0x01}, {"quote", '"'}, {"ff", 0xFF}} {
		for _, n := range []struct {
			name string
			size int
		}{{"at-event-limit", maxEvent}, {"under-event-limit", maxEvent - 1}, {"over-event-limit", maxEvent + 1}} {
			add(kind.name+"-"+n.name, rep(kind.b, n.size))
		}
		id := kind.name + "-at-max-payload"
		add(id, rep(kind.b, largest(id)))
		id = kind.name + "-under-max-payload"
		add(id, rep(kind.b, largest(id)-1))
	}
	limit := largest("quote-repro")
	// The reproducers, scaled to the limits: 184,320 bytes of
	// \u0001 (under the default 256 KiB), 614,400 of '"', 819,200 of 0xFF.
	add("ctl-repro", rep(0x01, maxEvent*184320/(256<<10)))
	add("quote-repro", rep('"', min(limit, maxEvent*614400/(256<<10))))
	add("ff-repro", rep(0xFF, min(limit, maxEvent*819200/(256<<10))))
	// Valid JSON whose one object is invalid (not http) and nearly the
	// event limit:
	// quoted in the failure's objects, its detail and the dead letter.
	prefix, suffix := `{"urls":["ftp://www.example.com/`, `"]}`
	quotes := strings.Repeat(`\"`, (maxEvent-len(prefix)-len(suffix))/2)
	add("object-quotes", []byte(prefix+quotes+suffix))
	ctl := strings.Repeat(`\u0001`, (maxEvent-len(prefix)-len(suffix))/6)
	add("object-ctl", []byte(prefix+ctl+suffix))
	// Thousands of invalid tags, each failing with a reason of its own.
	var b strings.Builder
	b.WriteString(`{"tags":[`)
	for i := 0; b.Len() < maxEvent-64; i++ {
		if i > 0 {
			b.WriteByte(',')
		}
		fmt.Fprintf(&b, `"bad\u0001tag\"%d"`, i)
	}
	b.WriteString(`]}`)
	add("many-tags", []byte(b.String()))
	return out
}

// TestInflatingEventsEnd publishes every kind of oversized and inflating
// event and expects exactly one result and one dead letter each, within
// seconds, whose payload (inline, or in the object store) is the event
// byte for byte: none loops for want of room in a NATS message. It runs
// at NATS's default max_payload with the consumer's default event limit,
// and on a server with a small max_payload.
func TestInflatingEventsEnd(t *testing.T) {
	for _, tc := range []struct {
		name                 string
		maxPayload, maxEvent int
	}{
		{"default", 0, events.DefaultMaxEventBytes},
		{"small", 64 << 10, 16 << 10},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := newRig(t, akamaitest.Options{}, func(c *consumer.Config) {
				c.Embedded.MaxPayload = int32(tc.maxPayload)
				c.Handler.MaxEventBytes = tc.maxEvent
			})
			cases := inflatingEvents(tc.maxEvent, func(id string) int { return largestPublishable(t, r.nc, id) })
			start := time.Now()
			for _, c := range cases {
				msg := nats.NewMsg("content.changed.x")
				msg.Header.Set("Nats-Msg-Id", c.id)
				msg.Data = c.payload
				if err := r.nc.PublishMsg(msg); err != nil {
					t.Fatalf("publish %s (%d bytes): %v", c.id, len(c.payload), err)
				}
			}
			results := r.results(len(cases), 20*time.Second)
			dead := r.deadLetters(len(cases), 20*time.Second)
			t.Logf("%d events, max_payload %d: every result and dead letter in %v",
				len(cases), r.nc.MaxPayload(), time.Since(start).Round(time.Millisecond))
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			defer cancel()
			for _, c := range cases {
				rs, ds := results[c.id], dead[c.id]
				if len(rs) != 1 || len(ds) != 1 {
					t.Errorf("%s (%d bytes): %d results and %d dead letters, want 1 each", c.id, len(c.payload), len(rs), len(ds))
					continue
				}
				if rs[0].Outcome != events.OutcomeFailed {
					t.Errorf("%s: outcome %s, want failed", c.id, rs[0].Outcome)
				}
				if c.id == "many-tags" && !rs[0].Truncated {
					t.Errorf("%s: result of %d failures not marked truncated", c.id, len(rs[0].Failures))
				}
				d := ds[0]
				if len(d.Reason) > events.MaxTextBytes {
					t.Errorf("%s: dead letter reason of %d bytes", c.id, len(d.Reason))
				}
				sum := sha256.Sum256(c.payload)
				if d.PayloadBytes != len(c.payload) || d.PayloadSHA256 != hex.EncodeToString(sum[:]) {
					t.Errorf("%s: dead letter says %d bytes, sha256 %s; want %d, %x", c.id, d.PayloadBytes, d.PayloadSHA256, len(c.payload), sum)
				}
				whole := d.OriginalPayload()
				if d.PayloadTruncated {
					if !bytes.HasPrefix(c.payload, whole) {
						t.Errorf("%s: the truncated payload is not the event's beginning", c.id)
					}
					var err error
					if whole, err = bus.GetPayload(ctx, r.js, d.PayloadBucket, d.PayloadObject); err != nil {
						t.Errorf("%s: payload object: %v", c.id, err)
						continue
					}
				}
				if !bytes.Equal(whole, c.payload) {
					t.Errorf("%s: the dead letter's payload (%d bytes, truncated %v) is not the event", c.id, len(whole), d.PayloadTruncated)
				}
			}
			assertAllAcked(t, r)
		})
	}
}

// largestPublishable finds the largest payload the client may publish
// with a Nats-Msg-Id header of id's length: the server's max_payload less
// the header.
func largestPublishable(t *testing.T, nc *nats.Conn, id string) int {
	t.Helper()
	hdr := nats.NewMsg("content.changed.x")
	hdr.Header.Set("Nats-Msg-Id", id)
	for n := int(nc.MaxPayload()); n > 0; n-- {
		// A subject nothing subscribes to or stores: only the client's
		// own size check matters.
		msg := nats.NewMsg("purgebus.test.size")
		msg.Header = hdr.Header
		msg.Data = make([]byte, n)
		if err := nc.PublishMsg(msg); !errors.Is(err, nats.ErrMaxPayload) {
			return n
		}
	}
	t.Fatal("no payload fits")
	return 0
}

func assertAllAcked(t *testing.T, r *rig) {
	t.Helper()
	cons, err := r.js.Consumer(context.Background(), events.DefaultContentStream, "purgebus")
	if err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for {
		ci, err := cons.Info(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		if ci.NumAckPending == 0 && ci.NumPending == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("consumer has %d ack-pending and %d pending events, want all acked", ci.NumAckPending, ci.NumPending)
		}
		time.Sleep(50 * time.Millisecond)
	}
}
