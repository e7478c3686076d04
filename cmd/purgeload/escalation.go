package main

import (
	"context"
	"fmt"
	"time"

	"github.com/purgebus/purgebus/akamai"
	"github.com/purgebus/purgebus/akamai/akamaitest"
	"github.com/purgebus/purgebus/budget"
	"github.com/purgebus/purgebus/consumer"
	"github.com/purgebus/purgebus/routing"
)

// floodAfter is the escalating route's after, in Akamai's time; the
// figure divides it by the time scale, as it does the refill rates.
const floodAfter = 30 * time.Second

// floodRun is one drain of the flood.
type floodRun struct {
	took        time.Duration // first publish → last result
	covering    int           // CP-code purges accepted
	urlsPurged  int           // URLs the fake accepted
	rateLimited int
	failures    error
}

// runEscalation measures figure 6: a flood of unique URLs of one host
// (--flood-urls, --flood-urls-per-event a event), published while the
// consumer runs, against a fake Akamai with Akamai's bucket sizes whose
// time runs --flood-time-scale times faster. The time from the first
// event published to the last result, when the host's route escalates to
// a CP code, is divided by the same with a route that does not escalate,
// both measured in this run on fresh servers.
func runEscalation(ctx context.Context, cfg *config, f *Figure) error {
	scale := cfg.floodScale
	n := cfg.floodURLs / cfg.floodPerEvent
	if n < 1 {
		return fmt.Errorf("--flood-urls %d is fewer than --flood-urls-per-event %d", cfg.floodURLs, cfg.floodPerEvent)
	}
	total := n * cfg.floodPerEvent
	after := time.Duration(float64(floodAfter) / scale)
	routes := `
accounts:
  main: {}
routes:
  - hosts: ["www.example.com"]
    account: main
`
	escalating := routes + fmt.Sprintf("    escalate: {cpcode: 12345, after: %s, max_per_hour: 4}\n", after)

	cfg.progress("figure 6: %d URLs in %d events, escalating to a CP code after %v (time scale %v)", total, n, after, scale)
	esc, err := drainFlood(ctx, cfg, f, escalating, scale, n)
	if err != nil {
		return fmt.Errorf("with escalation: %w", err)
	}
	cfg.progress("figure 6: with escalation %.2f s; now without", esc.took.Seconds())
	plain, err := drainFlood(ctx, cfg, f, routes, scale, n)
	if err != nil {
		return fmt.Errorf("without escalation: %w", err)
	}
	cfg.progress("figure 6: without escalation %.2f s", plain.took.Seconds())

	f.ratio("flood time with escalation ÷ without", esc.took.Seconds(), "s", plain.took.Seconds(), "s", "the same flood without escalate", &goal{op: "<=", bound: 0.05})
	f.absolute("429s (both runs)", float64(esc.rateLimited+plain.rateLimited), "429s", goal{op: "==", bound: 0})
	f.raw("time scale", scale, "×")
	f.raw("route's after (scaled; 30 s of Akamai's time)", after.Seconds(), "s")
	f.raw("URLs in the flood", float64(total), "URLs")
	f.raw("events", float64(n), "events")
	f.raw("with escalation: first event → last result", esc.took.Seconds(), "s")
	f.raw("with escalation: CP-code purges", float64(esc.covering), "requests")
	f.raw("with escalation: URLs purged as URLs", float64(esc.urlsPurged), "URLs")
	f.raw("without escalation: first event → last result", plain.took.Seconds(), "s")
	f.raw("with escalation: 429s", float64(esc.rateLimited), "429s")
	f.raw("without escalation: URLs purged", float64(plain.urlsPurged), "URLs")
	f.raw("without escalation: 429s", float64(plain.rateLimited), "429s")
	b := budget.AkamaiLimits().Scale(scale).URL
	f.raw("without escalation: bucket minimum (URLs − burst) ÷ refill", max(0, float64(total-b.Capacity))/b.PerSecond, "s")
	for _, r := range []*floodRun{esc, plain} {
		if r.failures != nil {
			f.note("not every event succeeded: %v", r.failures)
		}
	}
	if esc.covering == 0 {
		f.note("the flood never escalated")
	}
	return nil
}

// drainFlood starts NATS, a fake and the consumer with the routing file
// yaml, publishes n events of the flood and waits for their results.
func drainFlood(ctx context.Context, cfg *config, f *Figure, yaml string, scale float64, n int) (*floodRun, error) {
	rcfg, err := routing.Parse([]byte(yaml))
	if err != nil {
		return nil, err
	}
	fake := akamaitest.NewServer(akamaitest.Options{TimeScale: scale, MaxRecords: 100000})
	defer fake.Close()
	rig, err := startNATS(ctx, cfg)
	if err != nil {
		return nil, err
	}
	defer rig.close()
	c, err := rig.startConsumer(ctx, cfg, fake, func(cc *consumer.Config) {
		cc.Routing = rcfg
		cc.Accounts = map[string]consumer.Account{"main": {Akamai: cc.Akamai, Limits: budget.AkamaiLimits().Scale(scale)}}
	})
	if err != nil {
		return nil, err
	}
	defer closeConsumer(c, f)
	rc, err := countResults(rig.nc, n)
	if err != nil {
		return nil, err
	}
	defer rc.stop()
	start := time.Now()
	if err := publishBacklog(ctx, rig.nc, n, uniqueURLEvents("flood", cfg.floodPerEvent)); err != nil {
		return nil, err
	}
	if err := rc.wait(ctx, 60*time.Second); err != nil {
		return nil, err
	}
	st := fake.Stats()
	return &floodRun{
		took:        rc.lastArrival().Sub(start),
		covering:    st.Objects[akamai.TypeCPCode],
		urlsPurged:  st.Objects[akamai.TypeURL],
		rateLimited: st.RateLimited,
		failures:    rc.failures(),
	}, nil
}
