package main

import (
	"bytes"
	"context"
	"fmt"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/synadia-io/orbit.go/jetstreamext"

	"github.com/purgebus/purgebus/bus"
)

// maxFastBatch bounds a batch of batchRelay's: one that never goes idle
// is committed after this many messages.
const maxFastBatch = 10000

// batchRelay is bareRelay with the results stored in flow-acked fast
// batches (github.com/synadia-io/orbit.go/jetstreamext, a results stream
// with AllowBatchPublish): each message is acked once a flow ack (whose
// sequence confirms every earlier message of the batch) or the batch's
// commit covers its result. A batch ends when no message waits, so a
// batch is what arrived while the last one was being confirmed. It
// measures what batching could gain the consumer, for figure 2's
// information rows.
func batchRelay(ctx context.Context, r *natsRig, n, size int) (time.Duration, error) {
	sc := bus.StreamsConfig{}.Defaults()
	rs, err := r.js.Stream(ctx, sc.ResultStream)
	if err != nil {
		return 0, err
	}
	rcfg := rs.CachedInfo().Config
	if !rcfg.AllowBatchPublish {
		rcfg.AllowBatchPublish = true
		if _, err := r.js.UpdateStream(ctx, rcfg); err != nil {
			return 0, fmt.Errorf("allow batch publish on %s: %w", sc.ResultStream, err)
		}
	}
	rc, err := r.relayConns(ctx, "purgeload-batch-relay", jetstream.WithDefaultTimeout(10*time.Second))
	if err != nil {
		return 0, err
	}
	defer rc.close()
	nc, pjs, cons := rc.nc, rc.pjs, rc.cons
	payload := bytes.Repeat([]byte("x"), size)
	in := make(chan jetstream.Msg, resultWindow)
	var got, failed atomic.Int64
	done := make(chan struct{})
	ackUpTo := func(pending []jetstream.Msg, acked int, upTo int) int {
		for ; acked < upTo && acked < len(pending); acked++ {
			_ = pending[acked].Ack()
			if got.Add(1) == int64(n) {
				close(done)
			}
		}
		return acked
	}
	bctx, stop := context.WithCancel(ctx)
	defer stop()
	go func() {
		var (
			fp      jetstreamext.FastPublisher
			pending []jetstream.Msg
			acked   int
		)
		fail := func(err error) {
			failed.Add(int64(len(pending) - acked))
			for _, m := range pending[acked:] {
				_ = m.Nak()
			}
			fp, pending, acked = nil, pending[:0], 0
			_ = err
		}
		for {
			var m jetstream.Msg
			if fp == nil {
				select {
				case m = <-in:
				case <-bctx.Done():
					return
				}
			} else {
				select {
				case m = <-in:
				default:
				}
				if m == nil || len(pending) >= maxFastBatch {
					// Nothing waits: commit, which confirms the rest.
					if _, err := fp.Close(bctx); err != nil {
						fail(err)
						if m != nil {
							failed.Add(1)
							_ = m.Nak()
						}
						continue
					}
					ackUpTo(pending, acked, len(pending))
					fp, pending, acked = nil, pending[:0], 0
					if m == nil {
						continue
					}
				}
			}
			if fp == nil {
				var err error
				if fp, err = jetstreamext.NewFastPublisher(pjs, jetstreamext.FastPublishFlowControl{Flow: 100, MaxOutstandingAcks: 10}); err != nil {
					failed.Add(1)
					_ = m.Nak()
					continue
				}
			}
			meta, err := m.Metadata()
			if err != nil {
				failed.Add(1)
				continue
			}
			id := "relay-" + strconv.FormatUint(meta.Sequence.Stream, 10)
			msg := &nats.Msg{Subject: "purge.result.succeeded." + id, Data: payload,
				Header: nats.Header{jetstream.MsgIDHeader: {"result:" + id}}}
			pending = append(pending, m)
			ack, err := fp.AddMsg(msg)
			if err != nil {
				fail(err)
				continue
			}
			acked = ackUpTo(pending, acked, int(ack.AckSequence))
		}
	}()
	start := time.Now()
	cc, err := cons.Consume(func(m jetstream.Msg) { in <- m })
	if err != nil {
		return 0, err
	}
	defer cc.Stop()
	if err := awaitCount(ctx, done, &got, &failed, n); err != nil {
		return 0, err
	}
	if err := nc.Flush(); err != nil {
		return 0, err
	}
	return time.Since(start), nil
}
