package main

import (
	"context"
	"strconv"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/synadia-io/orbit.go/jetstreamext"

	"github.com/purgebus/purgebus/bus"
	"github.com/purgebus/purgebus/events"
)

// TestFastBatchMsgID records what nats-server v2.15.2 and jetstreamext
// v0.3.2 do with Nats-Msg-Id in a fast batch, which a result publisher
// built on them must live with: a message whose ID the stream's duplicate
// window already holds is skipped, not stored twice, and still counts as
// persisted for the flow acks and the commit, wherever it is in the batch
// (first, inside, or every message).
func TestFastBatchMsgID(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	r, err := startNATSAt(ctx, "inprocess", "", bus.StreamsConfig{})
	if err != nil {
		t.Fatal(err)
	}
	defer r.close()
	rs, err := r.js.Stream(ctx, events.DefaultResultStream)
	if err != nil {
		t.Fatal(err)
	}
	cfg := rs.CachedInfo().Config
	cfg.AllowBatchPublish = true
	if _, err := r.js.UpdateStream(ctx, cfg); err != nil {
		t.Fatal(err)
	}
	js, err := jetstream.New(r.nc, jetstream.WithDefaultTimeout(time.Second))
	if err != nil {
		t.Fatal(err)
	}
	stored := func() uint64 {
		si, err := rs.Info(ctx)
		if err != nil {
			t.Fatal(err)
		}
		return si.State.Msgs
	}
	batch := func(ids ...int) error {
		fp, err := jetstreamext.NewFastPublisher(js)
		if err != nil {
			return err
		}
		for _, id := range ids {
			s := strconv.Itoa(id)
			if _, err := fp.AddMsg(&nats.Msg{Subject: "purge.result.succeeded.e" + s, Data: []byte("{}"),
				Header: nats.Header{jetstream.MsgIDHeader: {"result:e" + s}}}); err != nil {
				return err
			}
		}
		_, err = fp.Close(ctx)
		return err
	}

	if err := batch(1, 2, 3); err != nil {
		t.Fatalf("first batch: %v", err)
	}
	if n := stored(); n != 3 {
		t.Fatalf("%d results stored, want 3", n)
	}
	// Duplicates after the first message: skipped, the batch succeeds.
	if err := batch(4, 2, 3, 5); err != nil {
		t.Fatalf("batch with duplicates inside: %v", err)
	}
	if n := stored(); n != 5 {
		t.Fatalf("%d results stored after resending 2 and 3, want 5", n)
	}
	// A duplicate first, and a whole batch of them.
	if err := batch(1, 6); err != nil {
		t.Fatalf("batch starting with a duplicate: %v", err)
	}
	if err := batch(1, 2, 6); err != nil {
		t.Fatalf("batch of duplicates: %v", err)
	}
	if n := stored(); n != 6 {
		t.Fatalf("%d results stored, want 6", n)
	}
}
