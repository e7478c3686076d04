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

	"github.com/purgebus/purgebus/akamai"
	"github.com/purgebus/purgebus/akamai/akamaitest"
	"github.com/purgebus/purgebus/bus"
	"github.com/purgebus/purgebus/consumer"
	"github.com/purgebus/purgebus/events"
)

// runIngest measures figure 2: how fast the consumer (unpaced, against a
// fake Akamai without buckets) drains a backlog of events whose URLs
// mostly repeat, from its start until every event is acked and every
// result stored (watched from the streams' state, see drainWatch),
// compared with a bare relay draining an identical backlog on the same
// kind of server: consume, publish a result of the consumer's mean size
// with a message ID, ack once it is stored. That is the least any
// consumer keeping purgebus's promise (an event is acked only once its
// result is stored) must do, so the ratio shows what purgebus's own work
// costs. The relay drains its backlog twice, before and after the
// consumer's run, and the mean is the baseline, so that a load change on
// the machine during the run shows as a spread rather than skewing the
// ratio. For information: a bare nats.go consumer (Consume, ack each
// message; before and after as well), a relay that does not wait for the
// store, and the CPU time per event, which other work on the machine
// skews less than rates.
func runIngest(ctx context.Context, cfg *config, f *Figure) error {
	n, k, d := cfg.ingestEvents, cfg.ingestPerEv, cfg.ingestURLs
	gen := func(i int) []byte {
		urls := make([]string, k)
		for j := range urls {
			urls[j] = pageURL("hot", (i*k+j)%d)
		}
		return eventJSON(fmt.Sprintf("ingest-%d", i), urls)
	}

	// The baseline's server stays up, idle, through the consumer's run,
	// for the second pass.
	base, err := startNATS(ctx, cfg)
	if err != nil {
		return err
	}
	defer base.close()
	cfg.progress("figure 2: publishing %d events (%d URLs each from %d distinct) for the bare consumer", n, k, d)
	if err := publishBacklog(ctx, base.nc, n, gen); err != nil {
		return err
	}
	cpu0 := cpuTime()
	bare1, err := bareDrain(ctx, base, n)
	bareCPU := cpuTime() - cpu0
	if err != nil {
		return fmt.Errorf("bare consumer: %w", err)
	}
	cfg.progress("figure 2: bare consumer, first pass: %s msgs/s", num(float64(n)/bare1.Seconds()))
	// The relay's results are the consumer's mean size, known only after
	// its run: the first pass uses the size a purgeload event's result
	// had (817 bytes stored, 3 URLs) and the second the measured one.
	relay1, relay1CPU, err := relayPass(ctx, cfg, base, n, gen, relayGuessBytes, resultWindow, "first pass")
	if err != nil {
		return err
	}

	fake := akamaitest.NewServer(akamaitest.Options{Buckets: akamaitest.BucketConfig{Disabled: true}, MaxRecords: 1000})
	defer fake.Close()
	rig, err := startNATS(ctx, cfg)
	if err != nil {
		return err
	}
	rigClosed := false
	defer func() {
		if !rigClosed {
			rig.close()
		}
	}()
	cfg.progress("figure 2: publishing the same backlog for the consumer")
	if err := publishBacklog(ctx, rig.nc, n, gen); err != nil {
		return err
	}
	dw, err := watchDrain(ctx, rig, n)
	if err != nil {
		return err
	}
	start, cpu0 := time.Now(), cpuTime()
	c, err := rig.startConsumer(ctx, cfg, fake, func(cc *consumer.Config) { cc.Unpaced = true })
	if err != nil {
		return err
	}
	stopProfile := cfg.startProfile(2, f)
	end, err := dw.wait(ctx, 60*time.Second)
	stopProfile()
	took := end.Sub(start)
	consCPU := cpuTime() - cpu0
	closeConsumer(c, f)
	if err != nil {
		return err
	}
	rc, err := dw.tally(ctx, rig.js)
	if err != nil {
		return err
	}
	if got := rc.count(); got != n {
		f.note("%d of %d events have a result", got, n)
	}
	var resultBytes float64
	if s, err := rig.js.Stream(ctx, events.DefaultResultStream); err == nil {
		if si, err := s.Info(ctx); err == nil && si.State.Msgs > 0 {
			resultBytes = float64(si.State.Bytes) / float64(si.State.Msgs)
		}
	}
	rig.close()
	rigClosed = true
	rate := float64(n) / took.Seconds()
	cfg.progress("figure 2: consumer: %s events/s", num(rate))
	if err := rc.failures(); err != nil {
		f.note("not every event succeeded: %v", err)
	}

	cfg.progress("figure 2: publishing the same backlog for the bare consumer's second pass")
	if err := publishBacklog(ctx, base.nc, n, gen); err != nil {
		return err
	}
	cpu0 = cpuTime()
	bare2, err := bareDrain(ctx, base, n)
	bareCPU += cpuTime() - cpu0
	if err != nil {
		return fmt.Errorf("bare consumer, second pass: %w", err)
	}
	cfg.progress("figure 2: bare consumer, second pass: %s msgs/s", num(float64(n)/bare2.Seconds()))
	relay2, relay2CPU, err := relayPass(ctx, cfg, base, n, gen, max(int(resultBytes), 1), resultWindow, "second pass")
	if err != nil {
		return err
	}
	// What storing the results costs the server at all, without the wait
	// for the acknowledgement that purgebus's promise needs: a ceiling no
	// consumer that keeps the promise reaches.
	cfg.progress("figure 2: publishing the same backlog for an unconfirmed relay (consume → publish a result, no wait → ack)")
	if err := publishBacklog(ctx, base.nc, n, gen); err != nil {
		return err
	}
	loose, err := bareRelay(ctx, base, n, max(int(resultBytes), 1), 0)
	if err != nil {
		return fmt.Errorf("unconfirmed relay: %w", err)
	}
	looseRate := float64(n) / loose.Seconds()
	cfg.progress("figure 2: unconfirmed relay: %s events/s", num(looseRate))
	// What storing the results in flow-acked batches would gain.
	cfg.progress("figure 2: publishing the same backlog for a batched relay (consume → results in fast batches → ack once a flow ack covers it)")
	if err := publishBacklog(ctx, base.nc, n, gen); err != nil {
		return err
	}
	cpu0 = cpuTime()
	batched, err := batchRelay(ctx, base, n, max(int(resultBytes), 1))
	if err != nil {
		return fmt.Errorf("batched relay: %w", err)
	}
	batchedCPU := cpuTime() - cpu0
	batchedRate := float64(n) / batched.Seconds()
	cfg.progress("figure 2: batched relay: %s events/s", num(batchedRate))

	r1, r2 := float64(n)/bare1.Seconds(), float64(n)/bare2.Seconds()
	bareRate := (r1 + r2) / 2
	rl1, rl2 := float64(n)/relay1.Seconds(), float64(n)/relay2.Seconds()
	relayRate := (rl1 + rl2) / 2

	st := fake.Stats()
	f.ratio("consumer drain rate", rate, "events/s", relayRate, "events/s", "bare relay: consume → publish result → ack once stored", &goal{op: ">=", bound: 0.8})
	f.ratio("consumer drain rate vs a bare consume", rate, "events/s", bareRate, "msgs/s", "bare nats.go Consume+Ack", nil)
	f.ratio("bare relay vs a bare consume", relayRate, "events/s", bareRate, "msgs/s", "the cost of one stored result per event", nil)
	f.ratio("unconfirmed relay vs a bare consume", looseRate, "events/s", bareRate, "msgs/s", "the same without waiting for the store", nil)
	f.ratio("batched relay vs a bare relay", batchedRate, "events/s", relayRate, "events/s", "results in flow-acked fast batches", nil)
	consPer, barePer := float64(consCPU.Microseconds())/float64(n), float64(bareCPU.Microseconds())/float64(2*n)
	relayPer := float64((relay1CPU + relay2CPU).Microseconds()) / float64(2*n)
	f.ratio("CPU per event, bare relay ÷ consumer", relayPer, "µs", consPer, "µs", "consumer's CPU per event", nil)
	f.ratio("CPU per message, bare ÷ consumer", barePer, "µs", consPer, "µs", "consumer's CPU per event", nil)
	f.raw("backlogged events", float64(n), "events")
	f.raw("URLs per event", float64(k), "URLs")
	f.raw("distinct URLs the events draw from", float64(d), "URLs")
	f.raw("consumer: start → last result", took.Seconds(), "s")
	f.raw("consumer: purge requests", float64(st.Purges), "requests")
	f.raw("consumer: URLs purged (after dedupe)", float64(st.Objects[akamai.TypeURL]), "URLs")
	f.raw("consumer: mean stored result size", resultBytes, "bytes")
	f.raw("consumer: duplicate results seen", float64(rc.duplicates()), "results")
	f.raw("consumer: CPU per event (this process: consumer, NATS, fake Akamai)", consPer, "µs")
	f.raw("consumer: CPU used ÷ wall time", consCPU.Seconds()/took.Seconds(), "cores")
	f.raw("bare consumer: CPU per message (NATS included)", barePer, "µs")
	f.raw("bare relay: CPU per event (NATS included)", relayPer, "µs")
	f.raw("bare relay, pass before", rl1, "events/s")
	f.raw("bare relay, pass after", rl2, "events/s")
	f.raw("bare consumer, pass before", r1, "msgs/s")
	f.raw("bare consumer, pass after", r2, "msgs/s")
	f.raw("unconfirmed relay: rate", looseRate, "events/s")
	f.raw("batched relay: rate", batchedRate, "events/s")
	f.raw("batched relay: CPU per event (NATS included)", float64(batchedCPU.Microseconds())/float64(n), "µs")
	for _, p := range []struct {
		what   string
		r1, r2 float64
	}{{"bare relay", rl1, rl2}, {"bare consumer", r1, r2}} {
		if spread := p.r1/p.r2 - 1; spread > 0.25 || spread < -0.2 {
			f.note("the two %s passes differ by %.0f %%: the machine's load changed during the run", p.what, spread*100)
		}
	}
	return nil
}

// bareDrain drains the rig's content stream with a bare nats.go consumer
// on purgebus's durable (same in-flight limit and ack wait as the
// consumer's) and returns how long it took to receive and ack every one of
// n messages. The content stream is a work queue: acked messages leave it,
// so every pass needs a backlog of its own.
func bareDrain(ctx context.Context, r *natsRig, n int) (time.Duration, error) {
	sc := bus.StreamsConfig{}.Defaults() // names only: the durable is the rig's
	nc, err := r.connect("purgeload-bare")
	if err != nil {
		return 0, err
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		return 0, err
	}
	cons, err := js.Consumer(ctx, sc.ContentStream, sc.Durable)
	if err != nil {
		return 0, err
	}
	var got atomic.Int64
	done := make(chan struct{})
	start := time.Now()
	cc, err := cons.Consume(func(m jetstream.Msg) {
		_ = m.Ack()
		if got.Add(1) == int64(n) {
			close(done)
		}
	})
	if err != nil {
		return 0, err
	}
	defer cc.Stop()
	if err := awaitCount(ctx, done, &got, nil, n); err != nil {
		return 0, err
	}
	// Acks are fire-and-forget: make sure the server has them all before
	// the clock stops, as the consumer's count stops at its results.
	if err := nc.Flush(); err != nil {
		return 0, err
	}
	return time.Since(start), nil
}

// awaitCount waits until done is closed (got reached n), and fails when
// ctx ends, any message failed (failed may be nil), or got did not move
// for 30 s.
func awaitCount(ctx context.Context, done <-chan struct{}, got, failed *atomic.Int64, n int) error {
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	last, lastAt := int64(-1), time.Now()
	for {
		select {
		case <-done:
			return nil
		case <-ctx.Done():
			return ctx.Err()
		case <-tick.C:
			if failed != nil {
				if f := failed.Load(); f > 0 {
					return fmt.Errorf("%d messages failed", f)
				}
			}
			if g := got.Load(); g != last {
				last, lastAt = g, time.Now()
			} else if time.Since(lastAt) > 30*time.Second {
				return fmt.Errorf("stalled: %d of %d messages, none for 30 s", g, n)
			}
		}
	}
}

// relayGuessBytes is the result size of the bare relay's first pass,
// before the consumer's mean is known: what a result of a purgeload
// event (3 URLs) stored in a run of 5,000 events.
const relayGuessBytes = 817

// relayPass publishes the backlog on r and drains it with bareRelay,
// returning how long the drain took and the CPU it used.
func relayPass(ctx context.Context, cfg *config, r *natsRig, n int, gen func(int) []byte, size, window int, pass string) (time.Duration, time.Duration, error) {
	cfg.progress("figure 2: publishing the same backlog for a bare relay (consume → publish a result → ack), %s", pass)
	if err := publishBacklog(ctx, r.nc, n, gen); err != nil {
		return 0, 0, err
	}
	cpu0 := cpuTime()
	took, err := bareRelay(ctx, r, n, size, window)
	if err != nil {
		return 0, 0, fmt.Errorf("bare relay, %s: %w", pass, err)
	}
	cfg.progress("figure 2: bare relay, %s: %s events/s", pass, num(float64(n)/took.Seconds()))
	return took, cpuTime() - cpu0, nil
}

// resultWindow is the bare relay's window of unacknowledged result
// publishes: consumer.Config.ResultWindow's default.
const resultWindow = 1000

// relayConns are a relay's connections: one to consume events, one to
// publish results.
type relayConns struct {
	nc, pubNC *nats.Conn
	pjs       jetstream.JetStream // on pubNC
	cons      jetstream.Consumer  // purgebus's durable, on nc
}

// relayConns connects a relay named name to the rig's durable.
func (r *natsRig) relayConns(ctx context.Context, name string, opts ...jetstream.JetStreamOpt) (_ *relayConns, err error) {
	sc := bus.StreamsConfig{}.Defaults() // names only: the durable is the rig's
	rc := &relayConns{}
	defer func() {
		if err != nil {
			rc.close()
		}
	}()
	if rc.nc, err = r.connect(name); err != nil {
		return nil, err
	}
	if rc.pubNC, err = r.connect(name + "-results"); err != nil {
		return nil, err
	}
	js, err := jetstream.New(rc.nc)
	if err != nil {
		return nil, err
	}
	if rc.pjs, err = jetstream.New(rc.pubNC, opts...); err != nil {
		return nil, err
	}
	if rc.cons, err = js.Consumer(ctx, sc.ContentStream, sc.Durable); err != nil {
		return nil, err
	}
	return rc, nil
}

func (rc *relayConns) close() {
	for _, nc := range []*nats.Conn{rc.nc, rc.pubNC} {
		if nc != nil {
			nc.Close()
		}
	}
}

// bareRelay drains the rig's content stream like bareDrain, but for each
// message publishes a result of size bytes (asynchronously, with a message
// ID, on purge.result.succeeded.<id>) and acks the message once JetStream
// stored its result: the least any consumer that keeps purgebus's promise
// (one stored result per event, acked after it) must do. With window 0
// it does not wait: it publishes each result with core NATS (the results
// stream stores it all the same) and acks the message at once, and the
// clock stops once every result is stored.
func bareRelay(ctx context.Context, r *natsRig, n, size, window int) (time.Duration, error) {
	rc, err := r.relayConns(ctx, "purgeload-relay", jetstream.WithPublishAsyncMaxPending(max(window, 1)))
	if err != nil {
		return 0, err
	}
	defer rc.close()
	nc, pubNC, pjs, cons := rc.nc, rc.pubNC, rc.pjs, rc.cons
	dw, err := watchDrain(ctx, r, n)
	if err != nil {
		return 0, err
	}
	payload := bytes.Repeat([]byte("x"), size)
	var got, failed atomic.Int64
	done := make(chan struct{})
	start := time.Now()
	cc, err := cons.Consume(func(m jetstream.Msg) {
		meta, err := m.Metadata()
		if err != nil {
			failed.Add(1)
			return
		}
		id := "relay-" + strconv.FormatUint(meta.Sequence.Stream, 10)
		if window == 0 {
			msg := nats.NewMsg("purge.result.succeeded." + id)
			msg.Data = payload
			msg.Header.Set(jetstream.MsgIDHeader, "result:"+id)
			if err := pubNC.PublishMsg(msg); err != nil {
				failed.Add(1)
				_ = m.Nak()
				return
			}
			_ = m.Ack()
			if got.Add(1) == int64(n) {
				close(done)
			}
			return
		}
		fut, err := pjs.PublishAsync("purge.result.succeeded."+id, payload, jetstream.WithMsgID("result:"+id), jetstream.WithStallWait(time.Minute))
		if err != nil {
			failed.Add(1)
			_ = m.Nak()
			return
		}
		go func() {
			select {
			case <-fut.Ok():
				_ = m.Ack()
				if got.Add(1) == int64(n) {
					close(done)
				}
			case <-fut.Err():
				failed.Add(1)
				_ = m.Nak()
			}
		}()
	})
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
	if window == 0 {
		end, err := dw.wait(ctx, 30*time.Second)
		if err != nil {
			return 0, err
		}
		return end.Sub(start), nil
	}
	return time.Since(start), nil
}
