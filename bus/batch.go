package bus

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/synadia-io/orbit.go/jetstreamext"
)

// BatchPublisher stores messages in flow-acked fast batches
// (github.com/synadia-io/orbit.go/jetstreamext) on a stream that allows
// batch publishing (see BatchPublishAllowed), while each caller still
// waits until its own message is stored. A batch holds what callers
// publish while the previous batch is being confirmed: one goroutine adds
// their messages to it, hands each caller its answer as soon as a flow
// ack (which, gaps not allowed, confirms every earlier message of the
// batch) covers its message, and commits the batch with its last message
// when no other caller waits, which confirms the rest. The server answers
// one flow ack per Flow messages instead of an acknowledgement per
// message. On a replicated stream a flow ack comes once the stream's
// raft group committed the messages it covers; a commit's acknowledgement
// confirms only as many messages as it counts (a new leader that lost
// some ends the batch with what it has, without an error).
//
// Failure semantics are Publisher's, which BatchPublisher falls back on:
// a batch that fails (a flow ack or the commit did not come within the
// ack timeout, the stream leader changed, the server refused a message or
// committed fewer) sends each of its messages not confirmed again through
// the Publisher, with the same message ID, so that one stored after all
// is not stored twice (nats-server honours Nats-Msg-Id in fast batches:
// a duplicate is skipped and still counts as persisted). Messages to
// subjects outside the batched prefix (dead letters, on another stream)
// go through the Publisher directly.
type BatchPublisher struct {
	js       jetstream.JetStream
	fallback *Publisher
	prefix   string
	flow     jetstreamext.FastPublishFlowControl
	maxBatch int

	in       chan *batchReq // unbuffered: a request is taken by run or not at all
	quit     chan struct{}
	stopped  chan struct{}
	quitOnce sync.Once
}

// closedPoll is how often start looks whether the server ended a batch
// at its first message.
const closedPoll = 2 * time.Millisecond

// BatchConfig configures a BatchPublisher.
type BatchConfig struct {
	// Prefix selects the subjects published in batches ("purge.result."):
	// one batch goes to one stream.
	Prefix string
	// Flow is how many messages the server confirms with one flow ack
	// (100 when 0; the server may change it).
	Flow uint16
	// MaxBatch commits a batch that never goes idle after this many
	// messages (1,000 when 0).
	MaxBatch int
}

// batchReq is one Publish call waiting for its answer.
type batchReq struct {
	ctx context.Context
	msg *nats.Msg
	res chan error // buffered: run never waits for the caller
}

// NewBatchPublisher returns a BatchPublisher on nc (the fallback's own
// connection may be the same) that falls back on fallback. Close stops it.
func NewBatchPublisher(nc *nats.Conn, fallback *Publisher, cfg BatchConfig) (*BatchPublisher, error) {
	if cfg.Prefix == "" {
		return nil, errors.New("bus: a batch publisher needs the prefix of its stream's subjects")
	}
	if cfg.Flow == 0 {
		cfg.Flow = 100
	}
	if cfg.MaxBatch <= 0 {
		cfg.MaxBatch = 1000
	}
	js, err := jetstream.New(nc, jetstream.WithDefaultTimeout(publishAckTimeout))
	if err != nil {
		return nil, fmt.Errorf("bus: %w", err)
	}
	// Up to MaxBatch unconfirmed, as Publisher's window.
	outstanding := max(uint16(min(cfg.MaxBatch/int(cfg.Flow), 1<<15)), 2)
	b := &BatchPublisher{
		js: js, fallback: fallback, prefix: cfg.Prefix, maxBatch: cfg.MaxBatch,
		flow: jetstreamext.FastPublishFlowControl{Flow: cfg.Flow, MaxOutstandingAcks: outstanding, AckTimeout: publishAckTimeout},
		in:   make(chan *batchReq), quit: make(chan struct{}), stopped: make(chan struct{}),
	}
	go b.run()
	return b, nil
}

// Publish stores data on subject and returns once JetStream stored it,
// as Publisher.Publish does.
func (b *BatchPublisher) Publish(ctx context.Context, subject string, data []byte, msgID string) error {
	if !strings.HasPrefix(subject, b.prefix) {
		return b.fallback.Publish(ctx, subject, data, msgID)
	}
	msg := &nats.Msg{Subject: subject, Data: data}
	if msgID != "" {
		msg.Header = nats.Header{jetstream.MsgIDHeader: {msgID}}
	}
	r := &batchReq{ctx: ctx, msg: msg, res: make(chan error, 1)}
	select {
	case b.in <- r:
	case <-b.quit:
		return b.fallback.Publish(ctx, subject, data, msgID)
	case <-ctx.Done():
		return fmt.Errorf("bus: publish %s: %w", subject, ctx.Err())
	}
	select {
	case err := <-r.res:
		return err
	case <-ctx.Done():
		return fmt.Errorf("bus: publish %s: %w", subject, ctx.Err())
	}
}

// Close commits the batch under way, answers its callers, and stops:
// later Publish calls go through the fallback.
func (b *BatchPublisher) Close() {
	b.quitOnce.Do(func() { close(b.quit) })
	<-b.stopped
}

// run is the one goroutine that owns the batch. It keeps the newest
// message back: sent when another caller comes, or else as the batch's
// commit (CommitMsg) the moment nobody else waits. jetstreamext's Close
// would instead end the batch with an empty message on the subject of a
// result, which every core subscriber of purge.result.> would receive.
func (b *BatchPublisher) run() {
	defer close(b.stopped)
	var (
		fp      jetstreamext.FastPublisher
		pending []*batchReq // the batch's messages sent, batch sequence i+1 at i
		done    int         // pending[:done] are answered
		held    *batchReq   // the newest message, not sent yet
	)
	// confirm answers the callers of the batch's first n messages.
	confirm := func(n uint64) {
		for ; done < len(pending) && uint64(done) < n; done++ {
			pending[done].res <- nil
		}
	}
	// end answers every caller of the batch not yet answered: stored,
	// when err is nil, or else sent again through the fallback.
	end := func(err error) {
		for _, r := range pending[done:] {
			if err == nil {
				r.res <- nil
				continue
			}
			go func() {
				r.res <- b.fallback.Publish(r.ctx, r.msg.Subject, r.msg.Data, r.msg.Header.Get(jetstream.MsgIDHeader))
			}()
		}
		fp, pending, done = nil, nil, 0
	}
	for {
		// No message held, no batch open: a batch always ends with the
		// message it held.
		if held == nil {
			select {
			case held = <-b.in:
			case <-b.quit:
				return
			}
		}
		var next *batchReq
		if len(pending)+1 < b.maxBatch {
			select {
			case next = <-b.in:
			default:
			}
		}
		if next == nil {
			// Nobody else waits (or the batch is full): held commits
			// the batch, and the commit's acknowledgement confirms it
			// and the rest.
			r := held
			held = nil
			pending = append(pending, r)
			ack, err := b.commit(fp, r.msg)
			if err == nil {
				confirm(ack.BatchSize)
				if done < len(pending) {
					err = fmt.Errorf("bus: batch of %d messages committed with %d stored", len(pending), ack.BatchSize)
				}
			}
			end(err)
			continue
		}
		r := held
		held = next
		pending = append(pending, r)
		var (
			ack *jetstreamext.FastPubAck
			err error
		)
		if fp == nil {
			fp, ack, err = b.start(r)
		} else {
			ack, err = fp.AddMsg(r.msg)
		}
		if err != nil {
			end(err)
			continue
		}
		confirm(ack.AckSequence)
	}
}

// commit commits fp's batch with msg, or stores msg alone as a batch of
// one when no batch is open. It succeeds only on the server's
// acknowledgement of the commit, whose count the caller checks: a stream
// leader that took over in the middle of a batch answers a gap in it
// with a commit of what it stored, without an error.
func (b *BatchPublisher) commit(fp jetstreamext.FastPublisher, msg *nats.Msg) (*jetstreamext.BatchAck, error) {
	if fp == nil {
		var err error
		if fp, err = jetstreamext.NewFastPublisher(b.js, b.flow); err != nil {
			return nil, err
		}
	}
	// CommitMsg waits at most the ack timeout, pinging for a lost
	// acknowledgement meanwhile; a batch of one cannot ping (jetstreamext
	// learns the subject from AddMsg), so a lost acknowledgement fails it
	// after a third of the timeout and the fallback sends it again.
	ack, err := fp.CommitMsg(context.Background(), msg)
	if err != nil {
		return nil, fmt.Errorf("bus: commit batch: %w", err)
	}
	return ack, nil
}

// start starts a batch with r. The server answers a first message it
// refuses (batches not allowed, or the message itself) as it would a
// single publish, which jetstreamext v0.3.2 takes for the end of a batch
// it then waits for until the ack timeout: the refusal, which reaches the
// error handler at once, ends the wait instead, abandoning the batch. A
// first message that is a duplicate (a result published again) is
// answered the same way but without an error, which only closes the
// batch: that too ends the wait, and the fallback stores nothing twice.
func (b *BatchPublisher) start(r *batchReq) (jetstreamext.FastPublisher, *jetstreamext.FastPubAck, error) {
	refused := make(chan error, 1)
	fp, err := jetstreamext.NewFastPublisher(b.js, b.flow, jetstreamext.WithFastPublisherErrorHandler(func(err error) {
		select {
		case refused <- err:
		default:
		}
	}))
	if err != nil {
		return nil, nil, err
	}
	type added struct {
		ack *jetstreamext.FastPubAck
		err error
	}
	first := make(chan added, 1)
	go func() {
		ack, err := fp.AddMsg(r.msg)
		first <- added{ack, err}
	}()
	tick := time.NewTicker(closedPoll)
	defer tick.Stop()
	for {
		select {
		case a := <-first:
			return fp, a.ack, a.err
		case err := <-refused:
			return nil, nil, fmt.Errorf("bus: batch refused: %w", err)
		case <-tick.C:
			// Closed with no first ack yet: the server answered the
			// first message alone.
			if fp.IsClosed() {
				select {
				case a := <-first:
					return fp, a.ack, a.err
				default:
				}
				return nil, nil, errors.New("bus: batch ended at its first message")
			}
		}
	}
}

// BatchPublishAllowed reports whether stream allows fast batch publishing:
// its configuration as the server returns it says so. A server that
// predates batch publishing drops the setting, and so reports false.
func BatchPublishAllowed(ctx context.Context, js jetstream.JetStream, stream string) (bool, error) {
	s, err := js.Stream(ctx, stream)
	if err != nil {
		return false, fmt.Errorf("bus: look up stream %s: %w", stream, err)
	}
	return s.CachedInfo().Config.AllowBatchPublish, nil
}
