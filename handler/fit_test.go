package handler

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"testing"

	"github.com/purgebus/purgebus/bus"
	"github.com/purgebus/purgebus/events"
)

// payloadStore is a PayloadStore that keeps payloads in memory, or fails
// with err.
type payloadStore struct {
	err  error
	kept map[string][]byte
}

func (s *payloadStore) Put(_ context.Context, name string, data []byte) error {
	if s.err != nil {
		return s.err
	}
	s.kept[name] = bytes.Clone(data)
	return nil
}

func (s *payloadStore) Bucket() string { return "bucket" }

// TestLargeDeadLetter: on a server whose messages hold 8 KiB, an event
// of 6,000 control bytes (36,000 once quoted) gets a dead letter that
// fits, keeps its beginning and names the whole in the payload store;
// without the store's bucket it ends all the same, and a store that fails
// otherwise makes it wait for a redelivery, unless it is the last.
func TestLargeDeadLetter(t *testing.T) {
	payload := bytes.Repeat([]byte{1}, 6000)
	transient := errors.New("store unavailable")
	for i, tc := range []struct {
		storeErr  error
		last      bool
		redeliver bool
		stored    bool
	}{
		{nil, false, false, true},
		{fmt.Errorf("%w: bucket", bus.ErrNoPayloadBucket), false, false, false},
		{transient, false, true, false},
		{transient, true, false, false},
	} {
		t.Run(fmt.Sprint(i), func(t *testing.T) {
			r := newHandlerRig(t, CoalescerConfig{}, Config{MaxPayload: func() int64 { return 8 << 10 }})
			store := &payloadStore{err: tc.storeErr, kept: map[string][]byte{}}
			r.h.cfg.Payloads = store
			err := r.h.Handle(newMsg(payload, testDelivery{seq: 9, msgID: "ev-large", last: tc.last}))
			msgs := r.pub.all()
			if tc.redeliver {
				if !errors.Is(err, transient) || len(msgs) != 0 {
					t.Fatalf("err %v, %d published: want the store's error and nothing published", err, len(msgs))
				}
				return
			}
			if err != nil || len(msgs) != 2 {
				t.Fatalf("err %v, %d published: want a dead letter and a result", err, len(msgs))
			}
			for _, m := range msgs {
				if len(m.data) > 8<<10-headerAllowance {
					t.Errorf("%s is %d bytes, more than the server takes", m.subject, len(m.data))
				}
			}
			var dl events.DeadLetter
			if err := json.Unmarshal(msgs[0].data, &dl); err != nil {
				t.Fatal(err)
			}
			if !dl.PayloadTruncated || dl.PayloadBytes != len(payload) || !bytes.HasPrefix(payload, []byte(dl.Payload)) {
				t.Errorf("dead letter: truncated %v, %d bytes, payload of %d", dl.PayloadTruncated, dl.PayloadBytes, len(dl.Payload))
			}
			if stored := store.kept[dl.PayloadObject]; tc.stored != (dl.PayloadObject != "") || tc.stored && !bytes.Equal(stored, payload) {
				t.Errorf("payload object %q in bucket %q: %d bytes stored", dl.PayloadObject, dl.PayloadBucket, len(stored))
			}
		})
	}
}
