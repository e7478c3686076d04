package main

import (
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"

	"github.com/purgebus/purgebus/handler"
)

// TestPurgeReusedID: an ID used again with the same objects is a
// harmless retry and says so; with other objects, which JetStream drops
// as a duplicate, it is an error that names the ID, queued or waiting.
func TestPurgeReusedID(t *testing.T) {
	r := newRig(t, handler.Config{})
	a, b := "https://www.example.com/reuse-a", "https://www.example.com/reuse-b"
	if o := r.run("", "invalidate", "--id", "reuse-1", "--wait", a); o.code != exitOK {
		t.Fatalf("first: %s", o)
	}
	for _, tc := range []struct {
		name   string
		args   []string
		code   int
		stderr []string
	}{
		{"same objects, waiting", []string{"--wait", a}, exitOK, []string{"event reuse-1 was already stored with the same objects", "harmless retry"}},
		{"same objects, queued", []string{a}, exitOK, []string{"harmless retry"}},
		{"other objects, waiting", []string{"--wait", b}, exitError, []string{"event ID reuse-1 was already used", "NOT stored", b}},
		{"other objects, queued", []string{b}, exitError, []string{"event ID reuse-1 was already used", "new ID"}},
		{"more objects", []string{"--wait", a, b}, exitError, []string{"reuse-1", "the new event also has url invalidate production " + b}},
		{"other action", []string{"--wait", a}, exitError, []string{"reuse-1", "url delete production"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cmd := "invalidate"
			if tc.name == "other action" {
				cmd = "delete"
			}
			o := r.run("", append([]string{cmd, "--id", "reuse-1"}, tc.args...)...)
			if o.code != tc.code {
				t.Fatalf("exit %d, want %d: %s", o.code, tc.code, o)
			}
			for _, w := range tc.stderr {
				if !strings.Contains(o.stderr, w) {
					t.Errorf("stderr does not say %q: %s", w, o)
				}
			}
		})
	}
	// Only the first event was purged.
	if n := len(r.waitResults(1, "--id", "reuse-1")); n != 1 {
		t.Errorf("%d results", n)
	}
	for _, p := range r.fake.Purges() {
		for _, obj := range p.Objects {
			if obj == b {
				t.Errorf("%s was purged", b)
			}
		}
	}
}

// TestResultsForUnknownID: asking for one event's result and finding none
// is an error that says so, not an empty success.
func TestResultsForUnknownID(t *testing.T) {
	r := newRig(t, handler.Config{})
	for _, tc := range []struct {
		name string
		args []string
		want string
	}{
		{"empty stream", []string{"--id", "nope-1"}, "no result for event nope-1 (yet)"},
		{"with outcomes", []string{"--id", "nope-1", "--outcome", "failed,partial"}, "no failed or partial result for event nope-1"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			o := r.run("", append([]string{"results"}, tc.args...)...)
			if o.code != exitError || !strings.Contains(o.stderr, tc.want) || o.stdout != "" {
				t.Errorf("want exit %d and %q: %s", exitError, tc.want, o)
			}
		})
	}
	if o := r.run("", "invalidate", "--id", "known-1", "--wait", "https://www.example.com/known"); o.code != exitOK {
		t.Fatal(o)
	}
	if o := r.run("", "results", "--id", "known-1"); o.code != exitOK || !strings.Contains(o.stdout, "known-1") {
		t.Errorf("known ID: %s", o)
	}
	if o := r.run("", "results", "--id", "known-1", "--outcome", "failed"); o.code != exitError || !strings.Contains(o.stderr, "no failed result for event known-1") {
		t.Errorf("known ID, other outcome: %s", o)
	}
}

// TestWithoutJetStream: against a NATS server without JetStream every
// command says that, not nats.go's "no responders".
func TestWithoutJetStream(t *testing.T) {
	srv, err := server.NewServer(&server.Options{Host: "127.0.0.1", Port: server.RANDOM_PORT, NoSigs: true, NoLog: true})
	if err != nil {
		t.Fatal(err)
	}
	go srv.Start()
	if !srv.ReadyForConnections(10 * time.Second) {
		t.Fatal("nats-server did not start")
	}
	t.Cleanup(srv.Shutdown)
	env := map[string]string{"NATS_URL": srv.ClientURL()}
	for _, args := range [][]string{
		{"results"}, {"results", "--follow", "--timeout", "1s"}, {"invalidate", "https://www.example.com/a"},
		{"delete", "--wait", "https://www.example.com/a"}, {"deadletters", "list"}, {"deadletters", "replay", "--all"},
	} {
		t.Run(strings.Join(args, " "), func(t *testing.T) {
			o := runCLI(t, env, "", args...)
			if o.code != exitError || !strings.Contains(o.stderr, "has no JetStream") || strings.Contains(o.stderr, "no responders") {
				t.Errorf("want exit %d saying the server has no JetStream: %s", exitError, o)
			}
		})
	}
}

// TestStdinComments: lines that start with '#' are comments.
func TestStdinComments(t *testing.T) {
	r := newRig(t, handler.Config{})
	stdin := "# pages changed by the import\nhttps://www.example.com/c1\n   # indented comment\n\nhttps://www.example.com/c2 \n"
	o := r.run(stdin, "invalidate", "--json")
	if o.code != exitOK {
		t.Fatal(o)
	}
	var ev struct {
		URLs []string `json:"urls"`
	}
	mustJSON(t, strings.TrimSpace(o.stdout), &ev)
	if strings.Join(ev.URLs, " ") != "https://www.example.com/c1 https://www.example.com/c2" {
		t.Errorf("urls %q", ev.URLs)
	}
}
