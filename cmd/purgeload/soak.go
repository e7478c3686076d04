package main

import (
	"bufio"
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/purgebus/purgebus/akamai/akamaitest"
	"github.com/purgebus/purgebus/bus"
)

// soakSample is one look at the consumer process during a soak.
type soakSample struct {
	at         time.Duration // since the load started
	rssMiB     float64       // VmRSS
	heapMiB    float64       // go_memstats_heap_inuse_bytes
	goroutines float64       // go_goroutines
	results    uint64        // the result stream's last sequence
	pending    uint64        // events not finished
}

// runSoak measures figure 7, the soak: cmd/consumer, built and run as a
// subprocess with its embedded NATS (as in figure 5), takes a steady mixed
// load for --soak (URLs drawn from a pool, so some repeat; tags; CP codes;
// a few invalid events and a few that inflate when quoted, which are
// dead-lettered), while its RSS, Go heap and goroutines are sampled every
// --soak-every. Each series' slope per hour, by least squares over the
// samples after the first quarter of the run (warm-up: the heap grows
// towards the consumer's memory limit, the streams fill their windows
// and size limits), is compared with
// its mean: a consumer whose memory is bounded stays flat within noise.
func runSoak(ctx context.Context, cfg *config, f *Figure) error {
	tmp, bin, flags, err := consumerWorkspace(ctx, cfg, "purgeload-soak-*")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)
	fopts := akamaitest.Options{Buckets: akamaitest.BucketConfig{Disabled: true}, MaxRecords: 100, MaxRecordBytes: 1 << 20}
	if !flags["--unpaced"] {
		fopts.TimeScale = fastScale
	}
	fake := akamaitest.NewServer(fopts)
	defer fake.Close()
	edgerc, err := writeEdgerc(tmp, fake)
	if err != nil {
		return err
	}
	httpAddr, err := freeAddr()
	if err != nil {
		return err
	}
	natsAddr, err := freeAddr()
	if err != nil {
		return err
	}
	args := []string{
		"--data-dir", filepath.Join(tmp, "data"), "--nats-listen", natsAddr, "--http-addr", httpAddr,
		"--edgerc", edgerc, "--section", "ccu", "--akamai-url", fake.URL(),
		"--log-format", "json", "--log-level", "warn", "--shutdown-timeout", "30s",
	}
	if flags["--unpaced"] {
		args = append(args, "--unpaced")
	}
	args = append(args, cfg.consumerArgs...)
	f.note("consumer: %s", strings.Join(args, " "))
	if s := consumerSettings(ctx, bin, args); s != "" {
		f.note("consumer's memory settings: %s", s)
	}
	proc, err := startConsumerProc(bin, args)
	if err != nil {
		return err
	}
	defer proc.kill()
	fail := proc.fail
	var nc *nats.Conn
	for deadline := time.Now().Add(60 * time.Second); ; {
		if nc, err = nats.Connect("nats://"+natsAddr, nats.Name("purgeload-soak")); err == nil {
			break
		}
		select {
		case err := <-proc.exited:
			return proc.died(err, "at start")
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			return fail(fmt.Errorf("consumer did not start its embedded NATS within 60 s: %w", err))
		}
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		return fail(err)
	}

	loadCtx, stopLoad := context.WithTimeout(ctx, cfg.soak)
	defer stopLoad()
	loadDone := make(chan uint64, 1)
	start := time.Now()
	go func() { loadDone <- soakLoad(loadCtx, nc, cfg.soakRate) }()
	cfg.progress("figure 7: soak of %v at %d events/s, sampling every %v", cfg.soak, cfg.soakRate, cfg.soakEvery)

	var samples []soakSample
	sc := bus.StreamsConfig{}.Defaults()
	take := func() error {
		_, rss, err := procMemory(proc.pid())
		if err != nil {
			return err
		}
		m, err := scrape(ctx, "http://"+httpAddr+"/metrics", "go_memstats_heap_inuse_bytes", "go_goroutines")
		if err != nil {
			return err
		}
		qctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		results, pending, err := drainState(qctx, js, sc)
		cancel()
		if err != nil {
			return err
		}
		s := soakSample{at: time.Since(start), rssMiB: rss, heapMiB: m["go_memstats_heap_inuse_bytes"] / (1 << 20),
			goroutines: m["go_goroutines"], results: results, pending: pending}
		samples = append(samples, s)
		cfg.progress("figure 7: %8s  RSS %6.1f MiB  heap %6.1f MiB  goroutines %5.0f  results %d  unfinished %d",
			s.at.Round(time.Second), s.rssMiB, s.heapMiB, s.goroutines, s.results, s.pending)
		return nil
	}
	tick := time.NewTicker(cfg.soakEvery)
	defer tick.Stop()
	var published uint64
	for waiting := true; waiting; {
		select {
		case err := <-proc.exited:
			return proc.died(err, "during the soak")
		case <-ctx.Done():
			return ctx.Err()
		case <-tick.C:
			if err := take(); err != nil {
				return fail(err)
			}
		case published = <-loadDone:
			waiting = false
		}
	}
	if err := take(); err != nil {
		return fail(err)
	}
	// Every event gets its result (the stream's sequence counts those
	// that its size limit dropped since).
	deadline := time.Now().Add(2 * time.Minute)
	for {
		qctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		results, pending, err := drainState(qctx, js, sc)
		cancel()
		if err == nil && results >= published && pending == 0 {
			f.raw("events published", float64(published), "events")
			f.raw("results stored", float64(results), "results")
			break
		}
		if time.Now().After(deadline) {
			return fail(fmt.Errorf("%d results for %d events, %d unfinished, 2 minutes after the load stopped", results, published, pending))
		}
		time.Sleep(200 * time.Millisecond)
	}
	nc.Close()
	if err := proc.stop(); err != nil {
		return err
	}
	reportSoak(f, samples, cfg.soak)
	return nil
}

// reportSoak adds the slopes of the samples to f.
func reportSoak(f *Figure, samples []soakSample, soak time.Duration) {
	f.raw("samples", float64(len(samples)), "")
	warm := samples[len(samples)/4:]
	series := []struct {
		name, unit string
		v          func(soakSample) float64
	}{
		{"RSS", "MiB", func(s soakSample) float64 { return s.rssMiB }},
		{"Go heap in use", "MiB", func(s soakSample) float64 { return s.heapMiB }},
		{"goroutines", "", func(s soakSample) float64 { return s.goroutines }},
	}
	for _, s := range series {
		mean, slope := trend(warm, s.v)
		_, whole := trend(samples, s.v)
		f.raw(s.name+": first sample", s.v(samples[0]), s.unit)
		f.raw(s.name+": last sample", s.v(samples[len(samples)-1]), s.unit)
		f.raw(s.name+": mean after warm-up", mean, s.unit)
		f.raw(s.name+": slope over the whole run", whole, s.unit+"/h")
		f.ratio(s.name+": slope per hour after warm-up ÷ mean", slope, s.unit+"/h", mean, s.unit,
			"mean after warm-up", &goal{op: "<=", bound: 0.05})
	}
	if soak < time.Hour {
		f.note("a soak of %v: a slope per hour extrapolates %.1f× what was seen", soak, float64(time.Hour)/float64(soak))
	}
}

// trend returns the mean of the samples' values and their least-squares
// slope per hour.
func trend(samples []soakSample, v func(soakSample) float64) (mean, perHour float64) {
	n := float64(len(samples))
	if n == 0 {
		return math.NaN(), math.NaN()
	}
	var sx, sy, sxx, sxy float64
	for _, s := range samples {
		x, y := s.at.Hours(), v(s)
		sx, sy, sxx, sxy = sx+x, sy+y, sxx+x*x, sxy+x*y
	}
	mean = sy / n
	den := n*sxx - sx*sx
	if n < 2 || den == 0 {
		return mean, 0
	}
	return mean, (n*sxy - sx*sy) / den
}

// soakLoad publishes rate events a second until ctx ends, and returns how
// many it published: most purge URLs drawn from a pool of 5,000 (so that
// some repeat), tags and CP codes; 2 % are invalid and 1 % inflate when
// quoted (control bytes), both dead-lettered.
func soakLoad(ctx context.Context, nc *nats.Conn, rate int) uint64 {
	rng := rand.New(rand.NewPCG(6, 6))
	const tick = 10 * time.Millisecond
	per := float64(rate) * tick.Seconds()
	t := time.NewTicker(tick)
	defer t.Stop()
	var n uint64
	due := 0.0
	inflating := []byte(strings.Repeat("\x01", 20<<10))
	for {
		select {
		case <-ctx.Done():
			_ = nc.Flush()
			return n
		case <-t.C:
		}
		for due += per; due >= 1; due-- {
			id := "soak-" + strconv.FormatUint(n, 10)
			var data []byte
			switch k := rng.IntN(100); {
			case k < 70:
				data = eventJSON(id, []string{pageURL("soak", rng.IntN(5000)), pageURL("soak", rng.IntN(5000)), pageURL("soak-unique", int(n))})
			case k < 85:
				data = fmt.Appendf(nil, `{"id":%q,"tags":["soak-%d","soak-%d"],"source":"purgeload"}`, id, rng.IntN(200), rng.IntN(200))
			case k < 97:
				data = fmt.Appendf(nil, `{"id":%q,"cpcodes":[%d],"source":"purgeload"}`, id, 10000+rng.IntN(50))
			case k < 99:
				data = fmt.Appendf(nil, `{"id":%q,"urls":["ftp://www.example.com/%d"]}`, id, n)
			default:
				data = inflating
			}
			msg := nats.NewMsg("content.changed.soak")
			msg.Header.Set(jetstream.MsgIDHeader, id)
			msg.Data = data
			if err := nc.PublishMsg(msg); err != nil {
				continue
			}
			n++
		}
	}
}

// scrape reads the named gauges from a Prometheus text endpoint.
func scrape(ctx context.Context, url string, names ...string) (map[string]float64, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return nil, err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, fmt.Errorf("scrape %s: %w", url, err)
	}
	defer resp.Body.Close()
	out := map[string]float64{}
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		name, value, ok := strings.Cut(sc.Text(), " ")
		if !ok {
			continue
		}
		for _, want := range names {
			if name == want {
				if v, err := strconv.ParseFloat(strings.TrimSpace(value), 64); err == nil {
					out[name] = v
				}
			}
		}
	}
	for _, want := range names {
		if _, ok := out[want]; !ok {
			return nil, fmt.Errorf("scrape %s: no %s", url, want)
		}
	}
	return out, sc.Err()
}

// writeEdgerc writes an .edgerc file with fake's credentials in section
// ccu into dir, and returns its path.
func writeEdgerc(dir string, fake *akamaitest.Server) (string, error) {
	path := filepath.Join(dir, "edgerc")
	cred := fake.Credentials()
	rc := fmt.Sprintf("[ccu]\nhost = %s\nclient_token = %s\nclient_secret = %s\naccess_token = %s\n",
		cred.Host, cred.ClientToken, cred.ClientSecret, cred.AccessToken)
	return path, os.WriteFile(path, []byte(rc), 0o600)
}

// freeAddr returns a loopback address with a port that was free a moment
// ago.
func freeAddr() (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	addr := ln.Addr().String()
	return addr, ln.Close()
}
