package main

import (
	"context"
	"fmt"
	"time"

	"github.com/purgebus/purgebus/akamai"
	"github.com/purgebus/purgebus/akamai/akamaitest"
	"github.com/purgebus/purgebus/consumer"
)

// runPacking measures figure 3: the consumer (unpaced, against a fake
// Akamai without buckets) drains a backlog of events of 3 unique URLs
// each, so that coalescing is limited by nothing but the consumer; the
// purge requests it sends are compared with the packing bound, the
// fewest 50,000-byte bodies that can hold every URL it sent:
// ⌈len(akamai.EncodeBody(url, all URLs sent)) ÷ akamai.MaxBodyBytes⌉.
func runPacking(ctx context.Context, cfg *config, f *Figure) error {
	const perEvent = 3
	n := cfg.packEvents
	fake := akamaitest.NewServer(akamaitest.Options{Buckets: akamaitest.BucketConfig{Disabled: true}})
	defer fake.Close()
	rig, err := startNATS(ctx, cfg)
	if err != nil {
		return err
	}
	defer rig.close()
	cfg.progress("figure 3: publishing %d events of %d unique URLs", n, perEvent)
	err = publishBacklog(ctx, rig.nc, n, uniqueURLEvents("pack", perEvent))
	if err != nil {
		return err
	}
	rc, err := countResults(rig.nc, n)
	if err != nil {
		return err
	}
	defer rc.stop()
	start := time.Now()
	c, err := rig.startConsumer(ctx, cfg, fake, func(cc *consumer.Config) { cc.Unpaced = true })
	if err != nil {
		return err
	}
	stopProfile := cfg.startProfile(3, f)
	err = rc.wait(ctx, 60*time.Second)
	stopProfile()
	took := time.Since(start)
	closeConsumer(c, f)
	if err != nil {
		return err
	}
	if err := rc.failures(); err != nil {
		f.note("not every event succeeded: %v", err)
	}

	// Every URL sent, once, in the order sent; and what the requests
	// carried.
	var (
		sent      []string
		seen      = map[string]bool{}
		requests  int
		bodyBytes int
		resent    int
		objects   int
	)
	for _, p := range fake.Purges() {
		if p.Type != akamai.TypeURL {
			continue
		}
		requests++
		bodyBytes += p.BodyBytes
		objects += len(p.Objects)
		for _, o := range p.Objects {
			if seen[o] {
				resent++
				continue
			}
			seen[o] = true
			sent = append(sent, o)
		}
	}
	if requests == 0 {
		return fmt.Errorf("the fake accepted no URL purge request")
	}
	all := len(akamai.EncodeBody(akamai.TypeURL, sent))
	minimum := (all + akamai.MaxBodyBytes - 1) / akamai.MaxBodyBytes
	per10k := func(v int) float64 { return float64(v) * 10000 / float64(n) }
	st := fake.Stats()

	f.ratio("purge requests per 10,000 events", per10k(requests), "requests", per10k(minimum), "requests", "packing bound", &goal{op: "<=", bound: 1.05})
	f.raw("events (3 unique URLs each)", float64(n), "events")
	f.raw("URL purge requests accepted", float64(requests), "requests")
	f.raw("HTTP requests to the fake (rate-limit checks too)", float64(st.Requests), "requests")
	f.raw("packing bound: ⌈one body of every URL ÷ 50,000⌉", float64(minimum), "requests")
	f.raw("one body of every URL sent", float64(all), "bytes")
	f.raw("request body bytes, all requests", float64(bodyBytes), "bytes")
	f.raw("mean body fill", float64(bodyBytes)/float64(requests)/akamai.MaxBodyBytes, "of 50,000 bytes")
	f.raw("mean URLs per request", float64(objects)/float64(requests), "URLs")
	f.raw("URLs sent more than once", float64(resent), "URLs")
	f.raw("consumer start → last result", took.Seconds(), "s")
	for status, count := range st.ByStatus {
		if status != 200 && status != 201 {
			f.note("%d requests answered %d", count, status)
		}
	}
	if len(sent) != n*perEvent {
		f.note("%d distinct URLs reached the fake; %d were published", len(sent), n*perEvent)
	}
	return nil
}

// uniqueURLEvents returns the i-th event of a backlog of events carrying
// perEvent URLs each, none repeated, labelled with prefix.
func uniqueURLEvents(prefix string, perEvent int) func(i int) []byte {
	return func(i int) []byte {
		urls := make([]string, perEvent)
		for j := range urls {
			urls[j] = pageURL(prefix, i*perEvent+j)
		}
		return eventJSON(fmt.Sprintf("%s-%d", prefix, i), urls)
	}
}
