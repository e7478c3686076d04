package handler

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/http"
	"strings"
	"time"

	"github.com/purgebus/purgebus/akamai"
	"github.com/purgebus/purgebus/budget"
)

// send purges a batch and hands every object's outcome to its tickets.
// paid says the budget already granted the first try's tokens.
func (l *lane) send(p *pending, paid bool) {
	objs := append([]string(nil), p.batch.Objects()...)
	l.purge(objs, paid, func(obj string, r *akamai.Result, err error) {
		for _, t := range p.tickets[obj] {
			t.w.set(t.i, r, err)
		}
	})
}

// settleFunc settles the outcome of one object.
type settleFunc func(obj string, r *akamai.Result, err error)

// purge sends objs and settles each through settle. Transient failures
// are retried with back-off up to MaxAttempts (see try). A 400/403 that
// blames an object of a request of many is narrowed down so that only the
// offending objects fail (see narrow). A 413 is split and resent. A 429
// from a bucket holding fewer tokens than the request carries is split to
// fit them.
func (l *lane) purge(objs []string, paid bool, settle settleFunc) {
	r, err := l.try(objs, paid)
	l.decide(objs, r, err, settle)
}

// decide settles objs after a try that ended with r and err.
func (l *lane) decide(objs []string, r *akamai.Result, err error, settle settleFunc) {
	var ae *akamai.Error
	var tooLarge *akamai.RequestTooLargeError
	switch {
	case err == nil:
		for _, o := range objs {
			settle(o, r, nil)
		}
	case len(objs) > 1 && objectRefusal(err):
		l.narrow(objs, err, settle)
	case len(objs) > 1 && (errors.As(err, &ae) && ae.HTTPStatus == http.StatusRequestEntityTooLarge || errors.As(err, &tooLarge)):
		// Akamai's 413, or the client's refusal to send more than its
		// caps allow (Config.MaxObjects below the coalescer's).
		l.purge(objs[:len(objs)/2], false, settle)
		l.purge(objs[len(objs)/2:], false, settle)
	case shrinkTo(err, len(objs)) > 0:
		// Akamai's bucket holds fewer tokens than the request needs:
		// send what fits first, the rest when its tokens are there.
		n := shrinkTo(err, len(objs))
		l.purge(objs[:n], false, settle)
		l.purge(objs[n:], false, settle)
	default:
		for _, o := range objs {
			settle(o, nil, err)
		}
	}
}

// narrow settles objs, which Akamai refused with err because of some of
// them. When err names the culprit, it fails and the rest is resent.
// Otherwise a binary search finds it: the first half is sent; if it
// passes, the culprit is in the second half, which need not be sent to
// know it fails; if it fails, the search goes on in it and the second
// half waits. Everything that waited is sent together at the end. One
// culprit among n costs ⌈log2 n⌉ requests for the search and one for the
// rest, instead of the one request that carried them all.
func (l *lane) narrow(objs []string, err error, settle settleFunc) {
	var later []string
	for len(objs) > 1 {
		if i := namedObject(objs, detailOf(err)); i >= 0 {
			settle(objs[i], nil, err)
			later = append(later, objs[:i]...)
			later = append(later, objs[i+1:]...)
			objs = nil
			break
		}
		a, b := objs[:len(objs)/2], objs[len(objs)/2:]
		r, aerr := l.try(a, false)
		switch {
		case aerr == nil:
			for _, o := range a {
				settle(o, r, nil)
			}
			objs = b
		case objectRefusal(aerr):
			later = append(later, b...)
			objs, err = a, aerr
		default:
			// Trouble of another kind: a's fate is decided as any
			// request's, and the culprit may be in either half.
			l.decide(a, r, aerr, settle)
			later = append(later, b...)
			objs = nil
		}
	}
	if len(objs) == 1 {
		settle(objs[0], nil, err)
	}
	if len(later) > 0 {
		l.purge(later, false, settle)
	}
}

// try sends objs until Akamai answers other than with a transient error,
// or MaxAttempts tries failed (then the error is ErrTransient). Every try
// but a paid first one waits for its tokens from the budget. A 429 that a
// smaller request would pass (see shrinkTo) returns at once.
func (l *lane) try(objs []string, paid bool) (*akamai.Result, error) {
	cfg := l.c.cfg
	for attempt := 1; ; attempt++ {
		if err := l.ready(len(objs), paid && attempt == 1); err != nil {
			return nil, err
		}
		r, err := l.request(objs, attempt)
		if err == nil || !transient(err) || shrinkTo(err, len(objs)) > 0 {
			return r, err
		}
		if attempt >= cfg.MaxAttempts || l.c.ctx.Err() != nil {
			return nil, fmt.Errorf("%w: %d attempts: %w", ErrTransient, attempt, err)
		}
		wait := cfg.Backoff(attempt)
		var ae *akamai.Error
		if errors.As(err, &ae) && ae.RateLimited() {
			switch {
			case cfg.Budget != nil && ae.Headers.Present():
				// The budget now holds Akamai's levels; ready waits
				// exactly until the tokens are there.
				wait = 0
			case ae.RetryAfter() > 0:
				wait = ae.RetryAfter()
			default:
				// Akamai advises 5 s when the answer does not say.
				wait = 4*time.Second + rand.N(2*time.Second)
			}
		}
		t := time.NewTimer(wait)
		select {
		case <-t.C:
		case <-l.c.ctx.Done():
			t.Stop()
		}
	}
}

// objectRefusal reports whether Akamai refused a request because of some
// of its objects (400 or 403, but not the gateway's refusal of the
// signature).
func objectRefusal(err error) bool {
	var ae *akamai.Error
	return errors.As(err, &ae) && !authFailure(ae) &&
		(ae.HTTPStatus == http.StatusBadRequest || ae.HTTPStatus == http.StatusForbidden)
}

// shrinkTo returns how many objects a request of n objects that err
// refused for want of tokens should carry instead, or 0 when splitting
// would not help.
func shrinkTo(err error, n int) int {
	var ae *akamai.Error
	if errors.As(err, &ae) && ae.RateLimited() && ae.RateLimitRemaining > 0 && ae.RateLimitRemaining < n {
		return ae.RateLimitRemaining
	}
	return 0
}

func detailOf(err error) string {
	var ae *akamai.Error
	if errors.As(err, &ae) {
		return ae.Detail
	}
	return ""
}

// ready waits until the circuit is closed and the budget grants the
// tokens of a request of n objects (unless paid), or the coalescer is
// abandoned, which is a transient failure.
func (l *lane) ready(n int, paid bool) error {
	ctx := l.c.ctx
	if c := l.c.cfg.Circuit; c != nil {
		if err := c.Wait(ctx); err != nil {
			return fmt.Errorf("%w: %w", ErrTransient, err)
		}
	}
	if b := l.c.cfg.Budget; b != nil && !paid {
		if err := budget.Wait(ctx, b, l.key.Type, n); err != nil {
			return fmt.Errorf("%w: waiting for rate-limit tokens: %w", ErrTransient, err)
		}
	}
	return nil
}

// request sends one Fast Purge request and logs it.
func (l *lane) request(objs []string, attempt int) (*akamai.Result, error) {
	ctx, cancel := context.WithTimeout(l.c.ctx, l.c.cfg.RequestTimeout)
	defer cancel()
	start := time.Now()
	r, err := l.c.purger.Purge(ctx, akamai.Request{Action: l.key.Action, Type: l.key.Type, Network: l.key.Network, Objects: objs})
	st := RequestStats{Key: l.key, Objects: len(objs), Latency: time.Since(start), Attempt: attempt, Err: err}
	log := l.c.cfg.Logger
	var ae *akamai.Error
	// Akamai's levels are as of when it handled the request, about half
	// a round trip ago.
	halfTrip := st.Latency / 2
	switch {
	case err == nil:
		if b := l.c.cfg.Budget; b != nil {
			b.Observe(l.key.Type, r.RateLimit.After(halfTrip))
		}
	case errors.As(err, &ae):
		if b := l.c.cfg.Budget; b != nil {
			b.Observe(l.key.Type, ae.Headers.After(halfTrip))
		}
		if c := l.c.cfg.Circuit; c != nil && authFailure(ae) {
			c.Trip(err)
		}
	}
	if err == nil {
		st.Status, st.PurgeID, st.SupportID, st.Bytes = r.HTTPStatus, r.PurgeID, r.SupportID, r.BodyBytes
		log.Info("purge accepted", "key", l.key.String(), "objects", st.Objects, "bytes", st.Bytes,
			"purge_id", r.PurgeID, "support_id", r.SupportID, "status", r.HTTPStatus,
			"estimated_seconds", r.EstimatedSeconds, "latency", st.Latency, "attempt", attempt)
	} else {
		st.Bytes = len(akamai.EncodeBody(l.key.Type, objs)) // failures are rare; re-encoding is cheap there
		if ae != nil {
			st.Status, st.SupportID = ae.HTTPStatus, ae.SupportID
		}
		log.Warn("purge refused", "key", l.key.String(), "objects", st.Objects, "bytes", st.Bytes,
			"status", st.Status, "support_id", st.SupportID, "latency", st.Latency, "attempt", attempt, "err", err)
	}
	if l.c.cfg.Observe != nil {
		l.c.cfg.Observe(st)
	}
	if err != nil && transient(err) {
		err = fmt.Errorf("%w: %w", ErrTransient, err)
	}
	return r, err
}

// transient reports whether retrying err later may succeed.
func transient(err error) bool {
	if errors.Is(err, ErrTransient) {
		return true
	}
	var ae *akamai.Error
	if errors.As(err, &ae) {
		// Authentication failures are wrong for every request; the events
		// must wait in JetStream until they are fixed, not fail.
		return ae.Temporary() || authFailure(ae)
	}
	var ie *akamai.InvalidObjectError
	if errors.As(err, &ie) {
		return false
	}
	// Requests the client refused to send: resending cannot help.
	var tooLarge *akamai.RequestTooLargeError
	if errors.As(err, &tooLarge) || errors.Is(err, akamai.ErrInvalidRequest) || errors.Is(err, akamai.ErrNoObjects) {
		return false
	}
	// Connection errors, timeouts, cancellations.
	return true
}

// authFailure reports whether Akamai's gateway refused the request's
// signature rather than its objects: 401, or the 400 "Invalid timestamp"
// it answers for a skewed clock (its problem type is under /-/pep-authn/).
// Bisecting such a 400 would fail every object of the batch.
func authFailure(ae *akamai.Error) bool {
	if ae.HTTPStatus == http.StatusUnauthorized {
		return true
	}
	return ae.HTTPStatus == http.StatusBadRequest &&
		(strings.Contains(ae.Type, "pep-authn") || strings.Contains(strings.ToLower(ae.Title), "timestamp"))
}

// namedObject returns the index of the object Akamai's detail names, or -1.
func namedObject(objs []string, detail string) int {
	detail = strings.TrimSpace(detail)
	if detail == "" {
		return -1
	}
	for i, o := range objs {
		if o == detail {
			return i
		}
	}
	// Else a whole word of the detail, as in "unauthorized cpcode 12345".
	for _, f := range strings.FieldsFunc(detail, func(r rune) bool { return strings.ContainsRune(" ,;\"'()[]", r) }) {
		for i, o := range objs {
			if o == f {
				return i
			}
		}
	}
	return -1
}
