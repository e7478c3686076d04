// Command purgeload is purgebus's performance harness. One run measures up
// to six figures, each as a ratio against a baseline or bound measured or
// computed in the same run, so that figures taken on a noisy or slower
// machine still compare:
//
//  1. sustained URL purge rate ÷ the URL bucket's refill rate, and the
//     number of self-caused 429s, against a fake Akamai with real bucket
//     sizes whose time runs --time-scale times faster;
//  2. events/s the consumer drains from a dedupe-heavy JetStream backlog ÷
//     the rate a bare relay drains the same backlog (consume, store a
//     result of the same size, ack once it is stored);
//  3. purge requests per 10,000 events of unique URLs ÷ the packing bound
//     ⌈body bytes of every URL sent ÷ 50,000⌉;
//  4. event → 201 latency p50/p99 when idle, against linger + 20 ms;
//  5. peak RSS of the cmd/consumer process draining a large backlog ÷ the
//     same for a small one, and against 128 MiB;
//  6. time from the first event to the last result of a 50,000-URL flood
//     of one host whose route escalates to a CP code ÷ the same flood
//     without escalation, against a fake Akamai with real bucket sizes
//     whose time runs --flood-time-scale times faster.
//
// With --soak, it measures figure 7 alone, the soak: the slopes per hour of
// the RSS, Go heap and goroutines of cmd/consumer under a steady mixed
// load, which must be flat within noise.
//
// Figures 1–4 and 6 run the consumer in this process (package consumer, the
// same wiring as cmd/consumer) on an embedded nats-server the harness
// owns; figures 5 and 7 build and run ./cmd/consumer as a subprocess. Run
// it from the module's directory:
//
//	go run ./cmd/purgeload               # every figure, full size
//	go run ./cmd/purgeload --only 1,3    # some figures
//	go run ./cmd/purgeload --json        # machine-readable report
//	go run ./cmd/purgeload --soak 1h     # the soak
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	_ "net/http/pprof" // --pprof-addr
	"os"
	"os/signal"
	"runtime"
	"runtime/pprof"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// config is the command line.
type config struct {
	only      []int
	json      bool
	strict    bool
	verbose   bool
	quiet     bool
	transport string
	linger    time.Duration
	inFlight  int
	batch     bool

	timeScale     float64
	rateEvents    int
	ratePerEvent  int
	rateBurst     int
	ingestEvents  int
	ingestPerEv   int
	ingestURLs    int
	packEvents    int
	latencyEvents int
	latencyGap    time.Duration
	backlogSmall  int
	backlogLarge  int
	rssPerEvent   int
	floodScale    float64
	floodURLs     int
	floodPerEvent int
	consumerBin   string
	consumerArgs  []string
	profileDir    string
	pprofAddr     string
	soak          time.Duration
	soakRate      int
	soakEvery     time.Duration

	stdout, stderr io.Writer
}

var figureTitles = map[int]string{
	1: "sustained URL purge rate at the bucket's refill",
	2: "ingest capacity, dedupe-heavy backlog",
	3: "purge requests per 10,000 events (packing)",
	4: "event → 201 latency when idle",
	5: "peak RSS of cmd/consumer vs backlog size",
	6: "flood escalation: 50,000 URLs of one host",
	7: "soak: cmd/consumer's memory and goroutines under steady load",
}

func parseFlags(args []string, stderr io.Writer) (*config, error) {
	c := &config{stderr: stderr}
	fs := flag.NewFlagSet("purgeload", flag.ContinueOnError)
	fs.SetOutput(stderr)
	only := fs.String("only", "1,2,3,4,5,6", "figures to run, comma-separated (1 rate, 2 ingest, 3 packing, 4 latency, 5 RSS, 6 flood escalation)")
	fs.BoolVar(&c.json, "json", false, "print the report as JSON instead of a table")
	fs.BoolVar(&c.strict, "strict", false, "exit with status 3 when a figure misses its goal")
	fs.BoolVar(&c.verbose, "verbose", false, "log the in-process consumer at Info to stderr")
	fs.BoolVar(&c.quiet, "quiet", false, "no progress lines on stderr")
	fs.StringVar(&c.transport, "transport", "inprocess", "how the in-process consumer and the baselines reach NATS: inprocess (like the consumer's embedded server) or tcp (loopback)")
	fs.DurationVar(&c.linger, "linger", 0, "the coalescer's linger (consumer.Config.Coalescer.Linger; 0 is its default, 50 ms)")
	fs.IntVar(&c.inFlight, "in-flight", 0, "events in flight in the in-process consumer (consumer.Config.Streams.MaxAckPending; 0 is its default, 1,000)")
	fs.Float64Var(&c.timeScale, "time-scale", 20, "figure 1: the fake Akamai's buckets refill this many times faster than Akamai's, and the consumer's limits match")
	fs.IntVar(&c.rateEvents, "rate-events", 20000, "figure 1: events of unique URLs")
	fs.IntVar(&c.ratePerEvent, "rate-urls-per-event", 3, "figure 1: URLs per event")
	fs.IntVar(&c.rateBurst, "rate-burst", 10000, "figure 1: URL bucket capacity, in the fake and the consumer's limits (Akamai's is 10,000)")
	fs.BoolVar(&c.batch, "batch-publish", true, "figures 1–4: the consumer stores results in fast batches, its default; false publishes them one by one (consumer.Config.NoBatchPublish), for comparison")
	fs.IntVar(&c.ingestEvents, "ingest-events", 100000, "figure 2: backlogged events")
	fs.IntVar(&c.ingestPerEv, "ingest-urls-per-event", 3, "figure 2: URLs per event")
	fs.IntVar(&c.ingestURLs, "ingest-distinct-urls", 1000, "figure 2: distinct URLs the events draw from (few: dedupe-heavy)")
	fs.IntVar(&c.packEvents, "pack-events", 10000, "figure 3: backlogged events of 3 unique URLs each")
	fs.IntVar(&c.latencyEvents, "latency-events", 200, "figure 4: events published one at a time")
	fs.DurationVar(&c.latencyGap, "latency-gap", 20*time.Millisecond, "figure 4: pause between two events")
	fs.IntVar(&c.backlogSmall, "backlog-small", 10000, "figure 5: the small backlog (events)")
	fs.IntVar(&c.backlogLarge, "backlog-large", 1000000, "figure 5: the large backlog (events)")
	fs.IntVar(&c.rssPerEvent, "rss-urls-per-event", 3, "figure 5: unique URLs per event")
	fs.Float64Var(&c.floodScale, "flood-time-scale", 5, "figure 6: the fake Akamai's buckets refill this many times faster than Akamai's; the consumer's limits and the route's after (30 s) match")
	fs.IntVar(&c.floodURLs, "flood-urls", 50000, "figure 6: unique URLs in the flood")
	fs.IntVar(&c.floodPerEvent, "flood-urls-per-event", 100, "figure 6: URLs per event")
	fs.StringVar(&c.consumerBin, "consumer-bin", "", "figure 5: a built cmd/consumer binary (default: go build ./cmd/consumer into a temporary directory)")
	consumerArgs := fs.String("consumer-args", "", "figure 5: extra flags for cmd/consumer, space-separated (e.g. \"--result-max-bytes 16777216\"), for experiments")
	fs.StringVar(&c.profileDir, "profile-dir", "", "write profiles into this directory, for go tool pprof: CPU and allocations of this process while the in-process consumer drains (figures 1–4); for figure 5, the heap at the peak of an extra in-process run of the large backlog")
	fs.StringVar(&c.pprofAddr, "pprof-addr", "", "serve net/http/pprof on this address (e.g. 127.0.0.1:6060) while running, to look at the in-process consumer's goroutines")
	fs.DurationVar(&c.soak, "soak", 0, "figure 7 alone instead of the others: run cmd/consumer under a steady mixed load for this long (e.g. 1h), sampling its RSS, heap and goroutines, and print their slopes per hour")
	fs.IntVar(&c.soakRate, "soak-rate", 200, "figure 7: events per second")
	fs.DurationVar(&c.soakEvery, "soak-every", 30*time.Second, "figure 7: time between two samples")
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	if fs.NArg() > 0 {
		return nil, fmt.Errorf("unexpected arguments: %s", strings.Join(fs.Args(), " "))
	}
	c.consumerArgs = strings.Fields(*consumerArgs)
	for _, s := range strings.Split(*only, ",") {
		s = strings.TrimSpace(s)
		if s == "" {
			continue
		}
		n, err := strconv.Atoi(s)
		if err != nil || figureTitles[n] == "" || n == 7 {
			return nil, fmt.Errorf("--only: %q is not a figure (1 to 6; figure 7 is --soak)", s)
		}
		if !slices.Contains(c.only, n) {
			c.only = append(c.only, n)
		}
	}
	slices.Sort(c.only)
	if c.soak > 0 {
		c.only = []int{7}
	}
	if len(c.only) == 0 {
		return nil, errors.New("--only names no figure")
	}
	var errs []error
	positive := func(name string, v int) {
		if v < 1 {
			errs = append(errs, fmt.Errorf("--%s must be at least 1, not %d", name, v))
		}
	}
	positive("rate-events", c.rateEvents)
	positive("rate-urls-per-event", c.ratePerEvent)
	positive("rate-burst", c.rateBurst)
	positive("ingest-events", c.ingestEvents)
	positive("ingest-urls-per-event", c.ingestPerEv)
	positive("ingest-distinct-urls", c.ingestURLs)
	positive("pack-events", c.packEvents)
	positive("latency-events", c.latencyEvents)
	positive("backlog-small", c.backlogSmall)
	positive("backlog-large", c.backlogLarge)
	positive("rss-urls-per-event", c.rssPerEvent)
	positive("flood-urls", c.floodURLs)
	positive("flood-urls-per-event", c.floodPerEvent)
	if !(c.timeScale > 0) {
		errs = append(errs, fmt.Errorf("--time-scale must be positive, not %v", c.timeScale))
	}
	if !(c.floodScale > 0) {
		errs = append(errs, fmt.Errorf("--flood-time-scale must be positive, not %v", c.floodScale))
	}
	if c.transport != "inprocess" && c.transport != "tcp" {
		errs = append(errs, fmt.Errorf("--transport must be inprocess or tcp, not %q", c.transport))
	}
	if c.soak < 0 || c.soak > 0 && (c.soakRate < 1 || c.soakEvery <= 0 || c.soakEvery > c.soak) {
		errs = append(errs, fmt.Errorf("--soak %v needs --soak-rate of at least 1 (not %d) and --soak-every between 0 and --soak (not %v)", c.soak, c.soakRate, c.soakEvery))
	}
	if c.latencyGap < 0 || c.linger < 0 {
		errs = append(errs, errors.New("--latency-gap and --linger must not be negative"))
	}
	return c, errors.Join(errs...)
}

// effectiveLinger is the coalescer's linger in force.
func (c *config) effectiveLinger() time.Duration {
	if c.linger > 0 {
		return c.linger
	}
	return 50 * time.Millisecond
}

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	code, err := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	if err != nil {
		if errors.Is(err, flag.ErrHelp) {
			os.Exit(0)
		}
		fmt.Fprintln(os.Stderr, "purgeload:", err)
		os.Exit(1)
	}
	os.Exit(code)
}

// run parses args, runs the figures and prints the report. The exit code
// is 3 under --strict when a goal was missed.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) (int, error) {
	cfg, err := parseFlags(args, stderr)
	if err != nil {
		return 1, err
	}
	cfg.stdout = stdout
	if cfg.pprofAddr != "" {
		ln, err := net.Listen("tcp", cfg.pprofAddr)
		if err != nil {
			return 1, fmt.Errorf("--pprof-addr: %w", err)
		}
		defer ln.Close()
		go func() { _ = http.Serve(ln, nil) }()
		cfg.progress("pprof on http://%s/debug/pprof/", ln.Addr())
	}
	rep := measure(ctx, cfg, args)
	if cfg.json {
		err = rep.WriteJSON(stdout)
	} else {
		err = rep.WriteTable(stdout)
	}
	if err != nil {
		return 1, err
	}
	if cfg.strict && rep.Misses() > 0 {
		return 3, nil
	}
	return 0, nil
}

// measure runs the figures in cfg.only, one after the other.
func measure(ctx context.Context, cfg *config, args []string) *Report {
	rep := &Report{
		Started:    time.Now(),
		Command:    strings.TrimSpace("purgeload " + strings.Join(args, " ")),
		GoVersion:  runtime.Version(),
		CPUs:       runtime.NumCPU(),
		GOMAXPROCS: runtime.GOMAXPROCS(0),
		LoadBefore: loadAverage(),
	}
	runners := map[int]func(context.Context, *config, *Figure) error{
		1: runRate,
		2: runIngest,
		3: runPacking,
		4: runLatency,
		5: runRSS,
		6: runEscalation,
		7: runSoak,
	}
	for _, n := range cfg.only {
		f := &Figure{N: n, Title: figureTitles[n]}
		cfg.progress("figure %d: %s", n, f.Title)
		start := time.Now()
		err := runners[n](ctx, cfg, f)
		f.Seconds = time.Since(start).Seconds()
		if err != nil {
			f.Error = err.Error()
			cfg.progress("figure %d: %v", n, err)
		}
		rep.Figures = append(rep.Figures, f)
		if ctx.Err() != nil {
			break
		}
	}
	rep.Seconds = time.Since(rep.Started).Seconds()
	rep.LoadAfter = loadAverage()
	return rep
}

// startProfile starts a CPU profile of this process for the consumer's
// phase of an in-process figure when --profile-dir is set; the returned
// function stops it and writes an allocation profile.
func (c *config) startProfile(n int, f *Figure) func() {
	if c.profileDir == "" {
		return func() {}
	}
	if err := os.MkdirAll(c.profileDir, 0o755); err != nil {
		f.note("profile: %v", err)
		return func() {}
	}
	cpuPath := fmt.Sprintf("%s/cpu-%d.pprof", c.profileDir, n)
	cpu, err := os.Create(cpuPath)
	if err != nil {
		f.note("profile: %v", err)
		return func() {}
	}
	if err := pprof.StartCPUProfile(cpu); err != nil {
		_ = cpu.Close()
		f.note("profile: %v", err)
		return func() {}
	}
	return func() {
		pprof.StopCPUProfile()
		_ = cpu.Close()
		heapPath := fmt.Sprintf("%s/heap-%d.pprof", c.profileDir, n)
		if h, err := os.Create(heapPath); err == nil {
			_ = pprof.Lookup("allocs").WriteTo(h, 0)
			_ = h.Close()
		}
		f.note("profiles: %s, %s", cpuPath, heapPath)
	}
}

// loadAverage is the 1-minute load average, 0 when unknown.
func loadAverage() float64 {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return 0
	}
	fields := strings.Fields(string(b))
	if len(fields) == 0 {
		return 0
	}
	v, _ := strconv.ParseFloat(fields[0], 64)
	return v
}
