package main

import (
	"flag"
	"io"
	"net"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/purgebus/purgebus/akamai"
	"github.com/purgebus/purgebus/bus"
	"github.com/purgebus/purgebus/events"
	"github.com/purgebus/purgebus/handler"
)

// TestCommandLine covers everything decided before connecting: help,
// usage errors and their exit statuses. Nothing listens on the NATS URL.
func TestCommandLine(t *testing.T) {
	t.Parallel()
	noNATS := map[string]string{"NATS_URL": "nats://127.0.0.1:1"}
	tests := []struct {
		name       string
		args       []string
		stdin      string
		env        map[string]string
		wantCode   int
		wantStdout []string
		wantStderr []string
	}{
		{name: "no command", wantCode: exitUsage, wantStderr: []string{"Usage: purge <command>"}},
		{name: "help", args: []string{"help"}, wantStdout: []string{"Commands:", "deadletters replay"}},
		{name: "--help", args: []string{"--help"}, wantStdout: []string{"Commands:"}},
		{name: "help results", args: []string{"help", "results"}, wantStdout: []string{"Usage: purge results", "--follow"}},
		{name: "invalidate --help", args: []string{"invalidate", "--help"}, wantStdout: []string{
			"Usage: purge invalidate", "--tag", "--cpcode", "--staging", "--wait", "--json", "--timeout duration [PURGEBUS_TIMEOUT]",
			"--nats-url string [NATS_URL]", "--nats-creds file [NATS_CREDS]", "--nats-nkey file [PURGEBUS_NATS_NKEY, NATS_NKEY]",
			"--nats-password string [PURGEBUS_NATS_PASSWORD, NATS_PASSWORD]", "--nats-tls-key file [PURGEBUS_NATS_TLS_KEY, NATS_KEY]",
			"--source string [PURGEBUS_SOURCE]", "(default purge-cli:tester@",
		}},
		{name: "help after objects", args: []string{"delete", "https://a.example/", "-h"}, wantStdout: []string{"Usage: purge delete"}},
		{name: "deadletters --help", args: []string{"deadletters", "--help"}, wantStdout: []string{"deadletters list", "deadletters replay"}},
		{name: "replay --help", args: []string{"deadletters", "replay", "--help"}, wantStdout: []string{"--dry-run", "replay:<dead-letter stream>:<sequence>"}},
		{name: "unknown command", args: []string{"purge"}, wantCode: exitUsage, wantStderr: []string{`unknown command "purge"`}},
		{name: "flag before command", args: []string{"--nats-url", "nats://x", "invalidate"}, wantCode: exitUsage, wantStderr: []string{"the command comes first"}},
		{name: "unknown flag", args: []string{"invalidate", "--bogus", "https://a.example/"}, wantCode: exitUsage,
			wantStderr: []string{"flag provided but not defined: -bogus", "Run 'purge invalidate --help'"}},
		{name: "tag and cpcode", args: []string{"invalidate", "--tag", "--cpcode", "x"}, wantCode: exitUsage, wantStderr: []string{"exclude each other"}},
		{name: "staging and production", args: []string{"invalidate", "--staging", "--production", "https://a.example/"}, wantCode: exitUsage, wantStderr: []string{"exclude each other"}},
		{name: "bad CP codes", args: []string{"invalidate", "--cpcode", "12x", "0", "12345"}, wantCode: exitUsage, wantStderr: []string{`"12x", "0"`}},
		{name: "bad URL", args: []string{"invalidate", "ftp://a.example/", "https://b.example/"}, wantCode: exitUsage, wantStderr: []string{"ftp://a.example/", "scheme must be http or https"}},
		{name: "bad tag", args: []string{"delete", "--tag", "has space"}, wantCode: exitUsage, wantStderr: []string{"not allowed in a tag"}},
		{name: "no objects", stdin: "\n  \n", args: []string{"invalidate"}, wantCode: exitUsage, wantStderr: []string{"no objects"}},
		{name: "subject outside", args: []string{"invalidate", "--subject", "other.subject", "https://a.example/"}, wantCode: exitUsage, wantStderr: []string{"not content.changed or a subject below it"}},
		{name: "wildcard subject", args: []string{"invalidate", "--subject", "content.changed.*", "https://a.example/"}, wantCode: exitUsage},
		{name: "bad id", args: []string{"invalidate", "--id", "a.b", "https://a.example/"}, wantCode: exitUsage, wantStderr: []string{`--id "a.b"`}},
		{name: "tiny max-event-bytes", args: []string{"invalidate", "--max-event-bytes", "10", "https://a.example/"}, wantCode: exitUsage},
		{name: "object larger than an event", args: []string{"invalidate", "--max-event-bytes", "1024", "https://a.example/" + strings.Repeat("x", 2000)}, wantCode: exitUsage, wantStderr: []string{"alone is larger"}},
		{name: "bad outcome", args: []string{"results", "--outcome", "failed,won"}, wantCode: exitUsage, wantStderr: []string{`"won"`}},
		{name: "bad since", args: []string{"results", "--since", "yesterday"}, wantCode: exitUsage, wantStderr: []string{"neither a duration"}},
		{name: "results takes no arguments", args: []string{"results", "extra"}, wantCode: exitUsage, wantStderr: []string{"unexpected arguments: extra"}},
		{name: "deadletters alone", args: []string{"deadletters"}, wantCode: exitUsage, wantStderr: []string{"list or replay?"}},
		{name: "deadletters unknown", args: []string{"deadletters", "purge"}, wantCode: exitUsage, wantStderr: []string{"list or replay"}},
		{name: "replay bad subject", args: []string{"deadletters", "replay", "--all", "--subject", "x"}, wantCode: exitUsage},
		{name: "replay needs a selection", args: []string{"deadletters", "replay"}, wantCode: exitUsage, wantStderr: []string{"--since, --id or --all"}},
		{name: "replay all and since", args: []string{"deadletters", "replay", "--all", "--since", "1h"}, wantCode: exitUsage, wantStderr: []string{"--all and --since conflict"}},
		{name: "replay all and id", args: []string{"deadletters", "replay", "--id", "x", "--all"}, wantCode: exitUsage, wantStderr: []string{"--all and --id conflict"}},
		{name: "replay all, since and id", args: []string{"deadletters", "replay", "--all", "--id", "x", "--since", "1h", "--dry-run"}, wantCode: exitUsage, wantStderr: []string{"--all and --since and --id conflict"}},
		{name: "wait for ever", args: []string{"invalidate", "--wait", "--timeout", "0", "https://a.example/"}, wantCode: exitUsage, wantStderr: []string{"-timeout", "must be positive"}},
		{name: "negative timeout", args: []string{"invalidate", "--wait", "--timeout", "-1s", "https://a.example/"}, wantCode: exitUsage, wantStderr: []string{"must be positive, not -1s"}},
		{name: "results negative timeout", args: []string{"results", "--timeout", "-1s"}, wantCode: exitUsage, wantStderr: []string{"must be positive"}},
		{name: "zero timeout from the environment", args: []string{"results"}, env: map[string]string{"PURGEBUS_TIMEOUT": "0s"}, wantCode: exitUsage,
			wantStderr: []string{"environment variable PURGEBUS_TIMEOUT", "must be positive"}},
		{name: "only comments on stdin", stdin: "# URLs to purge\n  # none yet\n\n", args: []string{"invalidate"}, wantCode: exitUsage, wantStderr: []string{"no objects"}},
		{name: "bad environment", args: []string{"results"}, env: map[string]string{"PURGEBUS_TIMEOUT": "forever"}, wantCode: exitUsage,
			wantStderr: []string{"environment variable PURGEBUS_TIMEOUT"}},
		{name: "invocation flags ignore the environment", args: []string{"invalidate", "--tag", "https://a.example/"},
			env: map[string]string{"PURGEBUS_CPCODE": "true"}, wantCode: exitUsage, wantStderr: []string{"not allowed in a tag"}},
		{name: "user without password", args: []string{"results", "--nats-user", "alice"}, wantCode: exitError, wantStderr: []string{"user and password go together"}},
		{name: "unreachable", args: []string{"results"}, wantCode: exitError, wantStderr: []string{"purge results:", "127.0.0.1:1"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			env := map[string]string{"USER": "tester"}
			for k, v := range noNATS {
				env[k] = v
			}
			for k, v := range tt.env {
				env[k] = v
			}
			o := runCLI(t, env, tt.stdin, tt.args...)
			if o.code != tt.wantCode {
				t.Fatalf("exit %d, want %d\n%s", o.code, tt.wantCode, o)
			}
			for _, w := range tt.wantStdout {
				if !strings.Contains(o.stdout, w) {
					t.Errorf("stdout lacks %q\n%s", w, o)
				}
			}
			for _, w := range tt.wantStderr {
				if !strings.Contains(o.stderr, w) {
					t.Errorf("stderr lacks %q\n%s", w, o)
				}
			}
			if tt.wantCode == exitOK && o.stderr != "" {
				t.Errorf("help wrote to stderr:\n%s", o)
			}
		})
	}
}

// TestSecretsNotPrinted checks that credentials in URLs, flags and the
// environment never reach the output, whatever fails.
func TestSecretsNotPrinted(t *testing.T) {
	t.Parallel()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closed := ln.Addr().String()
	ln.Close()
	const secret = "s3cret-value"
	tests := []struct {
		name string
		args []string
		env  map[string]string
	}{
		{name: "user and password in URL", args: []string{"results", "--nats-url", "nats://alice:" + secret + "@" + closed}},
		{name: "token in URL of a list", args: []string{"invalidate", "https://a.example/", "--nats-url", "nats://127.0.0.1:1,nats://" + secret + "@" + closed}},
		{name: "URL from the environment", args: []string{"deadletters", "list"}, env: map[string]string{"NATS_URL": "tls://bob:" + secret + "@" + closed}},
		{name: "password flag", args: []string{"results", "--nats-url", "nats://" + closed, "--nats-user", "alice", "--nats-password", secret}},
		{name: "token in the environment", args: []string{"results", "--nats-url", "nats://" + closed}, env: map[string]string{"PURGEBUS_NATS_TOKEN": secret}},
		{name: "bad value from a secret variable", args: []string{"results", "--nats-url", "nats://" + closed}, env: map[string]string{"PURGEBUS_TIMEOUT": secret}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			o := runCLI(t, tt.env, "", tt.args...)
			if o.code == exitOK {
				t.Fatalf("connected to a closed port?\n%s", o)
			}
			if strings.Contains(o.stdout+o.stderr, secret) {
				t.Fatalf("secret printed:\n%s", o)
			}
		})
	}
}

func TestParseInterspersed(t *testing.T) {
	t.Parallel()
	tests := []struct {
		args     []string
		wantPos  []string
		wantTag  bool
		wantWait bool
		wantSrc  string
	}{
		{args: []string{"--tag", "a", "b"}, wantPos: []string{"a", "b"}, wantTag: true},
		{args: []string{"a", "b", "--wait"}, wantPos: []string{"a", "b"}, wantWait: true},
		{args: []string{"a", "--source", "cms", "b", "--tag"}, wantPos: []string{"a", "b"}, wantTag: true, wantSrc: "cms"},
		{args: []string{"--tag", "--", "-a", "--wait"}, wantPos: []string{"-a", "--wait"}, wantTag: true},
		{args: []string{"a", "--", "--wait"}, wantPos: []string{"a", "--wait"}},
		{args: []string{"--source=x", "a"}, wantPos: []string{"a"}, wantSrc: "x"},
		{args: nil, wantPos: nil},
	}
	for _, tt := range tests {
		fs := flag.NewFlagSet("t", flag.ContinueOnError)
		fs.SetOutput(io.Discard)
		tag := fs.Bool("tag", false, "")
		wait := fs.Bool("wait", false, "")
		src := fs.String("source", "", "")
		pos, err := parseInterspersed(fs, tt.args)
		if err != nil {
			t.Errorf("%q: %v", tt.args, err)
			continue
		}
		if !slices.Equal(pos, tt.wantPos) || *tag != tt.wantTag || *wait != tt.wantWait || *src != tt.wantSrc {
			t.Errorf("%q: positional %q tag %v wait %v source %q; want %q %v %v %q", tt.args, pos, *tag, *wait, *src, tt.wantPos, tt.wantTag, tt.wantWait, tt.wantSrc)
		}
	}
}

func TestSinceFlag(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)
	for in, want := range map[string]time.Time{
		"1h":                   now.Add(-time.Hour),
		"90s":                  now.Add(-90 * time.Second),
		"7d":                   now.Add(-7 * 24 * time.Hour),
		"2026-11-24T08:00:00Z": time.Date(2026, 11, 24, 8, 0, 0, 0, time.UTC),
	} {
		s := sinceFlag{now: func() time.Time { return now }}
		if err := s.Set(in); err != nil || !s.t.Equal(want) {
			t.Errorf("--since %s = %v, %v; want %v", in, s.t, err, want)
		}
	}
	for _, in := range []string{"", "yesterday", "-1h", "1.5d", "d"} {
		s := sinceFlag{now: time.Now}
		if err := s.Set(in); err == nil {
			t.Errorf("--since %q accepted", in)
		}
	}
}

// TestSplit checks that split keeps every object, in order, and that no
// event, with the longest ID, exceeds the limit.
func TestSplit(t *testing.T) {
	t.Parallel()
	var urls []string
	for i := range 200 {
		urls = append(urls, "https://www.example.com/"+strings.Repeat("p", i%50)+"?a=1&b=<2>")
	}
	base := events.NewContentChanged("purge-cli:tester@host").WithAction(akamai.ActionDelete).WithNetwork(akamai.NetworkStaging)
	for _, limit := range []int{1024, 4096, events.DefaultMaxEventBytes} {
		evs, err := split(base, akamai.TypeURL, urls, nil, limit)
		if err != nil {
			t.Fatal(err)
		}
		var got []string
		for _, e := range evs {
			e.ID = strings.Repeat("i", events.MaxIDLength)
			data, err := e.Encode()
			if err != nil {
				t.Fatal(err)
			}
			if len(data) > limit {
				t.Errorf("limit %d: event of %d bytes", limit, len(data))
			}
			if e.Action != akamai.ActionDelete || e.Network != akamai.NetworkStaging || e.Source != base.Source {
				t.Errorf("split lost the event's fields: %+v", e)
			}
			got = append(got, e.URLs...)
		}
		if !slices.Equal(got, urls) {
			t.Errorf("limit %d: objects changed", limit)
		}
		if limit == events.DefaultMaxEventBytes && len(evs) != 1 {
			t.Errorf("%d events for a small list, want 1", len(evs))
		}
		if limit == 1024 && len(evs) < 10 {
			t.Errorf("limit 1024: only %d events", len(evs))
		}
	}
	codes := []int64{12345, 67890}
	evs, err := split(base, akamai.TypeCPCode, []string{"12345", "67890"}, codes, 1024)
	if err != nil || len(evs) != 1 || !slices.Equal(evs[0].CPCodes, codes) {
		t.Errorf("CP codes: %v, %v", evs, err)
	}
}

func TestReplaySubject(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct{ original, override, want string }{
		{"content.changed.blog", "", "content.changed.blog"},
		{"content.changed", "", "content.changed"},
		{"", "", "content.changed"},
		{"legacy.purge", "", "content.changed"},
		{"content.changed.blog", "content.changed.replayed", "content.changed.replayed"},
	} {
		if got := replaySubject(tt.original, tt.override); got != tt.want {
			t.Errorf("replaySubject(%q, %q) = %q, want %q", tt.original, tt.override, got, tt.want)
		}
	}
}

// TestAuthenticatedNATS runs the CLI against a NATS server that requires
// a user and password, given the way an operator would: in the
// environment, here natscli's NATS_PASSWORD.
func TestAuthenticatedNATS(t *testing.T) {
	const password = "pw-0f9c2e"
	r := newAuthRig(t, handler.Config{}, bus.EmbeddedConfig{User: "purger", Password: password}, bus.ConnectConfig{User: "purger", Password: password})
	r.env["PURGEBUS_NATS_USER"] = "purger"
	r.env["NATS_PASSWORD"] = password
	if o := r.run("", "invalidate", "--wait", "https://www.example.com/auth"); o.code != exitOK {
		t.Fatal(o)
	}
	r.env["NATS_PASSWORD"] = "wrong-" + password
	o := r.run("", "results")
	if o.code != exitError || !strings.Contains(o.stderr, `as user "purger"`) || strings.Contains(o.stdout+o.stderr, password) {
		t.Fatalf("wrong password: %s", o)
	}
}
