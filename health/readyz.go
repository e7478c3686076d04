package health

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"regexp"
	"strings"
	"sync"
	"time"
	"unicode/utf8"
)

// ReadyResponse is the JSON body of /readyz.
type ReadyResponse struct {
	// Status is "ok" when every check passed, else "unavailable".
	Status string        `json:"status"`
	Checks []CheckResult `json:"checks"`
}

// CheckResult is one check's part of /readyz's answer.
type CheckResult struct {
	Name string `json:"name"`
	// Status is "ok" or "error".
	Status string `json:"status"`
	// Message is the error's text when Status is "error".
	Message string `json:"message,omitempty"`
	// DurationSeconds is how long the probe waited for the check.
	DurationSeconds float64 `json:"duration_seconds"`
}

type readiness struct {
	checks []*runner
}

func newReadiness(checks []Check, timeout time.Duration, log *slog.Logger) (*readiness, error) {
	rd := &readiness{}
	seen := map[string]bool{}
	for _, c := range checks {
		switch {
		case c.Name == "":
			return nil, errors.New("health: a check has no name")
		case c.Func == nil:
			return nil, fmt.Errorf("health: check %q has no Func", c.Name)
		case seen[c.Name]:
			return nil, fmt.Errorf("health: two checks are named %q", c.Name)
		}
		seen[c.Name] = true
		rd.checks = append(rd.checks, &runner{check: c, timeout: timeout, log: log})
	}
	return rd, nil
}

func (rd *readiness) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	resp := ReadyResponse{Status: "ok", Checks: make([]CheckResult, len(rd.checks))}
	var wg sync.WaitGroup
	for i, c := range rd.checks {
		wg.Go(func() { resp.Checks[i] = c.probe(r.Context()) })
	}
	wg.Wait()
	status := http.StatusOK
	for _, c := range resp.Checks {
		if c.Status != "ok" {
			resp.Status, status = "unavailable", http.StatusServiceUnavailable
		}
	}
	writeJSON(w, status, resp)
}

// runner runs one check, at most one run at a time: probes that arrive
// while it runs wait for that run.
type runner struct {
	check   Check
	timeout time.Duration
	log     *slog.Logger

	mu     sync.Mutex
	cur    *run
	failed *bool // the last outcome, to log changes only
}

type run struct {
	done chan struct{}
	err  error
}

// probe waits at most the timeout for a run of the check.
func (c *runner) probe(ctx context.Context) CheckResult {
	start := time.Now()
	res := CheckResult{Name: c.check.Name, Status: "ok"}
	c.mu.Lock()
	cur := c.cur
	if cur == nil {
		cur = &run{done: make(chan struct{})}
		c.cur = cur
		go c.run(cur)
	}
	c.mu.Unlock()

	timer := time.NewTimer(c.timeout)
	defer timer.Stop()
	var err error
	aborted := false // the probe itself ended: it says nothing of the check
	select {
	case <-cur.done:
		err = cur.err
	case <-timer.C:
		err = fmt.Errorf("timed out after %s", c.timeout)
	case <-ctx.Done():
		err, aborted = ctx.Err(), true
	}
	res.DurationSeconds = time.Since(start).Seconds()
	if err != nil {
		res.Status, res.Message = "error", sanitize(err.Error())
	}
	if !aborted {
		c.logChange(err, res.Message)
	}
	return res
}

// run calls the check with its own deadline, detached from the probe
// that started it, since other probes may share the run.
func (c *runner) run(r *run) {
	ctx, cancel := context.WithTimeout(context.Background(), c.timeout)
	defer cancel()
	defer func() {
		if p := recover(); p != nil {
			c.log.Error("readiness check panicked", "check", c.check.Name, "panic", fmt.Sprint(p))
			r.err = errors.New("check panicked")
		}
		c.mu.Lock()
		c.cur = nil
		c.mu.Unlock()
		close(r.done)
	}()
	r.err = c.check.Func(ctx)
}

func (c *runner) logChange(err error, msg string) {
	failed := err != nil
	c.mu.Lock()
	changed := c.failed == nil || *c.failed != failed
	c.failed = &failed
	c.mu.Unlock()
	switch {
	case !changed:
	case failed:
		c.log.Warn("readiness check failing", "check", c.check.Name, "err", msg)
	default:
		c.log.Info("readiness check passing", "check", c.check.Name)
	}
}

// MaxMessageBytes caps the message of a failing check in /readyz.
const MaxMessageBytes = 256

var userinfo = regexp.MustCompile(`([A-Za-z][A-Za-z0-9+.-]*://)[^/?#@\s]+@`)

// sanitize masks user:password@ in URLs, puts the message on one line
// and caps its length.
func sanitize(msg string) string {
	msg = userinfo.ReplaceAllString(msg, "${1}REDACTED@")
	msg = strings.Join(strings.Fields(msg), " ")
	if len(msg) > MaxMessageBytes {
		cut := MaxMessageBytes
		for cut > 0 && !utf8.RuneStart(msg[cut]) {
			cut--
		}
		msg = msg[:cut] + "…"
	}
	return msg
}
