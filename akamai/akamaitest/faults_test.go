package akamaitest

import (
	"context"
	"errors"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/purgebus/purgebus/akamai"
)

func TestFailNext(t *testing.T) {
	h := newHarness(t, Options{})
	const path = "/ccu/v3/invalidate/url"
	b := urlBody(5)
	cases := []struct {
		status int
		title  string
		keys   string
	}{
		{500, "internal error", "describedBy,detail,httpStatus,supportId,title"},
		{503, "service unavailable", "describedBy,detail,httpStatus,supportId,title"},
		{504, "gateway timeout", "describedBy,detail,httpStatus,supportId,title"},
		{507, "insufficient storage", "describedBy,detail,httpStatus,supportId,title"},
		{400, "bad request", "describedBy,detail,httpStatus,supportId,title"},
		{403, "unauthorized arl", "describedBy,detail,httpStatus,supportId,title"},
		{413, "request entity too large", "describedBy,detail,httpStatus,supportId,title"},
		{429, "Rate Limit exceeded", "describedBy,detail,httpStatus,rateLimit,rateLimitCurrentRequestSize,rateLimitRemaining,supportId,title"},
		{401, "Not authorized", "detail,instance,method,requestId,requestTime,status,title,type"},
	}
	for _, c := range cases {
		h.s.FailNext(1, c.status)
	}
	for _, c := range cases {
		r := h.post(path, b)
		mustStatus(t, r, c.status)
		if got := keys(r.object(t)); got != c.keys || r.str(t, "title") != c.title {
			t.Errorf("%d: %s", c.status, r.body)
		}
		if r.header.Get("Content-Type") != "application/problem+json" || r.header.Get(akamai.HeaderRemainingObjects) != "10000" {
			t.Errorf("%d: headers %v", c.status, r.header)
		}
		switch c.status {
		case 429:
			if r.num(t, "rateLimit") != 100 || r.num(t, "rateLimitRemaining") != 0 || r.num(t, "rateLimitCurrentRequestSize") != 1 ||
				r.header.Get(akamai.HeaderRemaining) != "0" || r.header.Get(akamai.HeaderSecondsToRefresh) != "0.02" {
				t.Errorf("injected 429: %s %v", r.body, r.header)
			}
		case 403:
			if r.str(t, "detail") != urls(1)[0] {
				t.Errorf("injected 403 detail %s", r.body)
			}
		}
	}
	mustStatus(t, h.post(path, b), 201)
	st := h.s.Stats()
	if st.Faults != len(cases) || st.Purges != 1 || st.RateLimited != 0 || st.Unsigned != 0 {
		t.Errorf("stats %+v", st)
	}
	if tok := h.s.Tokens(""); tok.Requests != 99 || tok.URL != 9995 {
		t.Errorf("injected faults took tokens: %+v", tok)
	}
	recs := h.s.Requests()
	if !recs[0].Fault || recs[len(recs)-1].Fault || recs[0].Status != 500 || recs[0].Objects != 5 {
		t.Errorf("records %+v", recs)
	}
}

func TestFaultsSkipInvalidRequests(t *testing.T) {
	h := newHarness(t, Options{})
	h.s.FailNext(1, 503)
	mustStatus(t, h.post("/ccu/v3/invalidate/url", urlBody(1), unsigned()), 401)
	mustStatus(t, h.post("/ccu/v3/invalidate/url", jsonBody(`{"objects":[]}`)), 400)
	mustStatus(t, h.post("/ccu/v3/rate-limit-status/url", nil), 201)
	mustStatus(t, h.post("/ccu/v3/invalidate/url", urlBody(1)), 503)
	mustStatus(t, h.post("/ccu/v3/invalidate/url", urlBody(1)), 201)
}

func TestFaultValidation(t *testing.T) {
	h := newHarness(t, Options{})
	for _, f := range []func(){
		func() { h.s.FailNext(1, 201) },
		func() { h.s.FailNext(1, 600) },
		func() { h.s.InjectNext(1, Fault{Delay: -1}) },
		func() { h.s.SetFaultRate(0.5, 1, Fault{Status: 302}) },
	} {
		func() {
			defer func() {
				if recover() == nil {
					t.Error("no panic for an invalid fault")
				}
			}()
			f()
		}()
	}
}

func TestHangNext(t *testing.T) {
	h := newHarness(t, Options{})
	h.s.HangNext(1)
	start := time.Now()
	r := h.post("/ccu/v3/invalidate/url", urlBody(1), timeout(200*time.Millisecond))
	if r.err == nil || !errors.Is(r.err, context.DeadlineExceeded) && !strings.Contains(r.err.Error(), "Timeout") {
		t.Fatalf("hung request: %v %d %s", r.err, r.status, r.body)
	}
	if d := time.Since(start); d < 200*time.Millisecond {
		t.Errorf("answered after %v", d)
	}
	mustStatus(t, h.post("/ccu/v3/invalidate/url", urlBody(1)), 201)
	waitFor(t, func() bool { return h.s.Stats().ByStatus[0] == 1 })
	if len(h.s.Purges()) != 1 || h.s.Tokens("").Requests != 99 {
		t.Error("a hung request was purged or took tokens")
	}

	// ReleaseHangs drops hanging connections without an answer.
	h.s.HangNext(3)
	var wg sync.WaitGroup
	errs := make(chan error, 3)
	for range 3 {
		wg.Go(func() {
			r := h.post("/ccu/v3/invalidate/url", urlBody(1))
			errs <- r.err
		})
	}
	waitFor(t, func() bool { return h.s.Stats().Faults == 4 })
	h.s.ReleaseHangs()
	wg.Wait()
	close(errs)
	for err := range errs {
		if err == nil {
			t.Error("a released request got an answer")
		}
	}
}

func TestCloseEndsHangs(t *testing.T) {
	clock := newFakeClock()
	s := NewServer(Options{Now: clock.Now})
	h := &harness{t: t, s: s, clock: clock}
	s.HangNext(1)
	done := make(chan *response)
	go func() { done <- h.post("/ccu/v3/invalidate/url", urlBody(1)) }()
	waitFor(t, func() bool { return s.Stats().Faults == 1 })
	closed := make(chan struct{})
	go func() { s.Close(); close(closed) }()
	select {
	case <-closed:
	case <-time.After(5 * time.Second):
		t.Fatal("Close blocked on a hung request")
	}
	if r := <-done; r.err == nil {
		t.Errorf("hung request answered %d", r.status)
	}
	s.Close() // twice is fine
}

func TestLatency(t *testing.T) {
	h := newHarness(t, Options{})
	h.s.SetLatency(300 * time.Millisecond)
	start := time.Now()
	mustStatus(t, h.post("/ccu/v3/invalidate/url", urlBody(1)), 201)
	mustStatus(t, h.post("/ccu/v3/invalidate/url", urlBody(1), unsigned()), 401)
	if d := time.Since(start); d < 600*time.Millisecond {
		t.Errorf("two answers in %v with 300 ms latency", d)
	}
	// A client that gives up during the latency: the purge stands.
	r := h.post("/ccu/v3/invalidate/url", urlBody(1), timeout(30*time.Millisecond))
	if r.err == nil {
		t.Fatal("answered within the latency")
	}
	waitFor(t, func() bool { return len(h.s.Purges()) == 2 })
	h.s.SetLatency(0)
	start = time.Now()
	mustStatus(t, h.post("/ccu/v3/invalidate/url", urlBody(1)), 201)
	if d := time.Since(start); d >= 300*time.Millisecond {
		t.Errorf("latency 0 still slow: %v", d)
	}
}

func TestAcceptedButAnswerLost(t *testing.T) {
	h := newHarness(t, Options{})
	h.s.InjectNext(1, Fault{Status: 504, Accept: true})
	h.s.InjectNext(1, Fault{Hang: true, Accept: true})
	h.s.InjectNext(1, Fault{Delay: 50 * time.Millisecond})
	r := h.post("/ccu/v3/invalidate/url", urlBody(3))
	mustStatus(t, r, 504)
	if r.header.Get(akamai.HeaderRemainingObjects) != "9997" {
		t.Errorf("headers %v", r.header)
	}
	if r := h.post("/ccu/v3/invalidate/url", urlBody(3), timeout(100*time.Millisecond)); r.err == nil {
		t.Fatalf("hang answered %d", r.status)
	}
	start := time.Now()
	mustStatus(t, h.post("/ccu/v3/invalidate/url", urlBody(3)), 201)
	if time.Since(start) < 50*time.Millisecond {
		t.Error("no delay")
	}
	waitFor(t, func() bool { return len(h.s.Purges()) == 3 })
	ps := h.s.Purges()
	if !ps[0].AnswerLost || !ps[1].AnswerLost || ps[2].AnswerLost {
		t.Errorf("purges %+v", ps)
	}
	if tok := h.s.Tokens(""); tok.Requests != 97 || tok.URL != 9991 {
		t.Errorf("tokens %+v", tok)
	}
	recs := h.s.Requests()
	if recs[0].PurgeID != ps[0].ID || recs[0].Status != 504 || !recs[0].Fault {
		t.Errorf("record %+v", recs[0])
	}
}

func TestFaultFunc(t *testing.T) {
	h := newHarness(t, Options{})
	poison := urls(3)[2]
	h.s.SetFaultFunc(func(r *http.Request, p PurgeRequest) (Fault, bool) {
		if r.Method != http.MethodPost || p.Type != akamai.TypeURL || p.Network != akamai.NetworkStaging {
			return Fault{}, false
		}
		return Fault{Status: 500}, slices.Contains(p.Objects, poison)
	})
	mustStatus(t, h.post("/ccu/v3/invalidate/url/staging", urlBody(3)), 500)
	mustStatus(t, h.post("/ccu/v3/invalidate/url/staging", urlBody(2)), 201)
	mustStatus(t, h.post("/ccu/v3/invalidate/url", urlBody(3)), 201)
	h.s.SetFaultFunc(nil)
	mustStatus(t, h.post("/ccu/v3/invalidate/url/staging", urlBody(3)), 201)
}

func TestFaultRate(t *testing.T) {
	run := func(seed int64) []int {
		h := newHarness(t, Options{Buckets: BucketConfig{Disabled: true}})
		h.s.SetFaultRate(0.3, seed, Fault{Status: 500}, Fault{Status: 503}, Fault{Status: 429})
		statuses := make([]int, 400)
		for i := range statuses {
			r := h.post("/ccu/v3/invalidate/tag", body(akamai.TypeTag, tags(1)))
			statuses[i] = r.status
		}
		return statuses
	}
	a, b, c := run(7), run(7), run(8)
	if !slices.Equal(a, b) {
		t.Error("the same seed gave different faults")
	}
	if slices.Equal(a, c) {
		t.Error("different seeds gave the same faults")
	}
	count := map[int]int{}
	for _, s := range a {
		count[s]++
	}
	failed := 400 - count[201]
	if failed < 90 || failed > 150 || count[500] == 0 || count[503] == 0 || count[429] == 0 {
		t.Errorf("30%% of 400 failed as %v", count)
	}
}

// waitFor polls cond for up to 5 s.
func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not met within 5 s")
		}
		time.Sleep(time.Millisecond)
	}
}
