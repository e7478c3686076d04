package bus

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"strings"
	"sync"

	"github.com/nats-io/nats.go"
)

// ErrPermission matches (errors.Is) every *PermissionError: the NATS
// server refused a publish or a subscription for lack of permission. It is
// never transient: the same request is refused again until an operator
// changes the user's permissions.
var ErrPermission = errors.New("bus: NATS permission denied")

// PermissionError is a publish or subscription that the NATS server
// refused for lack of permission. The server says so asynchronously (an
// -ERR on the connection, which nats.go hands to its error handler), while
// the refused request itself is dropped: a JetStream API call then waits
// for an answer that never comes. Permissions turns the -ERR into this
// error, returned by the call that waited.
type PermissionError struct {
	// Op is "publish" or "subscribe".
	Op string
	// Subject is the refused subject, such as
	// "$JS.API.STREAM.CREATE.CONTENT".
	Subject string
	// Conn names the connection (its nats.Name).
	Conn string
}

func (e *PermissionError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "NATS permission denied: %s to %q", e.Op, e.Subject)
	if what := describeSubject(e.Op, e.Subject); what != "" {
		b.WriteString(" (" + what + ")")
	}
	if e.Conn != "" {
		b.WriteString(" on connection " + e.Conn)
	}
	b.WriteString("; grant the user this permission (see docs/nats-permissions.md)")
	return b.String()
}

// Is makes errors.Is(err, ErrPermission) and errors.Is(err,
// nats.ErrPermissionViolation) hold.
func (e *PermissionError) Is(target error) bool {
	return target == ErrPermission || target == nats.ErrPermissionViolation
}

// permissionRe picks the operation and subject out of the server's
// "Permissions Violation for Publish to "x"" and "... for Subscription to
// "x" using queue "q"".
var permissionRe = regexp.MustCompile(`(?i)permissions violation for (publish|subscription) to "([^"]+)"`)

// ParsePermissionError returns the *PermissionError that err, an error
// nats.go handed to a connection's error handler, reports; ok is false
// for any other error.
func ParsePermissionError(conn string, err error) (_ *PermissionError, ok bool) {
	if err == nil || !errors.Is(err, nats.ErrPermissionViolation) {
		return nil, false
	}
	m := permissionRe.FindStringSubmatch(err.Error())
	if m == nil {
		return &PermissionError{Op: "request", Subject: "(not named by the server)", Conn: conn}, true
	}
	op := "publish"
	if strings.EqualFold(m[1], "subscription") {
		op = "subscribe"
	}
	return &PermissionError{Op: op, Subject: m[2], Conn: conn}, true
}

// describeSubject says which JetStream operation a refused subject is, for
// the subjects purgebus uses.
func describeSubject(op, subject string) string {
	t := strings.Split(subject, ".")
	at := func(i int) string {
		if i < len(t) {
			return t[i]
		}
		return "?"
	}
	if op == "subscribe" {
		if strings.Contains(at(0), "INBOX") {
			return "the connection's reply inbox: allow subscribing to its inbox prefix"
		}
		return ""
	}
	switch {
	case at(0) == "$KV":
		return fmt.Sprintf("write to key-value bucket %s", at(1))
	case at(0) == "$JS" && at(1) == "ACK":
		return fmt.Sprintf("acknowledge messages of consumer %s on stream %s", at(3), at(2))
	case at(0) == "$JS" && at(1) == "FC":
		return "JetStream flow control"
	case at(0) != "$JS" || at(1) != "API":
		return ""
	}
	api := strings.Join(t[2:], ".")
	for _, c := range []struct{ prefix, format string }{
		{"STREAM.CREATE.", "JetStream API: create stream %[1]s"},
		{"STREAM.UPDATE.", "JetStream API: update stream %[1]s"},
		{"STREAM.INFO.", "JetStream API: look up stream %[1]s"},
		{"STREAM.DELETE.", "JetStream API: delete stream %[1]s"},
		{"STREAM.PURGE.", "JetStream API: purge stream %[1]s"},
		{"STREAM.MSG.GET.", "JetStream API: get a message of stream %[1]s"},
		{"DIRECT.GET.", "JetStream API: direct get from stream %[1]s"},
		{"CONSUMER.CREATE.", "JetStream API: create consumer %[2]s on stream %[1]s"},
		{"CONSUMER.DURABLE.CREATE.", "JetStream API: create consumer %[2]s on stream %[1]s"},
		{"CONSUMER.INFO.", "JetStream API: look up consumer %[2]s on stream %[1]s"},
		{"CONSUMER.DELETE.", "JetStream API: delete consumer %[2]s on stream %[1]s"},
		{"CONSUMER.MSG.NEXT.", "JetStream API: pull messages from consumer %[2]s on stream %[1]s"},
	} {
		if rest, ok := strings.CutPrefix(api, c.prefix); ok {
			stream, name, _ := strings.Cut(rest, ".")
			name, _, _ = strings.Cut(name, ".")
			return fmt.Sprintf(c.format, stream, name)
		}
	}
	switch api {
	case "STREAM.NAMES", "STREAM.LIST":
		return "JetStream API: list streams"
	case "INFO":
		return "JetStream API: account info"
	}
	return "JetStream API " + api
}

// Permissions collects the permission violations that NATS servers report
// on a set of connections (ConnectConfig.Permissions), and fails the calls
// waiting on them: a refused JetStream API request is dropped by the
// server and would otherwise wait for its timeout, which looks like a
// cluster that does not answer (transient) instead of the refusal it is
// (final). The zero value is ready to use.
type Permissions struct {
	mu        sync.Mutex
	first     *PermissionError
	done      chan struct{} // closed at the first violation
	waiters   map[*permWaiter]struct{}
	tolerated map[string]bool
	ignored   []string // subject prefixes
}

// Tolerate makes refusals of subject (exactly) end the calls guarded at
// the time, like any refusal, without recording them: Err, Done and later
// guards ignore them. It is for optional requests that some users are
// not meant to make, such as "$JS.API.INFO" (the account's JetStream
// information) for a publisher.
func (p *Permissions) Tolerate(subject string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.tolerated == nil {
		p.tolerated = map[string]bool{}
	}
	p.tolerated[subject] = true
}

// Ignore makes refusals of subjects that start with prefix neither
// recorded nor end the calls guarded: they are for optional requests
// whose caller bounds its own wait and then does without, such as the
// reads of the content stream with which events.Publisher checks a reused
// event ID ("$JS.API.STREAM.INFO." and "$JS.API.STREAM.MSG.GET."), which a
// publisher may not make.
func (p *Permissions) Ignore(prefix string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.ignored = append(p.ignored, prefix)
}

type permWaiter struct{ cancel context.CancelCauseFunc }

// Report records err if it is a permission violation on the connection
// named conn, and returns the *PermissionError, or nil for any other
// error. Every context from Guard is cancelled with it.
func (p *Permissions) Report(conn string, err error) *PermissionError {
	pe, ok := ParsePermissionError(conn, err)
	if !ok {
		return nil
	}
	p.mu.Lock()
	for _, prefix := range p.ignored {
		if strings.HasPrefix(pe.Subject, prefix) {
			p.mu.Unlock()
			return pe
		}
	}
	p.init()
	waiters := p.waiters
	p.waiters = map[*permWaiter]struct{}{}
	if p.first == nil && !p.tolerated[pe.Subject] {
		p.first = pe
		close(p.done)
	}
	p.mu.Unlock()
	for w := range waiters {
		w.cancel(pe)
	}
	return pe
}

func (p *Permissions) init() {
	if p.done == nil {
		p.done = make(chan struct{})
		p.waiters = map[*permWaiter]struct{}{}
	}
}

// Err returns the first violation reported, or nil.
func (p *Permissions) Err() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.first == nil {
		return nil
	}
	return p.first
}

// Done is closed once a violation was reported.
func (p *Permissions) Done() <-chan struct{} {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.init()
	return p.done
}

// Guard returns a context that is cancelled, with the *PermissionError as
// its cause, when a violation is reported while it lives (at once if one
// was reported already), so that a call waiting on a refused request ends
// then. Pass the call's error through Explain.
func (p *Permissions) Guard(ctx context.Context) (context.Context, context.CancelFunc) {
	gctx, cancel := context.WithCancelCause(ctx)
	w := &permWaiter{cancel: cancel}
	p.mu.Lock()
	p.init()
	if p.first != nil {
		p.mu.Unlock()
		cancel(p.first)
		return gctx, func() {}
	}
	p.waiters[w] = struct{}{}
	p.mu.Unlock()
	return gctx, func() {
		p.mu.Lock()
		delete(p.waiters, w)
		p.mu.Unlock()
		cancel(context.Canceled)
	}
}

// Explain returns the *PermissionError that cancelled ctx (a context from
// Guard), wrapped with what failed, in place of err; else err as it is.
func Explain(ctx context.Context, err error) error {
	if err == nil {
		return nil
	}
	var pe *PermissionError
	if errors.As(context.Cause(ctx), &pe) {
		return WithRefusal(err, pe)
	}
	return err
}

// WithRefusal returns err, which a refusal interrupted, as an error that
// wraps the refusal pe (a *PermissionError) and keeps err's description
// of what was interrupted, without the "context canceled" that the
// interruption added to it. An err that wraps a *PermissionError already
// is returned as it is.
func WithRefusal(err, pe error) error {
	var already *PermissionError
	if err == nil || errors.As(err, &already) {
		return err
	}
	what := stripContextErr(err)
	if what == context.Canceled.Error() {
		return pe
	}
	return fmt.Errorf("%s: %w", what, pe)
}

// Guarded calls op with a context from p's Guard and returns its error
// through Explain: op fails as soon as the server refuses one of its
// requests, with an error naming the refused subject.
func (p *Permissions) Guarded(ctx context.Context, op func(context.Context) error) error {
	gctx, cancel := p.Guard(ctx)
	defer cancel()
	return Explain(gctx, op(gctx))
}

// stripContextErr drops the "context canceled" that the cancelled call
// added to its own description.
func stripContextErr(err error) string {
	s := err.Error()
	for _, c := range []string{": nats: " + context.Canceled.Error(), ": " + context.Canceled.Error()} {
		s = strings.ReplaceAll(s, c, "")
	}
	return s
}
