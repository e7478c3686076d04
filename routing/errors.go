package routing

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/purgebus/purgebus/akamai"
)

// Reason says why objects are not purged. It is an error, so that
// errors.Is(err, routing.QuotaExceeded) works on any error from a Decision.
type Reason string

// The reasons for refusing objects. Their values are stable codes, fit for
// logs and metrics.
const (
	// NoRoute: no route names an account for the object's host, tag or CP
	// code. Permanent.
	NoRoute Reason = "no_route"
	// NotAllowed: the object's host, tag or CP code is not on the
	// allow-list. Permanent.
	NotAllowed Reason = "not_allowed"
	// QuotaExceeded: the event's source is over its quota. Permanent when
	// the event could not pass within quotas.max_delay (or over_quota is
	// reject); otherwise the event is deferred (Decision.Retry).
	QuotaExceeded Reason = "quota_exceeded"
	// TooManyObjects: the event names more than max_objects_per_event
	// objects. Permanent, for the whole event.
	TooManyObjects Reason = "too_many_objects"
)

// Error returns the reason code.
func (r Reason) Error() string { return string(r) }

// Title returns the reason as a short human title, used as the Title of
// the failures of a result.
func (r Reason) Title() string {
	switch r {
	case NoRoute:
		return "no route"
	case NotAllowed:
		return "not allowed"
	case QuotaExceeded:
		return "quota exceeded"
	case TooManyObjects:
		return "too many objects"
	}
	return strings.ReplaceAll(string(r), "_", " ")
}

// Error reports objects of one type refused for one reason, or, when
// RetryAfter is positive, a whole event deferred because its source is over
// quota. It unwraps to its Reason.
type Error struct {
	Reason  Reason
	Type    akamai.Type // "" for a deferred event
	Objects []string    // nil for a deferred event
	Message string      // e.g. `no route for host "www.example.net"`
	// RetryAfter is positive only for a deferred event: it may pass after
	// that long.
	RetryAfter time.Duration
}

func (e *Error) Error() string {
	var b strings.Builder
	b.WriteString("routing: ")
	b.WriteString(e.Message)
	switch n := len(e.Objects); {
	case n == 1:
		fmt.Fprintf(&b, " (%s %s)", e.Type, strconv.Quote(e.Objects[0]))
	case n > 1:
		fmt.Fprintf(&b, " (%d %s objects)", n, e.Type)
	}
	return b.String()
}

// Unwrap returns the Reason.
func (e *Error) Unwrap() error { return e.Reason }

// Retryable reports whether the event may pass later: it is over its
// source's quota and was deferred rather than refused.
func (e *Error) Retryable() bool { return e.RetryAfter > 0 }

// ConfigError reports every problem of a configuration at once.
type ConfigError struct {
	// File is the configuration file, "" when the configuration did not
	// come from Load.
	File     string
	Problems []Problem
	err      error // the YAML decoder's error, if any
}

// Problem is one problem of a configuration.
type Problem struct {
	// Line is the 1-based line in the YAML source, 0 when unknown (as for
	// a Config built in Go).
	Line int
	// Path locates the setting, e.g. "routes[1].hosts[0]"; "" for syntax
	// errors.
	Path    string
	Message string
}

func (p Problem) String() string {
	var b strings.Builder
	if p.Line > 0 {
		fmt.Fprintf(&b, "line %d: ", p.Line)
	}
	if p.Path != "" {
		b.WriteString(p.Path)
		b.WriteString(": ")
	}
	b.WriteString(p.Message)
	return b.String()
}

func (e *ConfigError) Error() string {
	var b strings.Builder
	b.WriteString("routing: ")
	if e.File != "" {
		b.WriteString(e.File)
		b.WriteString(": ")
	}
	if len(e.Problems) == 1 {
		b.WriteString(e.Problems[0].String())
		return b.String()
	}
	fmt.Fprintf(&b, "%d problems:", len(e.Problems))
	for _, p := range e.Problems {
		b.WriteString("\n  ")
		b.WriteString(p.String())
	}
	return b.String()
}

// Unwrap returns the YAML decoder's error, if the problems come from it.
func (e *ConfigError) Unwrap() error { return e.err }
