package integration

import (
	"context"
	"fmt"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/purgebus/purgebus/akamai"
	"github.com/purgebus/purgebus/akamai/akamaitest"
	"github.com/purgebus/purgebus/budget"
	"github.com/purgebus/purgebus/bus"
	"github.com/purgebus/purgebus/consumer"
	"github.com/purgebus/purgebus/events"
	"github.com/purgebus/purgebus/routing"
)

// escalationScale runs the fake Akamai's buckets, and purgebus's budget,
// twenty times faster than Akamai's, so that floods of tens of thousands
// of URLs take seconds. The routes' after is scaled alike: 2 s here is
// 40 s of Akamai's time.
const escalationScale = 20

// escalationRig starts the consumer with the routing file yaml, one
// account "main" on a fake with Akamai's bucket sizes.
func escalationRig(t *testing.T, yaml string) *rig {
	t.Helper()
	cfg, err := routing.Parse([]byte(yaml))
	if err != nil {
		t.Fatal(err)
	}
	return newRig(t, akamaitest.Options{TimeScale: escalationScale}, func(c *consumer.Config) {
		c.Routing = cfg
		c.Accounts = map[string]consumer.Account{"main": {Akamai: c.Akamai, Limits: budget.AkamaiLimits().Scale(escalationScale)}}
	})
}

// escalatingRoutes routes www.example.com, escalating to CP code 12345,
// and other.example.com, which never escalates.
func escalatingRoutes(maxPerHour int) string {
	return fmt.Sprintf(`
accounts:
  main: {}
routes:
  - hosts: ["www.example.com"]
    account: main
    escalate: {cpcode: 12345, after: 2s, max_per_hour: %d}
  - hosts: ["other.example.com"]
    account: main
allow:
  cpcodes: [12345]
`, maxPerHour)
}

func otherURL(i int) string { return fmt.Sprintf("https://other.example.com/page/%d?a=1&b=2", i) }

// purgeAccount is how one URL of a result was purged.
type purgeAccount struct {
	purgeID    string
	escalation *events.Escalation
}

// checkFlood fails the test unless every event of want has results, all
// succeeded, each of its URLs in exactly one purge entry of type url; it
// returns how each URL was purged (from the event's first result).
func checkFlood(t *testing.T, results map[string][]events.PurgeResult, want map[string][]string) map[string]purgeAccount {
	t.Helper()
	checkSucceeded(t, results, want)
	how := map[string]purgeAccount{}
	for id, urls := range want {
		rs := results[id]
		seen := map[string]bool{}
		for _, p := range rs[0].Purges {
			if p.Type != akamai.TypeURL || p.PurgeID == "" {
				t.Fatalf("event %s: purge %+v, want type url with a purge ID", id, p)
			}
			for _, u := range p.Objects {
				if seen[u] {
					t.Fatalf("event %s lists %s twice", id, u)
				}
				seen[u] = true
				how[u] = purgeAccount{p.PurgeID, p.Escalation}
			}
		}
		for _, u := range urls {
			if !seen[u] {
				t.Fatalf("event %s: %s in no purge", id, u)
			}
		}
	}
	return how
}

// checkNotLost fails the test unless each URL of how that no escalation
// covered reached the fake as a URL.
func checkNotLost(t *testing.T, fake *akamaitest.Server, how map[string]purgeAccount) {
	t.Helper()
	purged := map[string]bool{}
	for _, u := range fake.PurgedObjects(akamai.TypeURL) {
		purged[u] = true
	}
	for u, h := range how {
		if h.escalation == nil && !purged[u] {
			t.Fatalf("%s is not covered and never reached Akamai", u)
		}
	}
}

// covering returns the fake's accepted CP-code and tag purges by ID.
func covering(fake *akamaitest.Server) map[string]akamaitest.Purge {
	out := map[string]akamaitest.Purge{}
	for _, p := range fake.Purges() {
		if p.Type != akamai.TypeURL {
			out[p.ID] = p
		}
	}
	return out
}

// interleave returns the events of a and b alternately.
func interleave(a, b []*events.ContentChanged) []*events.ContentChanged {
	out := make([]*events.ContentChanged, 0, len(a)+len(b))
	for i := 0; i < len(a) || i < len(b); i++ {
		if i < len(a) {
			out = append(out, a[i])
		}
		if i < len(b) {
			out = append(out, b[i])
		}
	}
	return out
}

// TestEscalationFlood: 50,000 unique URLs of an escalating host and 1,000
// of a host without escalation, published together. At the URL refill
// they would take 20 s of the scaled time (over 3 minutes of Akamai's);
// CP-code purges cover the escalating host's URLs instead, at most
// max_per_hour of them, while the other host's URLs go as URLs. Every
// event succeeds, and no request meets a 429.
func TestEscalationFlood(t *testing.T) {
	const maxPerHour = 4
	r := escalationRig(t, escalatingRoutes(maxPerHour))
	www := urlEvents("www", url, 500, 100, 0)
	other := urlEvents("other", otherURL, 10, 100, 0)
	want := publishAll(t, r, interleave(www, other))
	how := checkFlood(t, r.results(len(want), 120*time.Second), want)
	checkNotLost(t, r.fake, how)

	codes := covering(r.fake)
	if len(codes) == 0 || len(codes) > maxPerHour {
		t.Fatalf("%d covering purges, want 1 to %d", len(codes), maxPerHour)
	}
	for _, p := range codes {
		if p.Type != akamai.TypeCPCode || len(p.Objects) != 1 || p.Objects[0] != "12345" || p.Action != akamai.ActionInvalidate || p.Network != akamai.NetworkProduction {
			t.Errorf("covering purge %+v, want CP code 12345 invalidated on production", p)
		}
	}
	covered := 0
	for _, ev := range www {
		for _, u := range ev.URLs {
			h := how[u]
			if h.escalation == nil {
				continue
			}
			covered++
			if _, ok := codes[h.purgeID]; !ok {
				t.Fatalf("%s claims escalation %+v under purge %s, which is no CP-code purge", u, h.escalation, h.purgeID)
			}
			if h.escalation.Type != akamai.TypeCPCode || h.escalation.Object != "12345" || h.escalation.Reason == "" {
				t.Fatalf("%s: escalation %+v", u, h.escalation)
			}
		}
	}
	for _, ev := range other {
		for _, u := range ev.URLs {
			if how[u].escalation != nil {
				t.Fatalf("%s of the host without escalation claims %+v", u, how[u].escalation)
			}
		}
	}
	st := r.fake.Stats()
	t.Logf("%d of 50,000 URLs covered by %d CP-code purges; the fake took %d URLs in %d purges; 429s: %d",
		covered, len(codes), st.Objects[akamai.TypeURL], st.Purges, st.RateLimited)
	// How many the covering purges settle depends on how fast events
	// arrive (URLs of events handled after the fourth escalation go
	// one by one); thousands always wait when the first goes out.
	if covered < 5000 {
		t.Errorf("only %d of 50,000 URLs covered", covered)
	}
	if st.RateLimited != 0 {
		t.Errorf("%d 429s", st.RateLimited)
	}
}

// TestEscalationBudget: with max_per_hour 1, a second flood within the
// hour is purged as URLs.
func TestEscalationBudget(t *testing.T) {
	r := escalationRig(t, escalatingRoutes(1))
	first := publishAll(t, r, urlEvents("first", url, 300, 100, 0))
	checkNotLost(t, r.fake, checkFlood(t, r.results(len(first), 120*time.Second), first))
	if len(covering(r.fake)) != 1 {
		t.Fatalf("%d covering purges for the first flood, want 1", len(covering(r.fake)))
	}
	second := publishAll(t, r, urlEvents("second", url, 300, 100, 1_000_000))
	all := map[string][]string{}
	for id, urls := range first {
		all[id] = urls
	}
	for id, urls := range second {
		all[id] = urls
	}
	how := checkFlood(t, r.results(len(all), 120*time.Second), all)
	checkNotLost(t, r.fake, how)
	if n := len(covering(r.fake)); n != 1 {
		t.Errorf("%d covering purges, want the one of the first flood", n)
	}
	for _, urls := range second {
		for _, u := range urls {
			if how[u].escalation != nil {
				t.Fatalf("%s of the second flood claims %+v: the hour's budget was spent", u, how[u].escalation)
			}
		}
	}
}

// TestEscalationBudgetShared: two replicas sharing a budget
// (--shared-budget) share each route's max_per_hour too. A flood split
// between them makes both want to escalate; with max_per_hour 1 only one
// covering purge goes out, and every URL is still purged.
func TestEscalationBudgetShared(t *testing.T) {
	cfg, err := routing.Parse([]byte(escalatingRoutes(1)))
	if err != nil {
		t.Fatal(err)
	}
	shared := func(c *consumer.Config) {
		c.Routing = cfg
		c.Accounts = map[string]consumer.Account{"main": {Akamai: c.Akamai, Limits: budget.AkamaiLimits().Scale(escalationScale)}}
		c.SharedBudget = true
	}
	r := newRig(t, akamaitest.Options{TimeScale: escalationScale}, shared)
	second := r.cfg
	second.Embedded = bus.EmbeddedConfig{}
	second.NATSURL = r.cons.NATSURL()
	second.Logger = testLogger(t).With("replica", 2)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	c2, err := consumer.Start(ctx, second)
	if err != nil {
		t.Fatalf("second replica: %v", err)
	}
	t.Cleanup(func() {
		if err := c2.Close(); err != nil {
			t.Logf("second replica close: %v", err)
		}
	})
	want := publishAll(t, r, urlEvents("shared", url, 600, 100, 0))
	how := checkFlood(t, r.results(len(want), 120*time.Second), want)
	checkNotLost(t, r.fake, how)
	if n := len(covering(r.fake)); n != 1 {
		t.Errorf("%d covering purges from two replicas, want the one max_per_hour allows them together", n)
	}
	covered := 0
	for _, h := range how {
		if h.escalation != nil {
			covered++
		}
	}
	t.Logf("%d of %d URLs covered", covered, len(how))
}

// TestEscalationOrdering: URLs published after the covering request was
// sent are purged again, by URL or by a later escalation, and never
// marked as covered by it.
func TestEscalationOrdering(t *testing.T) {
	r := escalationRig(t, escalatingRoutes(4))
	sent := make(chan time.Time, 1)
	var once sync.Once
	r.fake.SetFaultFunc(func(_ *http.Request, p akamaitest.PurgeRequest) (akamaitest.Fault, bool) {
		hold := false
		if p.Type == akamai.TypeCPCode {
			once.Do(func() { hold = true; sent <- time.Now() })
		}
		if !hold {
			return akamaitest.Fault{}, false
		}
		// Hold the answer while the late events are published, briefly:
		// meanwhile the early URLs go on as URLs.
		return akamaitest.Fault{Delay: 150 * time.Millisecond}, true
	})
	early := urlEvents("early", url, 400, 100, 0)
	late := urlEvents("late", url, 50, 10, 1_000_000)
	var wantEarly map[string][]string
	published := make(chan struct{})
	go func() {
		defer close(published)
		wantEarly = publishAll(t, r, early)
	}()
	var sentAt time.Time
	select {
	case sentAt = <-sent:
	case <-time.After(60 * time.Second):
		t.Fatal("the flood never escalated")
	}
	wantLate := publishAll(t, r, late)
	<-published
	all := map[string][]string{}
	for id, urls := range wantEarly {
		all[id] = urls
	}
	for id, urls := range wantLate {
		all[id] = urls
	}
	how := checkFlood(t, r.results(len(all), 120*time.Second), all)
	checkNotLost(t, r.fake, how)

	// The held request is the first CP-code purge the fake accepted: the
	// next escalation waits for it to end.
	var held akamaitest.Purge
	for _, p := range r.fake.Purges() {
		if p.Type == akamai.TypeCPCode {
			held = p
			break
		}
	}
	codes := covering(r.fake)
	for _, ev := range late {
		for _, u := range ev.URLs {
			h := how[u]
			if h.purgeID == held.ID {
				t.Fatalf("late %s is marked as covered by the purge sent before it was published", u)
			}
			if h.escalation != nil && !codes[h.purgeID].ReceivedAt.After(sentAt) {
				t.Fatalf("late %s is covered by purge %s, which was not sent after it", u, h.purgeID)
			}
		}
	}
	coveredEarly := 0
	for _, ev := range early {
		for _, u := range ev.URLs {
			if how[u].purgeID == held.ID {
				coveredEarly++
			}
		}
	}
	t.Logf("the held covering purge covered %d early URLs", coveredEarly)
	if coveredEarly == 0 {
		t.Error("the held covering purge covered none of the early URLs")
	}
}

// TestEscalationRefused: Akamai answers the covering purge 403: the URLs
// are purged one by one, their results say so (type url, their own purge
// IDs, no escalation), and nothing is lost.
func TestEscalationRefused(t *testing.T) {
	r := escalationRig(t, escalatingRoutes(1))
	r.fake.Unauthorized("12345")
	want := publishAll(t, r, urlEvents("refused", url, 300, 100, 0))
	how := checkFlood(t, r.results(len(want), 120*time.Second), want)
	checkNotLost(t, r.fake, how)
	for u, h := range how {
		if h.escalation != nil {
			t.Fatalf("%s claims escalation %+v though the covering purge was refused", u, h.escalation)
		}
	}
	st := r.fake.Stats()
	if st.ByStatus[http.StatusForbidden] == 0 {
		t.Errorf("no 403: the flood never escalated (statuses %v)", st.ByStatus)
	}
	if n := len(covering(r.fake)); n != 0 {
		t.Errorf("%d covering purges accepted", n)
	}
	if d := r.deadLetters(0, 100*time.Millisecond); len(d) != 0 {
		t.Errorf("%d dead letters, want none", len(d))
	}
}

// TestNoEscalationWithoutEscalate: without escalate in the routing file,
// a flood never produces a CP-code or tag request.
func TestNoEscalationWithoutEscalate(t *testing.T) {
	r := escalationRig(t, `
accounts:
  main: {}
routes:
  - hosts: ["www.example.com"]
    account: main
`)
	want := publishAll(t, r, urlEvents("plain", url, 300, 100, 0))
	how := checkFlood(t, r.results(len(want), 120*time.Second), want)
	checkNotLost(t, r.fake, how)
	for _, rec := range r.fake.Requests() {
		if rec.Type == akamai.TypeCPCode || rec.Type == akamai.TypeTag {
			if rec.Action != "" {
				t.Fatalf("request %+v: a flood without escalate purged a %s", rec, rec.Type)
			}
		}
	}
	for u, h := range how {
		if h.escalation != nil {
			t.Fatalf("%s claims escalation %+v", u, h.escalation)
		}
	}
}
