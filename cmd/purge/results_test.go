package main

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/purgebus/purgebus/events"
	"github.com/purgebus/purgebus/handler"
	"github.com/purgebus/purgebus/internal/testlog"
)

func TestResults(t *testing.T) {
	r := newRig(t, handler.Config{})
	r.fake.Unauthorized("https://www.example.com/results/forbidden")
	for _, args := range [][]string{
		{"invalidate", "--wait", "--id", "res-ok", "--source", "blog", "https://www.example.com/results/ok"},
		{"invalidate", "--wait", "--id", "res-bad", "https://www.example.com/results/forbidden"},
		{"invalidate", "--wait", "--id", "res-tag", "--tag", "results-tag"},
	} {
		if o := r.run("", args...); o.code != exitOK && o.code != exitNotSuccess {
			t.Fatal(o)
		}
	}
	future := time.Now().Add(time.Hour).UTC().Format(time.RFC3339)
	tests := []struct {
		name  string
		args  []string
		want  []string // event IDs, in order
		lines []string // substrings of the human output
	}{
		{name: "all", args: []string{"results"}, want: []string{"res-ok", "res-bad", "res-tag"},
			lines: []string{" succeeded res-ok source=blog purged=1 purge_ids=ed", " failed    res-bad ", `failure="403 unauthorized arl`}},
		{name: "failed since 1h", args: []string{"results", "--outcome", "failed", "--since", "1h"}, want: []string{"res-bad"}},
		{name: "failed since 1h, JSON", args: []string{"results", "--outcome", "failed", "--since", "1h", "--json"}, want: []string{"res-bad"}},
		{name: "two outcomes", args: []string{"results", "--outcome", "succeeded,failed", "--json"}, want: []string{"res-ok", "res-bad", "res-tag"}},
		{name: "one event", args: []string{"results", "--id", "res-tag", "--json"}, want: []string{"res-tag"}},
		{name: "since the future", args: []string{"results", "--since", future}},
		{name: "partial", args: []string{"results", "--outcome", "partial"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o := r.run("", tt.args...)
			if o.code != exitOK {
				t.Fatal(o)
			}
			lines := o.lines()
			if len(lines) != len(tt.want) {
				t.Fatalf("%d lines, want %d\n%s", len(lines), len(tt.want), o)
			}
			for i, l := range lines {
				if strings.HasPrefix(l, "{") {
					var res events.PurgeResult
					mustJSON(t, l, &res)
					if res.EventID != tt.want[i] {
						t.Errorf("line %d is %s, want %s", i, res.EventID, tt.want[i])
					}
				} else if !strings.Contains(l, " "+tt.want[i]) {
					t.Errorf("line %d lacks %s: %s", i, tt.want[i], l)
				}
			}
			for _, w := range tt.lines {
				if !strings.Contains(o.stdout, w) {
					t.Errorf("stdout lacks %q\n%s", w, o)
				}
			}
		})
	}
}

func TestResultsFollow(t *testing.T) {
	r := newRig(t, handler.Config{})
	// --since covers the time between the start of --follow and the
	// moment its consumer exists, so the test does not race it.
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var stdout, stderr testlog.Buffer
	done := make(chan int, 1)
	go func() {
		done <- run(ctx, []string{"results", "--follow", "--since", "1m", "--outcome", "succeeded"}, nil, &stdout, &stderr, mapEnv(r.env))
	}()
	for i, id := range []string{"follow-1", "follow-2"} {
		if o := r.run("", "invalidate", "--wait", "--id", id, "https://www.example.com/follow/"+id); o.code != exitOK {
			t.Fatal(o)
		}
		deadline := time.Now().Add(10 * time.Second)
		for strings.Count(stdout.String(), "\n") < i+1 {
			if time.Now().After(deadline) {
				t.Fatalf("--follow printed %q after %s", stdout.String(), id)
			}
			time.Sleep(20 * time.Millisecond)
		}
		if !strings.Contains(stdout.String(), " succeeded "+id+" ") {
			t.Fatalf("--follow printed %q", stdout.String())
		}
	}
	cancel()
	select {
	case code := <-done:
		if code != exitOK {
			t.Fatalf("interrupted --follow exited %d: %s", code, stderr.String())
		}
	case <-time.After(10 * time.Second):
		t.Fatal("--follow did not stop when interrupted")
	}

	// --timeout bounds a --follow: it ends quietly.
	start := time.Now()
	if o := r.run("", "results", "--follow", "--timeout", "300ms"); o.code != exitOK || o.stdout != "" {
		t.Fatal(o)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("--follow --timeout 300ms took %v", d)
	}
}

func TestResultsWithoutStreams(t *testing.T) {
	r := newRig(t, handler.Config{})
	o := r.run("", "results", "--result-stream", "NO_SUCH_STREAM")
	if o.code != exitError || !strings.Contains(o.stderr, "stream not found") || !strings.Contains(o.stderr, "are purgebus's streams set up on this NATS?") {
		t.Fatal(o)
	}
}

// TestResultLineEscalated: a result whose URLs a covering purge settled
// says so, with how many and by what.
func TestResultLineEscalated(t *testing.T) {
	r := events.PurgeResult{EventID: "flood-1", Outcome: events.OutcomeSucceeded, Purges: []events.Purge{
		{PurgeID: "edup-1", Type: "url", Objects: []string{"https://www.example.com/a"}},
		{PurgeID: "edcp-2", Type: "url", Objects: []string{"https://www.example.com/b", "https://www.example.com/c"},
			Escalation: &events.Escalation{Type: "cpcode", Object: "12345", Reason: "flood"}},
	}}
	want := " succeeded flood-1 purged=3 purge_ids=edup-1,edcp-2 escalated=2 escalation=cpcode:12345"
	if got := resultLine(r); !strings.HasSuffix(got, want) {
		t.Errorf("line %q, want it to end with %q", got, want)
	}
	r.Purges = r.Purges[:1]
	if got := resultLine(r); strings.Contains(got, "escalat") {
		t.Errorf("line %q mentions an escalation", got)
	}
}

// TestResultsSkipControlMessages: an empty message on a result subject
// (a batch control message, which only a foreign publisher could have
// stored) is neither a result for "results" nor the result that
// "invalidate --wait" waits for.
func TestResultsSkipControlMessages(t *testing.T) {
	r := newRig(t, handler.Config{})
	js := r.jetStream()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := js.Publish(ctx, events.ResultSubject(events.OutcomeSucceeded, "ctl-1"), nil); err != nil {
		t.Fatal(err)
	}
	if o := r.run("", "results", "--id", "ctl-1"); o.code != exitError || o.stdout != "" ||
		!strings.Contains(o.stderr, "no result for event ctl-1") || strings.Contains(o.stderr, "not a result") {
		t.Fatalf("results before the event: %s", o)
	}
	if o := r.run("", "invalidate", "--wait", "--json", "--id", "ctl-1", "https://www.example.com/control"); o.code != exitOK || !strings.Contains(o.stdout, `"event_id":"ctl-1"`) {
		t.Fatalf("invalidate --wait: %s", o)
	}
	o := r.run("", "results", "--id", "ctl-1", "--json")
	if lines := o.lines(); o.code != exitOK || len(lines) != 1 || !strings.Contains(lines[0], `"event_id":"ctl-1"`) {
		t.Fatalf("results after the event: %s", o)
	}
}
