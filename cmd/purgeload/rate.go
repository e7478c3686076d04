package main

import (
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/purgebus/purgebus/akamai"
	"github.com/purgebus/purgebus/akamai/akamaitest"
	"github.com/purgebus/purgebus/budget"
	"github.com/purgebus/purgebus/consumer"
)

// runRate measures figure 1: the consumer, paced by budget.AkamaiLimits()
// scaled by --time-scale, drains a backlog of unique URLs against a fake
// Akamai whose buckets have Akamai's sizes and refill --time-scale times
// faster. Once the bucket's initial burst (--rate-burst URLs) is spent,
// the URLs the fake accepted per second are the sustained rate, which
// should be the bucket's refill rate (less the budget's 0.5 % headroom);
// a 429 means purgebus went faster than the bucket.
func runRate(ctx context.Context, cfg *config, f *Figure) error {
	limits := budget.AkamaiLimits().Scale(cfg.timeScale)
	limits.URL.Capacity = cfg.rateBurst
	fake := akamaitest.NewServer(akamaitest.Options{
		Buckets:   akamaitest.BucketConfig{URL: akamaitest.Bucket{Capacity: cfg.rateBurst}},
		TimeScale: cfg.timeScale,
	})
	defer fake.Close()
	rig, err := startNATS(ctx, cfg)
	if err != nil {
		return err
	}
	defer rig.close()

	n, k := cfg.rateEvents, cfg.ratePerEvent
	total := n * k
	if total <= cfg.rateBurst {
		return fmt.Errorf("%d URLs fit the %d-URL burst: raise --rate-events so that there is a steady state after it", total, cfg.rateBurst)
	}
	cfg.progress("figure 1: publishing %d events of %d unique URLs", n, k)
	err = publishBacklog(ctx, rig.nc, n, uniqueURLEvents("rate", k))
	if err != nil {
		return err
	}
	rc, err := countResults(rig.nc, n)
	if err != nil {
		return err
	}
	defer rc.stop()
	refill := limits.URL.PerSecond
	cfg.progress("figure 1: draining %d URLs at %s URLs/s after a %d-URL burst (minimum %.1f s)",
		total, num(refill), cfg.rateBurst, float64(total-cfg.rateBurst)/refill)
	start := time.Now()
	c, err := rig.startConsumer(ctx, cfg, fake, func(cc *consumer.Config) { cc.Limits = limits })
	if err != nil {
		return err
	}
	stopProfile := cfg.startProfile(1, f)
	err = rc.wait(ctx, 60*time.Second)
	stopProfile()
	drained := time.Since(start)
	closeConsumer(c, f)
	if err != nil {
		return err
	}
	if err := rc.failures(); err != nil {
		f.note("not every event succeeded: %v", err)
	}

	var purges []akamaitest.Purge
	for _, p := range fake.Purges() {
		if p.Type == akamai.TypeURL {
			purges = append(purges, p)
		}
	}
	slices.SortStableFunc(purges, func(a, b akamaitest.Purge) int { return a.ReceivedAt.Compare(b.ReceivedAt) })
	st := fake.Stats()
	objects := 0
	for _, p := range purges {
		objects += len(p.Objects)
	}
	// The steady state starts once the initial burst is spent: at the
	// first request after which the URL bucket, replayed from the
	// requests the fake accepted, holds less than 2 % of its capacity.
	// From then on only the refill feeds requests. A consumer that never
	// empties the bucket is slower than the refill: its window starts
	// once it has taken as many URLs as the burst held.
	burstEnd, level := emptiedAt(purges, float64(cfg.rateBurst), refill, 0.02)
	cum := 0
	if burstEnd < 0 {
		f.note("the URL bucket never ran empty: the consumer did not keep up with the refill")
		for i, p := range purges {
			cum += len(p.Objects)
			if cum >= cfg.rateBurst {
				burstEnd = i
				break
			}
		}
	} else {
		for _, p := range purges[:burstEnd+1] {
			cum += len(p.Objects)
		}
	}
	if burstEnd < 0 || burstEnd >= len(purges)-1 {
		return fmt.Errorf("no request after the burst (%d requests, %d URLs): raise --rate-events", len(purges), objects)
	}
	first, last := purges[0].ReceivedAt, purges[len(purges)-1].ReceivedAt
	steadyObjects := objects - cum
	steady := last.Sub(purges[burstEnd].ReceivedAt)
	rate := float64(steadyObjects) / steady.Seconds()
	took := last.Sub(first)
	minimum := time.Duration(float64(objects-cfg.rateBurst) / refill * float64(time.Second))

	f.ratio("sustained URL rate after the burst", rate, "URLs/s", refill, "URLs/s", "URL bucket refill", &goal{op: ">=", bound: 0.98})
	f.absolute("self-caused 429s", float64(st.RateLimited), "429s", goal{op: "==", bound: 0})
	f.ratio("bucket minimum time ÷ time taken", minimum.Seconds(), "s", took.Seconds(), "s", "first to last request", nil)

	f.raw("time scale", cfg.timeScale, "×")
	f.raw("URL bucket capacity (burst)", float64(cfg.rateBurst), "URLs")
	f.raw("URL bucket refill (scaled)", refill, "URLs/s")
	f.raw("request bucket refill (scaled)", limits.Requests.PerSecond, "requests/s")
	f.raw("events published", float64(n), "events")
	f.raw("URLs published", float64(total), "URLs")
	f.raw("URLs accepted by the fake", float64(objects), "URLs")
	f.raw("URL purge requests accepted", float64(len(purges)), "requests")
	f.raw("requests answered 429", float64(st.RateLimited), "requests")
	f.raw("URLs until the bucket ran empty (request #"+fmt.Sprint(burstEnd+1)+")", float64(cum), "URLs")
	f.raw("bucket level then (replayed)", level, "URLs")
	f.raw("URLs after the burst", float64(steadyObjects), "URLs")
	f.raw("steady window (burst spent → last request)", steady.Seconds(), "s")
	f.raw("first → last request", took.Seconds(), "s")
	f.raw("bucket minimum (URLs − burst) ÷ refill", minimum.Seconds(), "s")
	f.raw("consumer start → last result", drained.Seconds(), "s")
	f.raw("mean URLs per request after the burst", float64(steadyObjects)/float64(len(purges)-burstEnd-1), "URLs")
	if objects < total {
		f.note("the fake accepted %d URLs, %d were published", objects, total)
	}
	return nil
}

// emptiedAt replays a token bucket of the given capacity and refill over
// the accepted requests (sorted by time) and returns the index of the
// first request after which it held less than frac of its capacity, and
// that level; -1 when it never did.
func emptiedAt(purges []akamaitest.Purge, capacity, refill, frac float64) (int, float64) {
	level := capacity
	for i, p := range purges {
		if i > 0 {
			level = min(capacity, level+refill*p.ReceivedAt.Sub(purges[i-1].ReceivedAt).Seconds())
		}
		level -= float64(len(p.Objects))
		if level < frac*capacity {
			return i, level
		}
	}
	return -1, level
}
