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

// purge sends objs and settles each through settle. Transient failures
// are retried with back-off up to MaxAttempts. A permanent 400/403 on a
// request of many objects is narrowed down: the object Akamai names in
// its detail is failed and the rest resent; without a name, the batch is
// bisected, so only the offending objects fail. A 413 is split and resent.
// A 429 consumes nothing at Akamai: the request waits as Akamai says and,
// when Akamai has fewer tokens than it carries, is split to fit them.
// Every try but a paid first one waits for its tokens from the budget.
func (l *lane) purge(objs []string, paid bool, settle func(string, *akamai.Result, error)) {
	cfg := l.c.cfg
	for attempt := 1; ; attempt++ {
		if err := l.ready(len(objs), paid && attempt == 1); err != nil {
			for _, o := range objs {
				settle(o, nil, err)
			}
			return
		}
		r, err := l.request(objs, attempt)
		if err == nil {
			for _, o := range objs {
				settle(o, r, nil)
			}
			return
		}
		var ae *akamai.Error
		var tooLarge *akamai.RequestTooLargeError
		switch {
		case errors.As(err, &ae) && !authFailure(ae) && (ae.HTTPStatus == http.StatusBadRequest || ae.HTTPStatus == http.StatusForbidden) && len(objs) > 1:
			if i := namedObject(objs, ae.Detail); i >= 0 {
				settle(objs[i], nil, err)
				rest := append(append([]string(nil), objs[:i]...), objs[i+1:]...)
				l.purge(rest, false, settle)
				return
			}
			l.purge(objs[:len(objs)/2], false, settle)
			l.purge(objs[len(objs)/2:], false, settle)
			return
		case (errors.As(err, &ae) && ae.HTTPStatus == http.StatusRequestEntityTooLarge || errors.As(err, &tooLarge)) && len(objs) > 1:
			// Akamai's 413, or the client's refusal to send more than its
			// caps allow (Config.MaxObjects below the coalescer's).
			l.purge(objs[:len(objs)/2], false, settle)
			l.purge(objs[len(objs)/2:], false, settle)
			return
		case errors.As(err, &ae) && ae.RateLimited() && ae.RateLimitRemaining > 0 && ae.RateLimitRemaining < len(objs):
			// Akamai's bucket holds fewer tokens than the request needs:
			// send what fits first, the rest when its tokens are there.
			l.purge(objs[:ae.RateLimitRemaining], false, settle)
			l.purge(objs[ae.RateLimitRemaining:], false, settle)
			return
		case transient(err):
			if attempt >= cfg.MaxAttempts || l.c.ctx.Err() != nil {
				terr := fmt.Errorf("%w: %d attempts: %w", ErrTransient, attempt, err)
				for _, o := range objs {
					settle(o, nil, terr)
				}
				return
			}
			wait := cfg.Backoff(attempt)
			if ae != nil && ae.RateLimited() {
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
			select {
			case <-time.After(wait):
			case <-l.c.ctx.Done():
			}
		default:
			for _, o := range objs {
				settle(o, nil, err)
			}
			return
		}
	}
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
	switch {
	case err == nil:
		if b := l.c.cfg.Budget; b != nil {
			b.Observe(l.key.Type, r.RateLimit)
		}
	case errors.As(err, &ae):
		if b := l.c.cfg.Budget; b != nil {
			b.Observe(l.key.Type, ae.Headers)
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
