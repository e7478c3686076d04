package main

import (
	"fmt"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/purgebus/purgebus/akamai"
	"github.com/purgebus/purgebus/events"
	"github.com/purgebus/purgebus/handler"
)

func TestPurge(t *testing.T) {
	r := newRig(t, handler.Config{})
	u := func(name string) string { return "https://www.example.com/cli/" + name + "?a=1&b=2" }
	r.fake.Unauthorized(u("forbidden"), u("forbidden-json"))

	// one checks the single result of a --wait --json run.
	one := func(check func(t *testing.T, res events.PurgeResult)) func(*testing.T, outcome) {
		return func(t *testing.T, o outcome) {
			res := o.results(t)
			if len(res) != 1 {
				t.Fatalf("%d results, want 1\n%s", len(res), o)
			}
			check(t, res[0])
		}
	}
	// purged checks a succeeded result with one purge of these objects.
	purged := func(typ akamai.Type, action akamai.Action, network akamai.Network, objs ...string) func(*testing.T, outcome) {
		return one(func(t *testing.T, res events.PurgeResult) {
			if res.Outcome != events.OutcomeSucceeded || len(res.Purges) != 1 {
				t.Fatalf("result %+v, want one succeeded purge", res)
			}
			p := res.Purges[0]
			if p.Type != typ || p.Action != action || p.Network != network || !slices.Equal(p.Objects, objs) {
				t.Errorf("purge %+v, want %s %s %s %q", p, action, typ, network, objs)
			}
			if !strings.HasPrefix(p.PurgeID, "ed") || res.EstimatedCompleteAt.IsZero() {
				t.Errorf("purge ID %q, estimated %v", p.PurgeID, res.EstimatedCompleteAt)
			}
		})
	}

	tests := []struct {
		name     string
		args     []string
		stdin    string
		env      map[string]string
		wantCode int
		check    func(*testing.T, outcome)
	}{
		{name: "URLs from arguments, human", args: []string{"invalidate", "--wait", u("a"), u("b")},
			check: func(t *testing.T, o outcome) {
				for _, re := range []string{
					`(?m)^succeeded: event [0-9a-f-]{36}$`,
					`(?m)^  purge ed\S+: invalidate 2 URLs on production, estimated \d+s \(support ID ed\S+\)$`,
					`(?m)^  estimated complete at \d{4}-\d\d-\d\dT`,
				} {
					if !regexp.MustCompile(re).MatchString(o.stdout) {
						t.Errorf("stdout does not match %s\n%s", re, o)
					}
				}
			}},
		{name: "URLs from stdin", args: []string{"invalidate", "--wait", "--json"}, stdin: u("c") + "\n\n  " + u("d") + "  \n",
			check: purged(akamai.TypeURL, akamai.ActionInvalidate, akamai.NetworkProduction, u("c"), u("d"))},
		{name: "tags, flags first", args: []string{"invalidate", "--tag", "--wait", "--json", "news-cli", "sports-cli"},
			check: purged(akamai.TypeTag, akamai.ActionInvalidate, akamai.NetworkProduction, "news-cli", "sports-cli")},
		{name: "CP codes on staging, flags last", args: []string{"invalidate", "12345", "67890", "--cpcode", "--staging", "--wait", "--json"},
			check: purged(akamai.TypeCPCode, akamai.ActionInvalidate, akamai.NetworkStaging, "12345", "67890")},
		{name: "explicit production", args: []string{"invalidate", "--production", "--wait", "--json", u("prod")},
			check: purged(akamai.TypeURL, akamai.ActionInvalidate, akamai.NetworkProduction, u("prod"))},
		{name: "delete", args: []string{"delete", "--wait", "--json", u("deleted")},
			check: purged(akamai.TypeURL, akamai.ActionDelete, akamai.NetworkProduction, u("deleted"))},
		{name: "dash-led tag after --", args: []string{"delete", "--tag", "--wait", "--json", "--", "-dash-tag"},
			check: purged(akamai.TypeTag, akamai.ActionDelete, akamai.NetworkProduction, "-dash-tag")},
		{name: "id, source and subject", args: []string{"invalidate", "--wait", "--json", "--id", "cli-fixed-1", "--source", "cms", "--subject", "content.changed.cli", u("e")},
			check: one(func(t *testing.T, res events.PurgeResult) {
				if res.EventID != "cli-fixed-1" || res.Source != "cms" || res.Subject != "content.changed.cli" {
					t.Errorf("result %+v", res)
				}
			})},
		{name: "source from the environment", args: []string{"invalidate", "--wait", "--json", u("f")}, env: map[string]string{"PURGEBUS_SOURCE": "deploy-bot"},
			check: one(func(t *testing.T, res events.PurgeResult) {
				if res.Source != "deploy-bot" {
					t.Errorf("source %q", res.Source)
				}
			})},
		{name: "default source names the user", args: []string{"invalidate", "--wait", "--json", u("g")},
			check: one(func(t *testing.T, res events.PurgeResult) {
				if !strings.HasPrefix(res.Source, "purge-cli:tester@") {
					t.Errorf("source %q", res.Source)
				}
			})},
		{name: "unauthorized URL fails, human", args: []string{"invalidate", "--wait", u("forbidden")}, wantCode: exitNotSuccess,
			check: func(t *testing.T, o outcome) {
				for _, w := range []string{"failed: event ", "  failure: 403 unauthorized arl", u("forbidden")} {
					if !strings.Contains(o.stdout, w) {
						t.Errorf("stdout lacks %q\n%s", w, o)
					}
				}
			}},
		{name: "unauthorized URL fails, JSON", args: []string{"invalidate", u("ok"), u("forbidden-json"), "--wait", "--json"}, wantCode: exitNotSuccess,
			check: one(func(t *testing.T, res events.PurgeResult) {
				// Akamai refuses the whole request; the consumer narrows it
				// down, so the authorised URL is still purged.
				if res.Outcome != events.OutcomePartial || len(res.Failures) != 1 || res.Failures[0].HTTPStatus != 403 ||
					!slices.Equal(res.Failures[0].Objects, []string{u("forbidden-json")}) {
					t.Errorf("result %+v, want partial with the forbidden URL failed", res)
				}
			})},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			env := map[string]string{}
			for k, v := range r.env {
				env[k] = v
			}
			for k, v := range tt.env {
				env[k] = v
			}
			o := runCLI(t, env, tt.stdin, tt.args...)
			if o.code != tt.wantCode {
				t.Fatalf("exit %d, want %d\n%s", o.code, tt.wantCode, o)
			}
			tt.check(t, o)
		})
	}

	// The fake Akamai saw the staging CP-code purge where it belongs.
	found := false
	for _, p := range r.fake.Purges() {
		if p.Type == akamai.TypeCPCode && p.Network == akamai.NetworkStaging && slices.Equal(p.Objects, []string{"12345", "67890"}) {
			found = true
		}
	}
	if !found {
		t.Errorf("no staging CP-code purge reached Akamai: %+v", r.fake.Purges())
	}
}

// TestPurgeQueued publishes without --wait and finds the result later.
func TestPurgeQueued(t *testing.T) {
	r := newRig(t, handler.Config{})
	o := r.run("", "invalidate", "https://www.example.com/queued")
	if o.code != exitOK {
		t.Fatal(o)
	}
	m := regexp.MustCompile(`^queued event (\S+): invalidate 1 URL on production\n$`).FindStringSubmatch(o.stdout)
	if m == nil {
		t.Fatalf("stdout %q", o.stdout)
	}
	if res := r.waitResults(1, "--id", m[1]); res[0].Outcome != events.OutcomeSucceeded {
		t.Errorf("result %+v", res[0])
	}

	o = r.run("", "invalidate", "--json", "--tag", "queued-tag")
	if o.code != exitOK {
		t.Fatal(o)
	}
	var e events.ContentChanged
	mustJSON(t, o.stdout, &e)
	if !events.ValidID(e.ID) || !slices.Equal(e.Tags, []string{"queued-tag"}) {
		t.Fatalf("published event %+v", e)
	}
	if res := r.waitResults(1, "--id", e.ID); res[0].Outcome != events.OutcomeSucceeded {
		t.Errorf("result %+v", res[0])
	}
}

// TestPurgeSplit gives more objects than fit in one event: they become
// several events, each waited for.
func TestPurgeSplit(t *testing.T) {
	r := newRig(t, handler.Config{})
	var stdin strings.Builder
	var want []string
	for i := range 40 {
		u := fmt.Sprintf("https://www.example.com/split/%02d/%s", i, strings.Repeat("x", 40))
		want = append(want, u)
		stdin.WriteString(u + "\n")
	}
	o := r.run(stdin.String(), "delete", "--wait", "--json", "--max-event-bytes", "1024", "--id", "batch")
	if o.code != exitOK {
		t.Fatal(o)
	}
	res := o.results(t)
	if len(res) < 3 {
		t.Fatalf("%d events for 40 long URLs in 1 KiB events", len(res))
	}
	var got []string
	for i, r := range res {
		if r.EventID != fmt.Sprintf("batch:%d", i+1) || r.Outcome != events.OutcomeSucceeded {
			t.Errorf("result %d: %s %s", i, r.EventID, r.Outcome)
		}
		for _, p := range r.Purges {
			got = append(got, p.Objects...)
		}
	}
	if !slices.Equal(got, want) {
		t.Errorf("purged %q\nwant %q", got, want)
	}
}

// TestPurgeTimeout waits for a result no consumer will publish.
func TestPurgeTimeout(t *testing.T) {
	r := newRig(t, handler.Config{})
	r.stopConsumer()
	o := r.run("", "invalidate", "--wait", "--timeout", "300ms", "--id", "nobody-home", "https://www.example.com/t")
	if o.code != exitError {
		t.Fatal(o)
	}
	for _, w := range []string{"event nobody-home: no result within 300ms", "is a purgebus consumer running?", "purge results --id nobody-home"} {
		if !strings.Contains(o.stderr, w) {
			t.Errorf("stderr lacks %q\n%s", w, o)
		}
	}
}
