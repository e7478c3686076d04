package integration

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/purgebus/purgebus/akamai"
	"github.com/purgebus/purgebus/akamai/akamaitest"
	"github.com/purgebus/purgebus/akamai/edgegrid"
	"github.com/purgebus/purgebus/bus"
	"github.com/purgebus/purgebus/events"
	"github.com/purgebus/purgebus/internal/testproc"
	"github.com/purgebus/purgebus/internal/testwait"
)

// TestCrashSafety runs the real consumer binary against NATS JetStream
// and a fake Akamai, both in this process, publishes 10,000 events and
// SIGKILLs the consumer at random points of the run, restarting it each
// time. Nothing may be lost: every event gets a succeeded result
// (redeliveries may purge twice: at-least-once), every URL reaches Akamai,
// nothing is dead-lettered, and in the end nothing is left unacknowledged.
//
// A SIGKILLed consumer cannot nak: JetStream redelivers the events it
// held when the durable's AckWait runs out, 30 s by default. The consumer
// has no flag for AckWait, but started without --provision it verifies
// the streams and adopts the durable's own AckWait and in-flight limit, as
// an operator set them. So the test provisions like an operator, with a
// 3 s AckWait, and the consumer runs without --provision. AckWait is not
// shorter because the subscriber sends InProgress for every event in
// flight each AckWait/3; the in-flight limit is above what a consumer
// holds at a kill, so stranded events do not hold the next one back.
//
// The consumer paces itself to Akamai's token buckets (10,000 URLs at
// once, then 200 a second), each process with a full bucket, and has no
// flag to change that. The 30,000 URLs take a minute and a half at that
// pace, so the kills are spread over the run by progress, one in each
// eighth of it: no process purges much more than a bucket's worth.
//
// PURGEBUS_CRASH_SEED replays a run; the seed is logged.
func TestCrashSafety(t *testing.T) {
	const (
		nEvents   = 10_000
		perEvent  = 3
		nKills    = 8
		publishIn = 8 * time.Second // events are published at an even pace over this
		inFlight  = 2000
		ackWait   = 3 * time.Second
		deadline  = 75 * time.Second
	)
	seed := uint64(time.Now().UnixNano())
	if s := os.Getenv("PURGEBUS_CRASH_SEED"); s != "" {
		var err error
		if seed, err = strconv.ParseUint(s, 10, 64); err != nil {
			t.Fatalf("PURGEBUS_CRASH_SEED: %v", err)
		}
	}
	t.Logf("seed %d (rerun with PURGEBUS_CRASH_SEED=%d)", seed, seed)
	rng := rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))

	binary := buildConsumer(t)
	dir := t.TempDir()

	srv, err := bus.StartEmbedded(bus.EmbeddedConfig{Listen: "127.0.0.1:0", DataDir: filepath.Join(dir, "nats")})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(srv.Shutdown)
	// Rate limits are not under test here; with them, 30,000 URLs and
	// their re-purges would wait on the URL bucket for minutes.
	fake := akamaitest.NewServer(akamaitest.Options{Buckets: akamaitest.BucketConfig{Disabled: true}})
	t.Cleanup(fake.Close)
	// About Akamai's own response time: purges are under way when a
	// kill comes.
	fake.SetLatency(100 * time.Millisecond)
	edgerc := writeEdgercFile(t, dir, fake.Credentials())

	nc, err := nats.Connect(srv.ClientURL())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}

	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := bus.Provision(ctx, js, bus.StreamsConfig{MaxAckPending: inFlight, AckWait: ackWait}); err != nil {
		t.Fatalf("provision: %v", err)
	}
	proc := &consumerProcess{t: t, binary: binary, logDir: dir, args: []string{
		"--nats-url", srv.ClientURL(),
		"--http-addr=", // tests run side by side: no metrics port
		"--edgerc", edgerc,
		"--akamai-url", fake.URL(),
		"--in-flight", strconv.Itoa(inFlight),
		"--linger", "20ms",
		"--shutdown-timeout", "10s",
	}}
	t.Cleanup(proc.kill)
	proc.start()

	results := watchResultStream(t, js)

	// Kill points: after how many events have results. One falls at
	// random in each of nKills equal slices of 5 %–95 % of the events.
	kills := make([]int, nKills)
	for i := range kills {
		slice := 0.9 / nKills
		kills[i] = int((0.05 + slice*(float64(i)+rng.Float64())) * nEvents)
	}
	t.Logf("kills when %v events have results", kills)

	want := make(map[string][]string, nEvents) // event ID → its URLs
	for i := range nEvents {
		id := fmt.Sprintf("crash-%d", i)
		for j := range perEvent {
			want[id] = append(want[id], fmt.Sprintf("https://www.example.com/crash/%d/%d?seed=%d", i, j, seed))
		}
	}

	start := time.Now()
	published := make(chan error, 1)
	go func() { published <- publishPaced(js, want, nEvents, publishIn) }()

	caught := 0 // kills that found events delivered and not yet acked
	for i, at := range kills {
		if !results.waitAll(at, start.Add(deadline)) {
			proc.dumpLogs()
			t.Fatalf("only %d events have results after %v, want %d for kill %d", results.distinct(), deadline, at, i+1)
		}
		pending := durableAckPending(js)
		proc.kill()
		if pending > 0 {
			caught++
		}
		t.Logf("kill %d at %v: %d events unacknowledged, %d of %d events have results",
			i+1, time.Since(start).Round(time.Millisecond), pending, results.distinct(), nEvents)
		proc.start()
	}
	if err := <-published; err != nil {
		t.Fatalf("publishing: %v", err)
	}
	t.Logf("published %d events in %v", nEvents, time.Since(start).Round(time.Millisecond))
	if caught == 0 {
		t.Fatal("no kill caught an event in flight; the test did not test crashes")
	}

	if !results.waitAll(len(want), start.Add(deadline)) {
		var missing []string
		for id := range want {
			if !results.has(id) {
				missing = append(missing, id)
			}
		}
		slices.Sort(missing)
		proc.dumpLogs()
		t.Fatalf("after %v, %d of %d events have no result, e.g. %v", deadline, len(missing), nEvents, missing[:min(10, len(missing))])
	}
	t.Logf("all %d events have results after %v", nEvents, time.Since(start).Round(time.Millisecond))

	// Every copy of every result succeeded and names the event's URLs.
	// (A redelivered event's result is stored once: the result stream
	// drops the copy by its message ID.)
	all := results.snapshot()
	for id, urls := range want {
		for _, r := range all[id] {
			if r.Outcome != events.OutcomeSucceeded || len(r.Failures) != 0 {
				t.Fatalf("%s: outcome %s, failures %+v; want succeeded", id, r.Outcome, r.Failures)
			}
			var got []string
			for _, p := range r.Purges {
				got = append(got, p.Objects...)
			}
			slices.Sort(got)
			if !slices.Equal(got, slices.Sorted(slices.Values(urls))) {
				t.Fatalf("%s: result purged %v, want %v", id, got, urls)
			}
		}
	}
	if len(all) != len(want) {
		t.Errorf("results for %d event IDs, %d published", len(all), len(want))
	}

	purged := map[string]int{}
	for _, u := range fake.PurgedObjects(akamai.TypeURL) {
		purged[u]++
	}
	again := 0
	for id, urls := range want {
		for _, u := range urls {
			switch n := purged[u]; {
			case n == 0:
				t.Fatalf("%s: %s never reached Akamai", id, u)
			case n > 1:
				again++
			}
		}
	}
	t.Logf("%d URLs purged more than once (their events were redelivered after a kill)", again)
	// A kill in the middle of sending a request leaves the fake a cut
	// body, whose content hash no longer matches: at most the requests
	// under way at each kill (4 lanes' worth). Anything beyond that would
	// be a signing bug.
	if st := fake.Stats(); st.Unsigned > nKills*4 {
		t.Errorf("%d requests failed the fake's signature checks, more than the %d kills could cut", st.Unsigned, nKills)
	}
	if n := streamMsgCount(t, js, events.DefaultDeadLetterStream); n != 0 {
		t.Errorf("%d dead letters, want none", n)
	}
	// Every event was acked in the end: the work-queue stream is empty.
	testwait.Until(t, 15*time.Second, "every event to be acknowledged", func() bool {
		return durableAckPending(js) == 0 && streamMsgCount(t, js, events.DefaultContentStream) == 0
	})

	if os.Getenv("PURGEBUS_TEST_LOG") != "" {
		defer proc.dumpLogs()
	}
	// The last consumer still drains and exits cleanly on SIGTERM.
	if err := proc.terminate(15 * time.Second); err != nil {
		proc.dumpLogs()
		t.Errorf("consumer on SIGTERM: %v", err)
	}
}

// buildConsumer builds ./cmd/consumer into a temporary directory with the
// go command that runs the tests (go test puts its GOROOT/bin first in
// PATH).
func buildConsumer(t *testing.T) string {
	t.Helper()
	return buildCommand(t, "consumer")
}

// buildCommand builds ./cmd/<name> like buildConsumer.
func buildCommand(t *testing.T, name string) string {
	t.Helper()
	gocmd := "go"
	if root := os.Getenv("GOROOT"); root != "" {
		gocmd = filepath.Join(root, "bin", "go")
	}
	gocmd, err := exec.LookPath(gocmd)
	if err != nil {
		t.Fatalf("the go command is needed to build the consumer: %v", err)
	}
	out := filepath.Join(t.TempDir(), name)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, gocmd, "build", "-o", out, "./cmd/"+name)
	cmd.Dir = ".." // the module root
	begin := time.Now()
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build ./cmd/%s: %v\n%s", name, err, b)
	}
	t.Logf("built ./cmd/%s in %v", name, time.Since(begin).Round(time.Millisecond))
	return out
}

// writeEdgercFile writes c as section [ccu] of an .edgerc file.
func writeEdgercFile(t *testing.T, dir string, c edgegrid.Credentials) string {
	t.Helper()
	path := filepath.Join(dir, "edgerc")
	text := fmt.Sprintf("[ccu]\nhost = %s\nclient_token = %s\nclient_secret = %s\naccess_token = %s\nmax_body = %d\n",
		c.Host, c.ClientToken, c.ClientSecret, c.AccessToken, c.MaxBody)
	if err := os.WriteFile(path, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// consumerProcess is the consumer binary, run again after each kill. Each
// run logs to its own file.
type consumerProcess struct {
	t      *testing.T
	binary string
	args   []string
	logDir string

	runs int
	cmd  *exec.Cmd
	done chan error // receives Wait's result
}

func (p *consumerProcess) start() {
	p.t.Helper()
	p.runs++
	logFile, err := os.Create(filepath.Join(p.logDir, fmt.Sprintf("consumer-%d.log", p.runs)))
	if err != nil {
		p.t.Fatal(err)
	}
	cmd := exec.Command(p.binary, p.args...)
	cmd.Env = testproc.Env()
	cmd.Stdout, cmd.Stderr = logFile, logFile
	if err := cmd.Start(); err != nil {
		logFile.Close()
		p.t.Fatalf("start consumer: %v", err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait(); logFile.Close() }()
	p.cmd, p.done = cmd, done
}

// kill SIGKILLs the running consumer and waits until it is gone.
func (p *consumerProcess) kill() {
	if p.cmd == nil {
		return
	}
	_ = p.cmd.Process.Signal(syscall.SIGKILL)
	<-p.done
	p.cmd = nil
}

// terminate sends SIGTERM and waits for a clean exit.
func (p *consumerProcess) terminate(timeout time.Duration) error {
	if p.cmd == nil {
		return errors.New("not running")
	}
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		return err
	}
	select {
	case err := <-p.done:
		p.cmd = nil
		return err
	case <-time.After(timeout):
		p.kill()
		return fmt.Errorf("still running %v after SIGTERM", timeout)
	}
}

// dumpLogs shows the tail of every run's log.
func (p *consumerProcess) dumpLogs() {
	for i := 1; i <= p.runs; i++ {
		b, err := os.ReadFile(filepath.Join(p.logDir, fmt.Sprintf("consumer-%d.log", i)))
		if err != nil {
			p.t.Logf("run %d log: %v", i, err)
			continue
		}
		if len(b) > 6000 && os.Getenv("PURGEBUS_TEST_LOG") == "" {
			b = b[len(b)-6000:]
		}
		p.t.Logf("consumer run %d log (tail):\n%s", i, b)
	}
}

// publishPaced publishes the events in order at an even pace over d,
// asynchronously, and waits for JetStream to store every one.
func publishPaced(js jetstream.JetStream, want map[string][]string, n int, d time.Duration) error {
	const batch = 100
	start := time.Now()
	var acks []jetstream.PubAckFuture
	for i := range n {
		if i%batch == 0 {
			time.Sleep(time.Until(start.Add(d * time.Duration(i) / time.Duration(n))))
		}
		id := fmt.Sprintf("crash-%d", i)
		ev := events.ContentChanged{ID: id, URLs: want[id], Source: "crash-test"}
		data, err := ev.Encode()
		if err != nil {
			return err
		}
		msg := nats.NewMsg(events.SubjectContentChanged)
		msg.Data = data
		msg.Header.Set(jetstream.MsgIDHeader, id)
		f, err := js.PublishMsgAsync(msg)
		if err != nil {
			return fmt.Errorf("publish %s: %w", id, err)
		}
		acks = append(acks, f)
	}
	timeout := time.After(30 * time.Second)
	for _, f := range acks {
		select {
		case <-f.Ok():
		case err := <-f.Err():
			return fmt.Errorf("publish %s: %w", f.Msg().Header.Get(jetstream.MsgIDHeader), err)
		case <-timeout:
			return errors.New("JetStream did not acknowledge every publish within 30 s")
		}
	}
	return nil
}

// ackPending is the number of events delivered to the consumer and not yet
// acknowledged (-1 when unknown).
func durableAckPending(js jetstream.JetStream) int {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	c, err := js.Consumer(ctx, events.DefaultContentStream, "purgebus")
	if err != nil {
		return -1
	}
	info, err := c.Info(ctx)
	if err != nil {
		return -1
	}
	return info.NumAckPending
}

func streamMsgCount(t *testing.T, js jetstream.JetStream, name string) uint64 {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	s, err := js.Stream(ctx, name)
	if err != nil {
		t.Fatalf("stream %s: %v", name, err)
	}
	info, err := s.Info(ctx)
	if err != nil {
		t.Fatalf("stream %s: %v", name, err)
	}
	return info.State.Msgs
}

// resultStreamWatch reads the result stream from the start, as it grows,
// keeping every copy of every result by event ID.
type resultStreamWatch struct {
	mu      sync.Mutex
	byID    map[string][]events.PurgeResult
	changed chan struct{} // closed and replaced on every new event ID
	bad     []string
}

func watchResultStream(t *testing.T, js jetstream.JetStream) *resultStreamWatch {
	t.Helper()
	c := &resultStreamWatch{byID: map[string][]events.PurgeResult{}, changed: make(chan struct{})}
	cons, err := js.OrderedConsumer(context.Background(), events.DefaultResultStream, jetstream.OrderedConsumerConfig{})
	if err != nil {
		t.Fatal(err)
	}
	cc, err := cons.Consume(func(m jetstream.Msg) {
		res, err := events.DecodeResult(m.Data())
		c.mu.Lock()
		defer c.mu.Unlock()
		if err != nil || !strings.HasSuffix(m.Subject(), "."+res.EventID) {
			c.bad = append(c.bad, fmt.Sprintf("%s: %q (%v)", m.Subject(), m.Data(), err))
			return
		}
		if len(c.byID[res.EventID]) == 0 {
			close(c.changed)
			c.changed = make(chan struct{})
		}
		c.byID[res.EventID] = append(c.byID[res.EventID], res)
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cc.Stop()
		c.mu.Lock()
		defer c.mu.Unlock()
		for _, b := range c.bad {
			t.Errorf("bad result %s", b)
		}
	})
	return c
}

func (c *resultStreamWatch) distinct() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.byID)
}

func (c *resultStreamWatch) has(id string) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.byID[id]) > 0
}

// waitAll waits until n event IDs have results, or until deadline.
func (c *resultStreamWatch) waitAll(n int, deadline time.Time) bool {
	for {
		c.mu.Lock()
		got, changed := len(c.byID), c.changed
		c.mu.Unlock()
		if got >= n {
			return true
		}
		select {
		case <-changed:
		case <-time.After(time.Until(deadline)):
			return false
		}
	}
}

func (c *resultStreamWatch) snapshot() map[string][]events.PurgeResult {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := make(map[string][]events.PurgeResult, len(c.byID))
	for id, rs := range c.byID {
		out[id] = slices.Clone(rs)
	}
	return out
}
