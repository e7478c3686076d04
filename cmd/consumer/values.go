package main

import (
	"fmt"
	"math"
	"runtime/debug"
	"strconv"
	"strings"
	"time"
)

// autoDuration is a duration flag whose default depends on other flags
// (its usage says which): set records whether the command line or the
// environment gave it, and --help shows no default.
type autoDuration struct {
	d   time.Duration
	set bool
}

func (a *autoDuration) String() string {
	if a == nil || !a.set {
		return ""
	}
	return a.d.String()
}

func (a *autoDuration) Set(s string) error {
	d, err := time.ParseDuration(s)
	if err != nil {
		return err
	}
	a.d, a.set = d, true
	return nil
}

// byteSize is a flag's size in bytes: a number of bytes, or a number with
// one of GOMEMLIMIT's units (B, KiB, MiB, GiB, TiB). set records whether
// the command line or the environment gave it; auto marks a flag whose
// default depends on other flags (its usage says which), shown as no
// default in --help.
type byteSize struct {
	n         int64
	set, auto bool
}

var sizeUnits = []struct {
	suffix string
	shift  uint
}{{"TiB", 40}, {"GiB", 30}, {"MiB", 20}, {"KiB", 10}, {"B", 0}}

func (b *byteSize) String() string {
	if b == nil || b.auto && !b.set {
		return ""
	}
	return formatSize(b.n)
}

func (b *byteSize) Set(s string) error {
	n, err := parseSize(s)
	if err != nil {
		return err
	}
	b.n, b.set = n, true
	return nil
}

// parseSize reads "16777216", "16MiB" or "1.5GiB".
func parseSize(s string) (int64, error) {
	s = strings.TrimSpace(s)
	if n, err := strconv.ParseInt(s, 10, 64); err == nil {
		return n, nil
	}
	for _, u := range sizeUnits {
		num, ok := strings.CutSuffix(s, u.suffix)
		if !ok {
			continue
		}
		f, err := strconv.ParseFloat(strings.TrimSpace(num), 64)
		if err != nil || math.IsNaN(f) || math.IsInf(f, 0) {
			break
		}
		v := f * float64(uint64(1)<<u.shift)
		if v > math.MaxInt64 || v < math.MinInt64 {
			return 0, fmt.Errorf("size %q is too large", s)
		}
		return int64(v), nil
	}
	return 0, fmt.Errorf("size %q: want a number of bytes, or one with a unit: B, KiB, MiB, GiB or TiB", s)
}

// formatSize writes n with the largest unit that divides it.
func formatSize(n int64) string {
	for _, u := range sizeUnits {
		if u.shift > 0 && n != 0 && n%(1<<u.shift) == 0 {
			return strconv.FormatInt(n>>u.shift, 10) + u.suffix
		}
	}
	return strconv.FormatInt(n, 10)
}

// defaultMemoryLimit is --memory-limit's default. With 1,000 events in
// flight the consumer's live heap is some 50 MiB while it drains a
// backlog, whatever the backlog's size: nats-server's block buffers
// (4 MiB each, up to seven at once), the duplicate window's IDs, the
// events in flight and their goroutines. Without a limit the Go runtime
// lets the heap grow to twice the live heap before it collects, so any
// difference shows twice in the resident size (202 MiB draining
// 1,000,000 events); with the limit it collects more often instead, and
// the resident size stays near the limit plus the program's code (some
// 19 MiB): 92 MiB draining 1,000,000 events, 82 MiB draining 10,000. The
// price is CPU while the live heap is near the limit: an unpaced drain
// ran at 5,300 events/s instead of 11,400 (Akamai allows 200 URLs/s). More
// events in flight, or larger ones, need a higher limit; it is soft, so
// a live heap above it costs CPU (the runtime spends up to half of it
// collecting), never a crash.
const defaultMemoryLimit = 72 << 20

// setMemoryLimit is debug.SetMemoryLimit; the tests replace it, since
// run sets the limit of the test binary.
var setMemoryLimit = debug.SetMemoryLimit

// memoryLimit resolves the Go runtime's soft memory limit: --memory-limit
// when the command line or PURGEBUS_MEMORY_LIMIT set it, else the
// runtime's own when GOMEMLIMIT is set, else the default. ok is false
// when the runtime's setting is to be left alone; 0 turns the limit off.
func (o *options) memoryLimit() (limit int64, ok bool) {
	if !o.memoryLimitFlag.set && o.gomemlimit != "" {
		return 0, false
	}
	return o.memoryLimitFlag.n, true
}

// memoryLimitView describes the limit for --print-config and the log.
func (o *options) memoryLimitView() string {
	n, ok := o.memoryLimit()
	switch {
	case !ok:
		return "GOMEMLIMIT=" + o.gomemlimit
	case n == 0:
		return "off"
	}
	return formatSize(n)
}

// applyMemoryLimit sets the soft memory limit, unless GOMEMLIMIT already
// did.
func (o *options) applyMemoryLimit() {
	n, ok := o.memoryLimit()
	switch {
	case !ok:
	case n == 0:
		setMemoryLimit(math.MaxInt64) // the runtime's "no limit"
	default:
		setMemoryLimit(n)
	}
}
