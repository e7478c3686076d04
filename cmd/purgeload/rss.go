package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"runtime/pprof"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/purgebus/purgebus/akamai"
	"github.com/purgebus/purgebus/akamai/akamaitest"
	"github.com/purgebus/purgebus/bus"
	"github.com/purgebus/purgebus/consumer"
)

// fastScale is the time scale of figure 5's fake Akamai for a consumer
// binary without --unpaced (an older build given with --consumer-bin):
// its budget adopts the refill rates Akamai's X-Ratelimit-* headers
// report, and a fake this fast reports rates no backlog can reach, so the
// subprocess is paced by nothing but itself.
const fastScale = 1e6

// runRSS measures figure 5: cmd/consumer, built and run as a subprocess
// with its embedded NATS on a store prefilled with a backlog, drains the
// backlog against a fake Akamai in this process; its peak RSS (VmHWM),
// read just before SIGTERM, with the large backlog is compared with the
// same with the small one, and with 128 MiB.
func runRSS(ctx context.Context, cfg *config, f *Figure) error {
	tmp, bin, flags, err := consumerWorkspace(ctx, cfg, "purgeload-rss-*")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)
	unpacedFlag := flags["--unpaced"]
	if unpacedFlag {
		f.note("ran the consumer with --unpaced")
	} else {
		f.note("cmd/consumer has no --unpaced flag: its budget was opened up through the fake's X-Ratelimit headers (refill ×%g)", fastScale)
	}

	if len(cfg.consumerArgs) > 0 {
		f.note("cmd/consumer ran with %s", strings.Join(cfg.consumerArgs, " "))
	}
	var runs [2]rssRun
	for i, n := range []int{cfg.backlogSmall, cfg.backlogLarge} {
		r, err := measureRSS(ctx, cfg, bin, filepath.Join(tmp, fmt.Sprintf("run%d", i)), n, flags)
		if err != nil {
			return fmt.Errorf("backlog of %d: %w", n, err)
		}
		runs[i] = r
		if i == 0 && r.settings != "" {
			f.note("consumer's memory settings: %s", r.settings)
		}
		cfg.progress("figure 5: backlog %d: peak RSS %.1f MiB, drained in %.1f s (%s events/s)", n, r.hwmMiB, r.drain.Seconds(), num(float64(n)/r.drain.Seconds()))
	}
	if cfg.profileDir != "" {
		if err := os.MkdirAll(cfg.profileDir, 0o755); err != nil {
			return err
		}
		if err := profileRSS(ctx, cfg, f, cfg.backlogLarge, nil); err != nil {
			f.note("in-process profile: %v", err)
		}
	}
	small, large := runs[0], runs[1]
	f.ratio(fmt.Sprintf("peak RSS ratio, %s ÷ %s backlogged", num(float64(cfg.backlogLarge)), num(float64(cfg.backlogSmall))), large.hwmMiB, "MiB", small.hwmMiB, "MiB",
		fmt.Sprintf("%s backlogged", num(float64(cfg.backlogSmall))), &goal{op: "<=", bound: 1.2})
	f.absolute(fmt.Sprintf("peak RSS, %s backlogged", num(float64(cfg.backlogLarge))), large.hwmMiB, "MiB", goal{op: "<=", bound: 128})
	for _, r := range runs {
		p := fmt.Sprintf("%s events: ", num(float64(r.events)))
		f.raw(p+"peak RSS (VmHWM)", r.hwmMiB, "MiB")
		f.raw(p+"RSS at the end (VmRSS)", r.rssMiB, "MiB")
		f.raw(p+"store on disk before the drain", r.storeMiB, "MiB")
		f.raw(p+"prefill (publish) rate", float64(r.events)/r.prefill.Seconds(), "events/s")
		f.raw(p+"start → drained", r.drain.Seconds(), "s")
		f.raw(p+"drain rate", float64(r.events)/r.drain.Seconds(), "events/s")
		f.raw(p+"purge requests", float64(r.requests), "requests")
	}
	return nil
}

type rssRun struct {
	events         int
	hwmMiB, rssMiB float64
	storeMiB       float64
	prefill, drain time.Duration
	requests       int
	settings       string // from --print-config
}

// measureRSS prefills a store in dir with n events, runs the consumer on
// it until every event has its result, and reads the consumer's peak RSS.
func measureRSS(ctx context.Context, cfg *config, bin, dir string, n int, flags map[string]bool) (rssRun, error) {
	run := rssRun{events: n}
	data := filepath.Join(dir, "data")
	if err := os.MkdirAll(data, 0o755); err != nil {
		return run, err
	}
	defer os.RemoveAll(dir)
	k := cfg.rssPerEvent
	cfg.progress("figure 5: prefilling a store with %d events of %d unique URLs", n, k)
	start := time.Now()
	if err := prefill(ctx, data, n, func(i int) []byte {
		urls := make([]string, k)
		for j := range urls {
			urls[j] = pageURL("rss", i*k+j)
		}
		return eventJSON(fmt.Sprintf("rss-%d", i), urls)
	}); err != nil {
		return run, fmt.Errorf("prefill: %w", err)
	}
	run.prefill = time.Since(start)
	run.storeMiB = float64(dirBytes(data)) / (1 << 20)

	fopts := akamaitest.Options{Buckets: akamaitest.BucketConfig{Disabled: true}, MaxRecords: 100}
	if !flags["--unpaced"] {
		fopts.TimeScale = fastScale
	}
	fake := akamaitest.NewServer(fopts)
	defer fake.Close()
	edgerc, err := writeEdgerc(dir, fake)
	if err != nil {
		return run, err
	}
	args := []string{
		"--data-dir", data, "--nats-listen", "127.0.0.1:0",
		"--http-addr=", // no metrics port: other processes may hold the default
		"--edgerc", edgerc, "--section", "ccu", "--akamai-url", fake.URL(),
		"--log-format", "json", "--shutdown-timeout", "30s",
	}
	if flags["--unpaced"] {
		args = append(args, "--unpaced")
	}
	if flags["--http-addr"] {
		// A free port: the default one may be taken.
		args = append(args, "--http-addr", "127.0.0.1:0")
	}
	args = append(args, cfg.consumerArgs...)
	run.settings = consumerSettings(ctx, bin, args)
	start = time.Now()
	proc, err := startConsumerProc(bin, args)
	if err != nil {
		return run, err
	}
	defer proc.kill()
	fail := func(err error) (rssRun, error) { return run, proc.fail(err) }

	var url string
	select {
	case url = <-proc.logs.url:
	case err := <-proc.exited:
		return run, proc.died(err, "at start")
	case <-time.After(60 * time.Second):
		return fail(errors.New("consumer did not start its embedded NATS within 60 s"))
	case <-ctx.Done():
		return run, ctx.Err()
	}
	nc, err := nats.Connect(url, nats.Name("purgeload-rss"))
	if err != nil {
		return fail(err)
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		return fail(err)
	}
	sc := bus.StreamsConfig{}.Defaults()
	tick := time.NewTicker(200 * time.Millisecond)
	defer tick.Stop()
	var lastResults uint64
	lastProgress, lastReport := time.Now(), time.Now()
	for drained := false; !drained; {
		select {
		case err := <-proc.exited:
			return run, proc.died(err, "while draining")
		case <-ctx.Done():
			return run, ctx.Err()
		case <-tick.C:
		}
		qctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		results, pending, err := drainState(qctx, js, sc)
		cancel()
		if err != nil {
			if time.Since(lastProgress) > 60*time.Second {
				return fail(fmt.Errorf("no progress for 60 s: %w", err))
			}
			continue
		}
		if results != lastResults {
			lastResults, lastProgress = results, time.Now()
		} else if time.Since(lastProgress) > 60*time.Second {
			return fail(fmt.Errorf("stalled: %d of %d results, %d events pending", results, n, pending))
		}
		if time.Since(lastReport) >= 15*time.Second {
			lastReport = time.Now()
			if hwm, rss, err := procMemory(proc.pid()); err == nil {
				cfg.progress("figure 5: %d of %d results, RSS %.0f MiB (peak %.0f MiB)", results, n, rss, hwm)
			}
		}
		drained = results >= uint64(n) && pending == 0
	}
	run.drain = time.Since(start)
	hwm, rss, err := procMemory(proc.pid())
	if err != nil {
		return fail(err)
	}
	run.hwmMiB, run.rssMiB = hwm, rss
	run.requests = fake.Stats().Purges
	nc.Close()
	return run, proc.stop()
}

// drainState reads how many results the result stream has stored (its
// last sequence: results that a size or age limit removed since count
// too) and how many events the durable has not finished (pending and
// unacknowledged).
func drainState(ctx context.Context, js jetstream.JetStream, sc bus.StreamsConfig) (results uint64, pending uint64, err error) {
	s, err := js.Stream(ctx, sc.ResultStream)
	if err != nil {
		return 0, 0, err
	}
	si, err := s.Info(ctx)
	if err != nil {
		return 0, 0, err
	}
	c, err := js.Consumer(ctx, sc.ContentStream, sc.Durable)
	if err != nil {
		return 0, 0, err
	}
	ci, err := c.Info(ctx)
	if err != nil {
		return 0, 0, err
	}
	return si.State.LastSeq, ci.NumPending + uint64(ci.NumAckPending), nil
}

// prefill fills a JetStream store in dir the way cmd/consumer's embedded
// server would find it: purgebus's streams provisioned with its defaults
// (which size the result stream's blocks) and n events published to the
// content stream.
func prefill(ctx context.Context, dir string, n int, gen func(i int) []byte) error {
	r, err := startNATSAt(ctx, "inprocess", dir, bus.StreamsConfig{}.EmbeddedDefaults())
	if err != nil {
		return err
	}
	defer r.close()
	return publishBacklog(ctx, r.nc, n, gen)
}

// consumerWorkspace makes a temporary directory (named after pattern;
// the caller removes it) with the consumer binary (consumerBinary) and
// the flags it knows (binFlags).
func consumerWorkspace(ctx context.Context, cfg *config, pattern string) (tmp, bin string, flags map[string]bool, err error) {
	if tmp, err = os.MkdirTemp("", pattern); err != nil {
		return "", "", nil, err
	}
	if bin, err = consumerBinary(ctx, cfg, tmp); err != nil {
		_ = os.RemoveAll(tmp)
		return "", "", nil, err
	}
	return tmp, bin, binFlags(ctx, bin), nil
}

// consumerBinary returns --consumer-bin, or builds ./cmd/consumer into
// dir with the go command (from the module's directory).
func consumerBinary(ctx context.Context, cfg *config, dir string) (string, error) {
	if cfg.consumerBin != "" {
		return cfg.consumerBin, nil
	}
	bin := filepath.Join(dir, "consumer")
	cfg.progress("figure 5: go build -o %s github.com/purgebus/purgebus/cmd/consumer", bin)
	cmd := exec.CommandContext(ctx, "go", "build", "-o", bin, "github.com/purgebus/purgebus/cmd/consumer")
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("go build ./cmd/consumer (run purgeload from the module's directory, or pass --consumer-bin): %v\n%s", err, out.String())
	}
	return bin, nil
}

// binFlags returns the flags bin's --help lists ("--unpaced": true).
func binFlags(ctx context.Context, bin string) map[string]bool {
	cmd := exec.CommandContext(ctx, bin, "--help")
	cmd.Env = cleanEnv()
	out, _ := cmd.CombinedOutput()
	flags := map[string]bool{}
	for _, line := range strings.Split(string(out), "\n") {
		fields := strings.Fields(line)
		if len(fields) > 0 && strings.HasPrefix(fields[0], "--") {
			name, _, _ := strings.Cut(fields[0], "=")
			flags[name] = true
		}
	}
	return flags
}

// consumerSettings runs bin with args and --print-config and returns the
// settings that bear on its memory, "" when it prints none of them.
func consumerSettings(ctx context.Context, bin string, args []string) string {
	cmd := exec.CommandContext(ctx, bin, append(slices.Clone(args), "--print-config")...)
	cmd.Env = cleanEnv()
	out, _ := cmd.CombinedOutput()
	// The configuration is the object with in_flight; log lines may
	// come first.
	var view map[string]any
	for rest := out; view["in_flight"] == nil; {
		i := bytes.IndexByte(rest, '{')
		if i < 0 {
			return ""
		}
		view = nil
		_ = json.NewDecoder(bytes.NewReader(rest[i:])).Decode(&view)
		rest = rest[i+1:]
	}
	var parts []string
	for _, k := range []string{"memory_limit", "in_flight", "result_max_bytes", "result_duplicates", "ack_wait"} {
		switch v := view[k].(type) {
		case nil:
		case float64: // JSON numbers
			parts = append(parts, fmt.Sprintf("%s %s", k, num(v)))
		default:
			parts = append(parts, fmt.Sprintf("%s %v", k, v))
		}
	}
	return strings.Join(parts, ", ")
}

// cleanEnv is this process's environment without the variables
// cmd/consumer reads, so that only the harness's flags configure it.
func cleanEnv() []string {
	var env []string
	for _, kv := range os.Environ() {
		name, _, _ := strings.Cut(kv, "=")
		if strings.HasPrefix(name, "AKAMAI_") || strings.HasPrefix(name, "PURGEBUS_") || strings.HasPrefix(name, "NATS_") {
			continue
		}
		env = append(env, kv)
	}
	return env
}

// procMemory reads a process's peak and current resident set sizes, in
// MiB, from /proc/<pid>/status.
func procMemory(pid int) (hwm, rss float64, err error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, 0, fmt.Errorf("peak RSS: %w (figure 5 needs Linux's /proc)", err)
	}
	kib := func(key string) (float64, error) {
		for _, line := range strings.Split(string(b), "\n") {
			if v, ok := strings.CutPrefix(line, key+":"); ok {
				v = strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB"))
				n, err := strconv.ParseFloat(v, 64)
				return n, err
			}
		}
		return 0, fmt.Errorf("no %s in /proc/%d/status", key, pid)
	}
	h, err := kib("VmHWM")
	if err != nil {
		return 0, 0, err
	}
	r, err := kib("VmRSS")
	if err != nil {
		return 0, 0, err
	}
	return h / 1024, r / 1024, nil
}

// dirBytes is the size of the files under dir.
func dirBytes(dir string) int64 {
	var n int64
	_ = filepath.WalkDir(dir, func(_ string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			if info, err := d.Info(); err == nil {
				n += info.Size()
			}
		}
		return nil
	})
	return n
}

// logWatch reads the consumer's JSON log: it finds the embedded server's
// URL and keeps the last lines for error reports.
type logWatch struct {
	url   chan string
	mu    sync.Mutex
	lines []string
}

func (l *logWatch) scan(r io.Reader) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	found := false
	for sc.Scan() {
		line := sc.Text()
		l.mu.Lock()
		l.lines = append(l.lines, line)
		if len(l.lines) > 40 {
			l.lines = l.lines[len(l.lines)-20:]
		}
		l.mu.Unlock()
		if found {
			continue
		}
		var rec struct {
			Msg string `json:"msg"`
			URL string `json:"url"`
		}
		if json.Unmarshal([]byte(line), &rec) == nil && rec.Msg == "embedded NATS started" && rec.URL != "" {
			found = true
			l.url <- rec.URL
		}
	}
}

func (l *logWatch) tail() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]string(nil), l.lines...)
}

// profileRSS runs the large backlog once more with the consumer in this
// process (package consumer, its embedded server on the prefilled store,
// unpaced), so that go tool pprof can show where the memory goes: it
// writes a heap profile each time the heap in use reaches a new high
// (10 % above the last), the last one being the peak.
func profileRSS(ctx context.Context, cfg *config, f *Figure, n int, mod func(*consumer.Config)) error {
	dir, err := os.MkdirTemp("", "purgeload-rss-profile-*")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	k := cfg.rssPerEvent
	cfg.progress("figure 5: in-process profile: prefilling %d events", n)
	if err := prefill(ctx, dir, n, func(i int) []byte {
		urls := make([]string, k)
		for j := range urls {
			urls[j] = pageURL("rss", i*k+j)
		}
		return eventJSON(fmt.Sprintf("rss-%d", i), urls)
	}); err != nil {
		return err
	}
	fake := akamaitest.NewServer(akamaitest.Options{Buckets: akamaitest.BucketConfig{Disabled: true}, MaxRecords: 100})
	defer fake.Close()
	runtime.GC()
	cc := consumer.Config{
		Embedded:        bus.EmbeddedConfig{Listen: "127.0.0.1:0", DataDir: dir},
		Streams:         bus.StreamsConfig{}.EmbeddedDefaults(), // as cmd/consumer's
		Akamai:          akamai.Config{Credentials: fake.Credentials(), BaseURL: fake.URL()},
		Unpaced:         true,
		ShutdownTimeout: 30 * time.Second,
		Logger:          cfg.consumerLogger(),
	}
	if mod != nil {
		mod(&cc)
	}
	c, err := consumer.Start(ctx, cc)
	if err != nil {
		return err
	}
	defer closeConsumer(c, f)
	nc, err := nats.Connect(c.NATSURL(), nats.Name("purgeload-rss-profile"))
	if err != nil {
		return err
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		return err
	}
	path := filepath.Join(cfg.profileDir, "heap-5-inprocess.pprof")
	var ms runtime.MemStats
	var profiled, peak uint64
	sc := bus.StreamsConfig{}.Defaults()
	tick := time.NewTicker(500 * time.Millisecond)
	defer tick.Stop()
	lastProgress, lastResults := time.Now(), uint64(0)
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-tick.C:
		}
		runtime.ReadMemStats(&ms)
		peak = max(peak, ms.HeapInuse)
		if ms.HeapInuse > profiled*11/10 {
			if err := writeHeapProfile(path); err != nil {
				return err
			}
			profiled = ms.HeapInuse
		}
		results, pending, err := drainState(ctx, js, sc)
		if err != nil {
			continue
		}
		if results != lastResults {
			lastResults, lastProgress = results, time.Now()
		} else if time.Since(lastProgress) > 60*time.Second {
			return fmt.Errorf("in-process profile stalled at %d of %d results", results, n)
		}
		if results >= uint64(n) && pending == 0 {
			break
		}
	}
	hwm, _, _ := procMemory(os.Getpid())
	f.raw("in-process run: peak heap in use", float64(peak)/(1<<20), "MiB")
	f.raw("in-process run: this process's peak RSS", hwm, "MiB")
	f.note("heap profile at the in-process run's peak: %s (go tool pprof -sample_index=inuse_space)", path)
	return nil
}

func writeHeapProfile(path string) error {
	fh, err := os.Create(path)
	if err != nil {
		return err
	}
	if err := pprof.Lookup("heap").WriteTo(fh, 0); err != nil {
		_ = fh.Close()
		return err
	}
	return fh.Close()
}
