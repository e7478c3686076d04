package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/nats-io/nats-server/v2/server"

	"github.com/purgebus/purgebus/akamai"
)

// Bounds of the settings. Each says why: a value outside them is refused
// rather than replaced, so that what --print-config shows is what runs.
const (
	// minAckWait is the shortest --ack-wait: one purge request may take
	// akamai.DefaultTimeout, and an event must not be redelivered while
	// the consumer still works on it, whatever delays its InProgress
	// heartbeats (a redelivery storm: 100 events gave 413 deliveries at
	// 20ms).
	minAckWait = akamai.DefaultTimeout + 5*time.Second
	// defaultAckWait is --ack-wait's default, above the floor.
	defaultAckWait = 45 * time.Second
	// maxAckWait bounds how long an event held by a crashed consumer
	// waits for its redelivery.
	maxAckWait = time.Hour
	// maxInFlight keeps the memory argument (README, "Memory") bounded: each
	// event in flight holds its payload and a goroutine.
	maxInFlight = 100_000
	// maxLinger: a batch that lingers longer delays every purge by as much.
	maxLinger = 10 * time.Second
	// minEventBytes is the smallest useful --max-event-bytes: an event
	// with one ordinary URL and the longest ID.
	minEventBytes = 1024
	// embeddedMaxPayload is the embedded server's largest message: no
	// event, result or dead letter can be larger.
	embeddedMaxPayload = server.MAX_PAYLOAD_SIZE
	// maxServerPayload is the largest max_payload nats-server allows; an
	// external server's own is checked after connecting.
	maxServerPayload = 64 << 20
	// maxAttempts bounds the tries of one request before its events are
	// redelivered (which tries again anyway).
	maxAttempts = 100
	// maxRequestsInFlight: Akamai's request bucket holds 100 requests.
	maxRequestsInFlight = 100
	// maxShutdownTimeout: an orchestrator kills a process that takes longer.
	maxShutdownTimeout = time.Hour
	// maxReplicas is JetStream's largest replica count.
	maxReplicas = 5
	// minMemoryLimit: the consumer's live heap is tens of MiB; below this
	// the collector would run without pause (1 byte cost 7× the CPU).
	minMemoryLimit = 32 << 20
	// maxResultDuplicates: nats-server holds every result's ID in memory
	// for the window.
	maxResultDuplicates = 24 * time.Hour
)

// problems collects what is wrong with the options, each naming the flag
// or environment variable it came from.
type problems struct {
	o    *options
	errs []error
}

func (p *problems) add(flagName, format string, args ...any) {
	p.errs = append(p.errs, fmt.Errorf("%s %s", p.o.origin(flagName), fmt.Sprintf(format, args...)))
}

// origin names a flag as the user gave it: --name, or the environment
// variable that set it.
func (o *options) origin(flagName string) string {
	if v, ok := o.fromEnv[flagName]; ok {
		return v + " (--" + flagName + ")"
	}
	return "--" + flagName
}

// validate checks the whole configuration before anything starts and
// returns every problem at once. Nothing is replaced by a default: a
// value that cannot work is refused.
func (o *options) validate() error {
	p := &problems{o: o}
	o.fs.VisitAll(func(f *flag.Flag) {
		if i := strings.IndexFunc(f.Value.String(), isControl); i >= 0 {
			what := strconv.QuoteRune(rune(f.Value.String()[i]))
			if secretFlags[f.Name] {
				what = "a control character"
			}
			p.add(f.Name, "contains %s (a pasted line end, or a file's trailing newline?)", what)
		}
	})
	o.validateNATS(p)
	o.validateStreams(p)
	o.validateLimits(p)
	o.validateCombinations(p)
	if err := o.checkNATS(o.baseConfig(nil)); err != nil {
		p.errs = append(p.errs, err)
	}
	if _, err := o.logger(io.Discard); err != nil {
		p.errs = append(p.errs, err)
	}
	return errors.Join(p.errs...)
}

func isControl(r rune) bool { return r < 0x20 || r == 0x7f }

func (o *options) validateNATS(p *problems) {
	if o.natsURL != "" {
		return
	}
	if o.natsListen == "" {
		p.add("nats-listen", "must not be empty: say where the embedded NATS server listens (default 127.0.0.1:4222)")
	}
	if o.dataDir == "" {
		p.add("data-dir", "must not be empty: the embedded server's store would be a temporary directory deleted at exit, and a backlog would not survive a restart")
		return
	}
	if err := writableDir(o.dataDir); err != nil {
		p.add("data-dir", "%s: %v", o.dataDir, err)
	}
}

// writableDir reports why dir cannot be (or become) a directory that this
// process writes in, without creating it: a misconfigured start touches
// nothing.
func writableDir(dir string) error {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return err
	}
	for p := abs; ; p = filepath.Dir(p) {
		fi, err := os.Stat(p)
		switch {
		case (errors.Is(err, fs.ErrNotExist) || errors.Is(err, syscall.ENOTDIR)) && p != filepath.Dir(p):
			continue // created at start, if its parent allows
		case err != nil:
			return err
		case !fi.IsDir():
			if p == abs {
				return errors.New("is a file, not a directory")
			}
			return fmt.Errorf("%s is a file, not a directory", p)
		}
		if err := syscall.Access(p, 0x2|0x1); err != nil { // W_OK|X_OK
			if p == abs {
				return fmt.Errorf("not writable: %w", err)
			}
			return fmt.Errorf("cannot be created: %s is not writable: %w", p, err)
		}
		return nil
	}
}

func (o *options) validateStreams(p *problems) {
	names := []struct{ flag, v string }{{"stream", o.stream}, {"result-stream", o.resultStream}, {"deadletter-stream", o.deadStream}, {"durable", o.durable}}
	for _, n := range names {
		if reason := jetStreamNameProblem(n.v); reason != "" {
			p.add(n.flag, "%q %s", n.v, reason)
		}
	}
	streams := names[:3]
	for i, a := range streams {
		for _, b := range streams[i+1:] {
			if a.v != "" && a.v == b.v {
				p.errs = append(p.errs, fmt.Errorf("%s and %s are both %q: each stream has its own retention (the results' size cap, the dead letters' 30 days) and subjects, so the three names must differ",
					o.origin(a.flag), o.origin(b.flag), b.v))
			}
		}
	}
}

// jetStreamNameProblem says why s cannot name a stream or a durable
// consumer, or "": nats-server refuses names with whitespace, '.', '*',
// '>' or path separators, and the name becomes a file name on disk.
func jetStreamNameProblem(s string) string {
	switch {
	case s == "":
		return "is empty"
	case len(s) > 255:
		return "is longer than 255 bytes"
	case strings.ContainsAny(s, " \t\r\n.*>/\\"):
		return "may not contain whitespace, '.', '*', '>', '/' or '\\'"
	}
	return ""
}

func (o *options) validateLimits(p *problems) {
	between := func(flagName string, n, lo, hi int64, why string) {
		if n < lo || n > hi {
			p.add(flagName, "must be from %d to %d, not %d%s", lo, hi, n, why)
		}
	}
	durBetween := func(flagName string, d, lo, hi time.Duration, why string) {
		if d < lo || d > hi {
			p.add(flagName, "must be from %v to %v, not %v%s", lo, hi, d, why)
		}
	}
	between("in-flight", int64(o.inFlight), 1, maxInFlight, " (events in flight at once: JetStream's MaxAckPending, which bounds memory)")
	durBetween("linger", o.linger, time.Millisecond, maxLinger, "")
	maxEvent := int64(maxServerPayload)
	if o.natsURL == "" {
		maxEvent = embeddedMaxPayload
	}
	between("max-event-bytes", int64(o.maxEventBytes), minEventBytes, maxEvent, " (no larger message crosses the NATS server)")
	between("max-attempts", int64(o.maxAttempts), 1, maxAttempts, "")
	between("requests-in-flight", int64(o.requestInFlight), 1, maxRequestsInFlight, " (Akamai's request bucket holds 100)")
	durBetween("shutdown-timeout", o.shutdownTimeout, time.Millisecond, maxShutdownTimeout, "")
	durBetween("ack-wait", o.ackWait, minAckWait, maxAckWait, fmt.Sprintf(
		" (below it JetStream may redeliver an event while a purge request for it, which may take %v, is under way)", akamai.DefaultTimeout))
	if o.replicas < 1 {
		p.add("stream-replicas", "must be at least 1, not %d", o.replicas)
	} else if o.replicas > maxReplicas {
		p.add("stream-replicas", "must be at most %d (JetStream's limit), not %d", maxReplicas, o.replicas)
	}
	for _, f := range []struct {
		name string
		d    time.Duration
	}{{"result-max-age", o.resultMaxAge}, {"deadletter-max-age", o.deadMaxAge}} {
		if f.d <= 0 {
			p.add(f.name, "must be positive, not %v", f.d)
		}
	}
	if o.resultDups.set {
		switch d := o.resultDups.d; {
		case d <= 0:
			p.add("result-duplicates", "must be positive, not %v", d)
		case d < 100*time.Millisecond:
			p.add("result-duplicates", "must be at least 100ms (JetStream's least window), not %v", d)
		case d > maxResultDuplicates:
			p.add("result-duplicates", "must be at most %v (nats-server holds every ID in memory that long), not %v", maxResultDuplicates, d)
		}
	}
	// A stream smaller than one message would drop each as soon as it is
	// stored: the largest a result or dead letter can be is the server's
	// max payload (an external server's is checked after connecting).
	for _, f := range []struct {
		name string
		n    int64
	}{{"result-max-bytes", o.resultMaxBytes.n}, {"deadletter-max-bytes", o.deadMaxBytes.n}} {
		switch {
		case f.n < 0:
			p.add(f.name, "must be 0 (no limit) or more, not %d", f.n)
		case f.n > 0 && f.n < embeddedMaxPayload:
			p.add(f.name, "must be 0 (no limit) or at least %s, one message of the largest size NATS carries, not %s: a smaller stream drops each message as soon as it is stored",
				formatSize(embeddedMaxPayload), formatSize(f.n))
		}
	}
	switch n := o.memoryLimitFlag.n; {
	case n < 0:
		p.add("memory-limit", "must be 0 (no limit) or more, not %d", n)
	case n > 0 && n < minMemoryLimit:
		p.add("memory-limit", "must be 0 (no limit) or at least %s, not %s: the consumer's live heap alone is larger, and the garbage collector would run without pause",
			formatSize(minMemoryLimit), formatSize(n))
	}
}

// validateCombinations refuses flags that another flag makes meaningless,
// rather than ignoring them silently.
func (o *options) validateCombinations(p *problems) {
	if o.sandbox {
		// Given on the command line they are a mistake; from the
		// environment (AKAMAI_EDGERC is set for every Akamai tool) they
		// are only worth a warning.
		var given, inEnv []string
		for _, f := range []struct{ name, v string }{{"akamai-url", o.akamaiURL}, {"edgerc", o.edgerc}, {"section", o.section}, {"account-key", o.accountKey}} {
			switch env, ok := o.fromEnv[f.name]; {
			case f.v == "":
			case ok:
				inEnv = append(inEnv, env)
			default:
				given = append(given, "--"+f.name)
			}
		}
		if len(given) > 0 {
			p.errs = append(p.errs, fmt.Errorf("%s %s only without --sandbox, which purges against an in-process fake Akamai", strings.Join(given, ", "), verb(given)))
		}
		if len(inEnv) > 0 {
			o.warnings = append(o.warnings, fmt.Sprintf("--sandbox ignores %s: purges go to an in-process fake Akamai", strings.Join(inEnv, ", ")))
		}
	}
	if o.pprof && o.httpAddr == "" {
		p.add("pprof", "needs --http-addr, which is empty (turned off)")
	}
	if o.budgetAccount != "" && !o.sharedBudget {
		p.add("budget-account", "applies only with --shared-budget")
	}
}
