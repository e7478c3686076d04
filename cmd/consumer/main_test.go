package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/purgebus/purgebus/events"
)

// syncBuffer is a goroutine-safe stderr for run.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// env is a lookupEnv over a map: tests never see the machine's variables
// (or its ~/.edgerc, which AKAMAI_EDGERC points away from).
func env(t *testing.T, vars map[string]string) func(string) (string, bool) {
	t.Helper()
	m := map[string]string{"AKAMAI_EDGERC": filepath.Join(t.TempDir(), "no-such-edgerc")}
	for k, v := range vars {
		m[k] = v
	}
	return func(k string) (string, bool) {
		v, ok := m[k]
		return v, ok
	}
}

// freeAddr returns a loopback address with a port that was free a moment
// ago.
func freeAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	return addr
}

func portFree(addr string) bool {
	l, err := net.Listen("tcp", addr)
	if err != nil {
		return false
	}
	l.Close()
	return true
}

func runFor(t *testing.T, args []string, vars map[string]string) (string, error) {
	t.Helper()
	var out syncBuffer
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	err := run(ctx, args, env(t, vars), &out)
	return out.String(), err
}

func TestRunWithoutCredentialsTouchesNothing(t *testing.T) {
	dir := t.TempDir()
	defaultOnly := filepath.Join(dir, "edgerc-default-only")
	if err := os.WriteFile(defaultOnly, []byte("[default]\nhost = akab-x.luna.akamaiapis.net\nclient_token = akab-ct\nclient_secret = cs\naccess_token = akab-at\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name        string
		args        []string
		vars        map[string]string
		missing     []string
		present     []string // fields that must not be reported missing
		lookedAt    string   // where it says it looked
		notInOutput []string
	}{
		{
			name:     "no edgerc, no environment",
			missing:  []string{"host", "client_token", "client_secret", "access_token"},
			lookedAt: "no-such-edgerc",
		},
		{
			name:     "edgerc without the ccu section",
			args:     []string{"--edgerc", defaultOnly},
			missing:  []string{"host", "client_token", "client_secret", "access_token"},
			lookedAt: defaultOnly,
		},
		{
			name:        "partial environment",
			vars:        map[string]string{"AKAMAI_HOST": "akab-h.luna.akamaiapis.net", "AKAMAI_CLIENT_SECRET": "s3cr3t-XYZ="},
			missing:     []string{"client_token", "access_token"},
			present:     []string{"host", "client_secret"},
			lookedAt:    "no-such-edgerc",
			notInOutput: []string{"s3cr3t-XYZ="},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dataDir := filepath.Join(t.TempDir(), "data")
			addr := freeAddr(t)
			args := append([]string{"--data-dir", dataDir, "--nats-listen", addr, "--log-level", "debug"}, tc.args...)
			out, err := runFor(t, args, tc.vars)
			if err == nil {
				t.Fatal("run succeeded without credentials")
			}
			msg := err.Error()
			for _, f := range tc.missing {
				if !strings.Contains(msg, f) {
					t.Errorf("error %q does not name missing %s", msg, f)
				}
			}
			_, list, _ := strings.Cut(msg, "missing credentials: ")
			list, _, _ = strings.Cut(list, " (")
			for _, f := range tc.present {
				if strings.Contains(list, f) {
					t.Errorf("error reports %s missing, which the environment set: %q", f, msg)
				}
			}
			if !strings.Contains(msg, "--sandbox") || !strings.Contains(msg, tc.lookedAt) {
				t.Errorf("error %q should mention --sandbox and where it looked (%s)", msg, tc.lookedAt)
			}
			for _, s := range tc.notInOutput {
				if strings.Contains(msg, s) || strings.Contains(out, s) {
					t.Errorf("a secret leaked into the error or output")
				}
			}
			if _, err := os.Stat(dataDir); !errors.Is(err, os.ErrNotExist) {
				t.Errorf("data dir %s was created (stat: %v)", dataDir, err)
			}
			if strings.Contains(out, "embedded NATS started") || !portFree(addr) {
				t.Errorf("the NATS port was touched:\n%s", out)
			}
		})
	}
}

// flagEnv is the public contract: every flag and its environment variable.
var flagEnv = map[string]string{
	"nats-url":           "NATS_URL",
	"nats-listen":        "PURGEBUS_NATS_LISTEN",
	"nats-creds":         "NATS_CREDS",
	"data-dir":           "PURGEBUS_DATA_DIR",
	"edgerc":             "AKAMAI_EDGERC",
	"section":            "AKAMAI_EDGERC_SECTION",
	"account-key":        "AKAMAI_ACCOUNT_KEY",
	"akamai-url":         "PURGEBUS_AKAMAI_URL",
	"sandbox":            "PURGEBUS_SANDBOX",
	"stream":             "PURGEBUS_STREAM",
	"result-stream":      "PURGEBUS_RESULT_STREAM",
	"deadletter-stream":  "PURGEBUS_DEADLETTER_STREAM",
	"durable":            "PURGEBUS_DURABLE",
	"in-flight":          "PURGEBUS_IN_FLIGHT",
	"linger":             "PURGEBUS_LINGER",
	"max-event-bytes":    "PURGEBUS_MAX_EVENT_BYTES",
	"max-attempts":       "PURGEBUS_MAX_ATTEMPTS",
	"requests-in-flight": "PURGEBUS_REQUESTS_IN_FLIGHT",
	"shutdown-timeout":   "PURGEBUS_SHUTDOWN_TIMEOUT",
	"log-format":         "PURGEBUS_LOG_FORMAT",
	"log-level":          "PURGEBUS_LOG_LEVEL",
	"print-config":       "PURGEBUS_PRINT_CONFIG",
}

func TestHelpListsEveryFlagWithItsVariable(t *testing.T) {
	for _, arg := range []string{"--help", "-h"} {
		out, err := runFor(t, []string{arg}, nil)
		if !errors.Is(err, flag.ErrHelp) {
			t.Fatalf("run(%s) = %v, want flag.ErrHelp", arg, err)
		}
		for name, envVar := range flagEnv {
			if !strings.Contains(out, "--"+name+" ["+envVar+"]") {
				t.Errorf("%s output lacks --%s [%s]", arg, name, envVar)
			}
		}
		// Flags added later must name their variable too.
		for _, line := range strings.Split(out, "\n") {
			name, rest, ok := strings.Cut(strings.TrimPrefix(line, "  --"), " [")
			if !strings.HasPrefix(line, "  --") {
				continue
			}
			if !ok || rest != envName(name)+"]" || !strings.HasPrefix(rest, "AKAMAI_") && !strings.HasPrefix(rest, "NATS_") && !strings.HasPrefix(rest, "PURGEBUS_") {
				t.Errorf("%s: flag line %q does not end with its environment variable", arg, line)
			}
		}
		for _, v := range []string{"AKAMAI_HOST", "AKAMAI_CLIENT_TOKEN", "AKAMAI_CLIENT_SECRET", "AKAMAI_ACCESS_TOKEN"} {
			if !strings.Contains(out, v) {
				t.Errorf("%s output does not mention %s", arg, v)
			}
		}
	}
}

// printedConfig runs --print-config and decodes what it prints.
func printedConfig(t *testing.T, args []string, vars map[string]string) (map[string]any, string) {
	t.Helper()
	out, err := runFor(t, append([]string{"--print-config"}, args...), vars)
	if err != nil {
		t.Fatalf("run: %v\n%s", err, out)
	}
	i := strings.Index(out, "{\n")
	if i < 0 {
		t.Fatalf("no JSON in output:\n%s", out)
	}
	var cfg map[string]any
	if err := json.NewDecoder(strings.NewReader(out[i:])).Decode(&cfg); err != nil {
		t.Fatalf("printed config is not JSON: %v\n%s", err, out)
	}
	return cfg, out
}

func TestEnvironmentSetsFlagsAndFlagsWin(t *testing.T) {
	for _, tc := range []struct {
		name string
		args []string
		vars map[string]string
		key  string
		want any
	}{
		{"default linger", nil, nil, "linger", "50ms"},
		{"env linger", nil, map[string]string{"PURGEBUS_LINGER": "75ms"}, "linger", "75ms"},
		{"flag beats env", []string{"--linger", "90ms"}, map[string]string{"PURGEBUS_LINGER": "75ms"}, "linger", "90ms"},
		{"env in-flight", nil, map[string]string{"PURGEBUS_IN_FLIGHT": "250"}, "in_flight", 250.0},
		{"env stream", nil, map[string]string{"PURGEBUS_STREAM": "EVENTS"}, "stream", "EVENTS"},
		{"env NATS URL", nil, map[string]string{"NATS_URL": "nats://10.0.0.1:4222"}, "nats_url", "nats://10.0.0.1:4222"},
		{"blank env is unset", nil, map[string]string{"PURGEBUS_LINGER": ""}, "linger", "50ms"},
		{"env shutdown timeout", nil, map[string]string{"PURGEBUS_SHUTDOWN_TIMEOUT": "3s"}, "shutdown_timeout", "3s"},
		{"env sandbox", []string{}, map[string]string{"PURGEBUS_SANDBOX": "true"}, "sandbox", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			args := tc.args
			if _, ok := tc.vars["PURGEBUS_SANDBOX"]; !ok {
				args = append([]string{"--sandbox"}, args...)
			}
			cfg, _ := printedConfig(t, args, tc.vars)
			if got := cfg[tc.key]; got != tc.want {
				t.Errorf("%s = %#v, want %#v", tc.key, got, tc.want)
			}
		})
	}
}

func TestBadValuesAreNamed(t *testing.T) {
	for _, tc := range []struct {
		name string
		args []string
		vars map[string]string
		want string
	}{
		{"env duration", nil, map[string]string{"PURGEBUS_LINGER": "soon"}, "PURGEBUS_LINGER"},
		{"env int", nil, map[string]string{"PURGEBUS_IN_FLIGHT": "many"}, "PURGEBUS_IN_FLIGHT"},
		{"env bool", nil, map[string]string{"PURGEBUS_SANDBOX": "maybe"}, "PURGEBUS_SANDBOX"},
		{"flag duration", []string{"--linger", "soon"}, nil, "linger"},
		{"log format", []string{"--log-format", "xml"}, nil, "log-format"},
		{"log level", []string{"--log-level", "loud"}, nil, "log-level"},
		{"stray argument", []string{"--sandbox", "extra"}, nil, "extra"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out, err := runFor(t, append([]string{"--sandbox", "--print-config"}, tc.args...), tc.vars)
			if err == nil {
				t.Fatalf("run succeeded:\n%s", out)
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %q does not name %s", err, tc.want)
			}
		})
	}
}

func TestPrintConfigRedactsSecrets(t *testing.T) {
	secrets := []string{"s3cr3t-XYZ=", "akab-client-token-XYZ", "akab-access-token-XYZ", "hunter2"}
	vars := map[string]string{
		"AKAMAI_HOST":          "akab-host-XYZ.luna.akamaiapis.net",
		"AKAMAI_CLIENT_TOKEN":  "akab-client-token-XYZ",
		"AKAMAI_CLIENT_SECRET": "s3cr3t-XYZ=",
		"AKAMAI_ACCESS_TOKEN":  "akab-access-token-XYZ",
	}
	for _, tc := range []struct {
		name string
		args []string
	}{
		{"credentials from the environment", nil},
		{"password in the NATS URL", []string{"--nats-url", "nats://purge:hunter2@10.0.0.1:4222,nats://purge:hunter2@10.0.0.2:4222"}},
		{"token in the NATS URL", []string{"--nats-url", "nats://hunter2@10.0.0.1:4222"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg, out := printedConfig(t, tc.args, vars)
			for _, s := range secrets {
				if strings.Contains(out, s) {
					t.Errorf("--print-config output contains the secret %q:\n%s", s, out)
				}
			}
			if a, _ := cfg["akamai"].(string); !strings.Contains(a, "akab-host-XYZ.luna.akamaiapis.net") {
				t.Errorf("akamai = %q, want the (non-secret) host shown", a)
			}
			if cfg["sandbox"] != false {
				t.Errorf("sandbox = %v", cfg["sandbox"])
			}
			if tc.args != nil {
				if u, _ := cfg["nats_url"].(string); !strings.Contains(u, "10.0.0.1:4222") {
					t.Errorf("nats_url = %q, want the servers shown", u)
				}
			}
		})
	}
}

// TestSandboxEndToEnd runs the consumer as main does, publishes an event
// to its embedded NATS and waits for the result, then shuts it down.
func TestSandboxEndToEnd(t *testing.T) {
	const shutdownTimeout = 5 * time.Second
	addr := freeAddr(t)
	dataDir := filepath.Join(t.TempDir(), "data")
	var out syncBuffer
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	go func() {
		done <- run(ctx, []string{"--sandbox", "--nats-listen", addr, "--data-dir", dataDir,
			"--shutdown-timeout", shutdownTimeout.String(), "--linger", "10ms"}, env(t, nil), &out)
	}()
	defer func() {
		if t.Failed() {
			t.Logf("consumer output:\n%s", out.String())
		}
	}()

	var nc *nats.Conn
	deadline := time.Now().Add(30 * time.Second)
	for {
		var err error
		if nc, err = nats.Connect("nats://" + addr); err == nil {
			break
		}
		select {
		case err := <-done:
			t.Fatalf("run returned early: %v", err)
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("embedded NATS not reachable at %s: %v", addr, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
	defer nc.Close()
	results, err := nc.SubscribeSync("purge.result.>")
	if err != nil {
		t.Fatal(err)
	}
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	payload := []byte(`{"id":"sandbox-1","urls":["https://www.example.com/a","https://www.example.com/b?x=1&y=2"],"tags":["news"],"source":"test"}`)
	for {
		pctx, pcancel := context.WithTimeout(context.Background(), 2*time.Second)
		_, err := js.Publish(pctx, "content.changed.test", payload)
		pcancel()
		if err == nil {
			break
		}
		if time.Now().After(deadline) { // the streams are provisioned after NATS starts
			t.Fatalf("publish: %v", err)
		}
		time.Sleep(20 * time.Millisecond)
	}
	msg, err := results.NextMsg(20 * time.Second)
	if err != nil {
		t.Fatalf("no result: %v", err)
	}
	if msg.Subject != "purge.result.succeeded.sandbox-1" {
		t.Errorf("result on %s", msg.Subject)
	}
	res, err := events.DecodeResult(msg.Data)
	if err != nil {
		t.Fatal(err)
	}
	if res.EventID != "sandbox-1" || res.Outcome != events.OutcomeSucceeded || res.Source != "test" || len(res.Purges) != 2 || res.EstimatedCompleteAt.IsZero() {
		t.Errorf("result %s", msg.Data)
	}
	for _, p := range res.Purges {
		if !strings.HasPrefix(p.PurgeID, "ed") || p.HTTPStatus != 201 {
			t.Errorf("purge %+v", p)
		}
	}

	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("run after cancel = %v, want nil", err)
		}
	case <-time.After(shutdownTimeout + 10*time.Second):
		t.Fatalf("run did not return within the shutdown timeout (%v)", shutdownTimeout)
	}
	if !strings.Contains(out.String(), "SANDBOX MODE") {
		t.Error("no sandbox banner")
	}
	if fi, err := os.Stat(dataDir); err != nil || !fi.IsDir() {
		t.Errorf("data dir %s not created: %v", dataDir, err)
	}
	if !portFree(addr) {
		t.Errorf("port %s still bound after run returned", addr)
	}
}
