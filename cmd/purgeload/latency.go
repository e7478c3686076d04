package main

import (
	"context"
	"fmt"
	"math"
	"slices"
	"time"

	"github.com/purgebus/purgebus/akamai"
	"github.com/purgebus/purgebus/akamai/akamaitest"
	"github.com/purgebus/purgebus/events"
)

// runLatency measures figure 4: an idle consumer (paced by Akamai's real
// limits, against a fake Akamai with real buckets) gets events one at a
// time, --latency-gap apart, each with one unique URL. An event's latency
// is the time the fake accepted the request carrying its URL minus the
// time just before it was published, both read from this process's
// clock. The bound is linger + 20 ms: a lone event waits out the linger
// for company, and everything else should be quick.
func runLatency(ctx context.Context, cfg *config, f *Figure) error {
	n := cfg.latencyEvents
	fake := akamaitest.NewServer(akamaitest.Options{})
	defer fake.Close()
	rig, err := startNATS(ctx, cfg)
	if err != nil {
		return err
	}
	defer rig.close()
	rc, err := countResults(rig.nc, n)
	if err != nil {
		return err
	}
	defer rc.stop()
	c, err := rig.startConsumer(ctx, cfg, fake, nil)
	if err != nil {
		return err
	}
	defer closeConsumer(c, f)
	// Let the consumer settle (its start-up rate-limit look at Akamai).
	time.Sleep(200 * time.Millisecond)

	cfg.progress("figure 4: publishing %d events, %v apart", n, cfg.latencyGap)
	stopProfile := cfg.startProfile(4, f)
	defer stopProfile()
	published := make(map[string]time.Time, n) // URL → publish time
	ids := make(map[string]string, n)          // URL → event ID
	publishRTT := make([]time.Duration, 0, n)
	for i := range n {
		u := pageURL("idle", i)
		id := fmt.Sprintf("idle-%d", i)
		data := eventJSON(id, []string{u})
		t := time.Now()
		if _, err := rig.js.Publish(ctx, events.SubjectContentChanged, data); err != nil {
			return fmt.Errorf("publish event %d: %w", i, err)
		}
		publishRTT = append(publishRTT, time.Since(t))
		published[u], ids[u] = t, id
		select {
		case <-time.After(cfg.latencyGap):
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	if err := rc.wait(ctx, 30*time.Second); err != nil {
		return err
	}
	if err := rc.failures(); err != nil {
		f.note("not every event succeeded: %v", err)
	}

	accepted := map[string]time.Time{}
	requests := 0
	for _, p := range fake.Purges() {
		if p.Type != akamai.TypeURL {
			continue
		}
		requests++
		for _, o := range p.Objects {
			if t, ok := accepted[o]; !ok || p.ReceivedAt.Before(t) {
				accepted[o] = p.ReceivedAt
			}
		}
	}
	var toAkamai, toResult []time.Duration
	for u, t := range published {
		at, ok := accepted[u]
		if !ok {
			return fmt.Errorf("%s never reached the fake", u)
		}
		toAkamai = append(toAkamai, at.Sub(t))
		if rt, ok := rc.arrival(ids[u]); ok {
			toResult = append(toResult, rt.Sub(t))
		}
	}
	linger := cfg.effectiveLinger()
	bound := linger + 20*time.Millisecond
	p50, p99 := percentile(toAkamai, 0.50), percentile(toAkamai, 0.99)
	f.ratio("event → 201 latency p99", ms(p99), "ms", ms(bound), "ms", "linger + 20 ms", &goal{op: "<=", bound: 1})
	f.ratio("event → 201 latency p50", ms(p50), "ms", ms(linger), "ms", "linger", nil)
	f.raw("events (one URL each)", float64(n), "events")
	f.raw("pause between events", ms(cfg.latencyGap), "ms")
	f.raw("linger", ms(linger), "ms")
	f.raw("event → 201: p50", ms(p50), "ms")
	f.raw("event → 201: p99", ms(p99), "ms")
	f.raw("event → 201: max", ms(percentile(toAkamai, 1)), "ms")
	f.raw("event → 201: min", ms(percentile(toAkamai, 0)), "ms")
	f.raw("event → result received: p50", ms(percentile(toResult, 0.50)), "ms")
	f.raw("event → result received: p99", ms(percentile(toResult, 0.99)), "ms")
	f.raw("JetStream publish round trip: p50", ms(percentile(publishRTT, 0.50)), "ms")
	f.raw("URL purge requests", float64(requests), "requests")
	return nil
}

// percentile is the nearest-rank p-quantile of ds (p in [0, 1]).
func percentile(ds []time.Duration, p float64) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	s := slices.Clone(ds)
	slices.Sort(s)
	i := int(math.Ceil(p*float64(len(s)))) - 1
	return s[min(max(i, 0), len(s)-1)]
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
