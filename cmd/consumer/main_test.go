package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"io"
	"math"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/purgebus/purgebus/bus"
	"github.com/purgebus/purgebus/events"
	"github.com/purgebus/purgebus/internal/testcert"
	"github.com/purgebus/purgebus/internal/testlog"
	"github.com/purgebus/purgebus/internal/testproc"
	"github.com/purgebus/purgebus/internal/testwait"
)

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
	var out testlog.Buffer
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
			addr := testproc.FreeAddr(t)
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
	// natscli's names second (nats --help), so a natscli environment works.
	"nats-nkey":            "PURGEBUS_NATS_NKEY, NATS_NKEY",
	"nats-user":            "PURGEBUS_NATS_USER, NATS_USER",
	"nats-password":        "PURGEBUS_NATS_PASSWORD, NATS_PASSWORD",
	"nats-token":           "PURGEBUS_NATS_TOKEN, NATS_TOKEN",
	"nats-tls-ca":          "PURGEBUS_NATS_TLS_CA, NATS_CA",
	"nats-tls-cert":        "PURGEBUS_NATS_TLS_CERT, NATS_CERT",
	"nats-tls-key":         "PURGEBUS_NATS_TLS_KEY, NATS_KEY",
	"nats-listen-user":     "PURGEBUS_NATS_LISTEN_USER",
	"nats-listen-password": "PURGEBUS_NATS_LISTEN_PASSWORD",
	"nats-listen-token":    "PURGEBUS_NATS_LISTEN_TOKEN",
	"provision":            "PURGEBUS_PROVISION",
	"stream-replicas":      "PURGEBUS_STREAM_REPLICAS",
	"result-max-age":       "PURGEBUS_RESULT_MAX_AGE",
	"deadletter-max-age":   "PURGEBUS_DEADLETTER_MAX_AGE",
	"result-max-bytes":     "PURGEBUS_RESULT_MAX_BYTES",
	"deadletter-max-bytes": "PURGEBUS_DEADLETTER_MAX_BYTES",
	"result-duplicates":    "PURGEBUS_RESULT_DUPLICATES",
	"ack-wait":             "PURGEBUS_ACK_WAIT",
	"memory-limit":         "PURGEBUS_MEMORY_LIMIT",
	"unpaced":              "PURGEBUS_UNPACED",
	"batch-publish":        "PURGEBUS_BATCH_PUBLISH",
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
			if !ok || rest != strings.Join(envNames(name), ", ")+"]" || !strings.HasPrefix(rest, "AKAMAI_") && !strings.HasPrefix(rest, "NATS_") && !strings.HasPrefix(rest, "PURGEBUS_") {
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
	secrets := []string{"s3cr3t-XYZ=", "akab-client-token-XYZ", "akab-access-token-XYZ", "hunter2", "tok-XYZ", "listen-pw-XYZ", "listen-tok-XYZ"}
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
		{"NATS password flag", []string{"--nats-url", "nats://10.0.0.1:4222", "--nats-user", "purge", "--nats-password", "hunter2"}},
		{"NATS token flag", []string{"--nats-url", "nats://10.0.0.1:4222", "--nats-token", "tok-XYZ"}},
		{"embedded server password", []string{"--nats-listen-user", "purge", "--nats-listen-password", "listen-pw-XYZ"}},
		{"embedded server token", []string{"--nats-listen", "0.0.0.0:4222", "--nats-listen-token", "listen-tok-XYZ"}},
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
			if tc.args != nil && tc.args[0] == "--nats-url" {
				if u, _ := cfg["nats_url"].(string); !strings.Contains(u, "10.0.0.1:4222") {
					t.Errorf("nats_url = %q, want the servers shown", u)
				}
			}
			// Set secrets show that they are set.
			for _, k := range []string{"nats_password", "nats_token", "nats_listen_password", "nats_listen_token"} {
				if v := cfg[k]; v != "" && v != "[redacted]" {
					t.Errorf("%s = %v", k, v)
				}
			}
			if strings.Contains(strings.Join(tc.args, " "), "password") && cfg["nats_password"] != "[redacted]" && cfg["nats_listen_password"] != "[redacted]" {
				t.Errorf("a password was set but the configuration shows none:\n%s", out)
			}
		})
	}
}

// TestSandboxEndToEnd runs the consumer as main does, publishes an event
// to its embedded NATS and waits for the result, then shuts it down.
func TestSandboxEndToEnd(t *testing.T) {
	const shutdownTimeout = 5 * time.Second
	addr, httpAddr := testproc.FreeAddr(t), testproc.FreeAddr(t)
	dataDir := filepath.Join(t.TempDir(), "data")
	var out testlog.Buffer
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	go func() {
		done <- run(ctx, []string{"--sandbox", "--nats-listen", addr, "--data-dir", dataDir,
			"--shutdown-timeout", shutdownTimeout.String(), "--linger", "10ms", "--http-addr", httpAddr}, env(t, nil), &out)
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
	// The operator's view: alive, ready, and the event counted.
	for _, tc := range []struct{ path, want string }{
		{"/healthz", `"status":"ok"`},
		{"/readyz", `"status":"ok"`},
		{"/metrics", `purgebus_events_finished_total{outcome="succeeded"} 1`},
		{"/metrics", `purgebus_purge_requests_total{action="invalidate",network="production",status="201",type="url"} 1`},
	} {
		body := httpGet(t, "http://"+httpAddr+tc.path, func(b string) bool { return strings.Contains(b, tc.want) })
		if !strings.Contains(body, tc.want) {
			t.Errorf("%s lacks %s:\n%s", tc.path, tc.want, body)
		}
	}
	if resp, err := http.Get("http://" + httpAddr + "/debug/pprof/"); err == nil {
		resp.Body.Close()
		if resp.StatusCode != http.StatusNotFound {
			t.Errorf("pprof answered %d without --pprof", resp.StatusCode)
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
	// Batches by default, and the subscriber of purge.result.> received
	// the result alone: no batch control message.
	if !strings.Contains(out.String(), "results published in fast batches") {
		t.Error("the log does not say that results go in fast batches")
	}
	if m, err := results.NextMsg(100 * time.Millisecond); err == nil {
		t.Errorf("a second message on %s after the only result: %q", m.Subject, m.Data)
	}
	if fi, err := os.Stat(dataDir); err != nil || !fi.IsDir() {
		t.Errorf("data dir %s not created: %v", dataDir, err)
	}
	if !portFree(addr) {
		t.Errorf("port %s still bound after run returned", addr)
	}
}

// TestNATSFlags: every NATS flag reaches the configuration, from the flag,
// PURGEBUS_NATS_… or natscli's variable, in that order of precedence.
func TestNATSFlags(t *testing.T) {
	url := []string{"--nats-url", "nats://10.0.0.1:4222"}
	for _, tc := range []struct {
		name string
		args []string
		vars map[string]string
		want map[string]any
	}{
		{"natscli environment", url, map[string]string{
			"NATS_USER": "cli-user", "NATS_PASSWORD": "pw", "NATS_CA": "/ca.pem", "NATS_CERT": "/c.pem", "NATS_KEY": "/k.pem",
		}, map[string]any{"nats_user": "cli-user", "nats_password": "[redacted]", "nats_tls_ca": "/ca.pem", "nats_tls_cert": "/c.pem", "nats_tls_key": "/k.pem"}},
		{"PURGEBUS_ beats natscli", url, map[string]string{
			"NATS_USER": "cli-user", "PURGEBUS_NATS_USER": "pb-user", "PURGEBUS_NATS_PASSWORD": "pw", "NATS_TLS_CA": "/ignored.pem",
		}, map[string]any{"nats_user": "pb-user", "nats_tls_ca": ""}},
		{"flag beats both", append([]string{"--nats-user", "flag-user"}, url...), map[string]string{
			"NATS_USER": "cli-user", "PURGEBUS_NATS_USER": "pb-user", "NATS_PASSWORD": "pw",
		}, map[string]any{"nats_user": "flag-user"}},
		{"token", url, map[string]string{"NATS_TOKEN": "t"}, map[string]any{"nats_token": "[redacted]", "nats_user": ""}},
		{"nkey", url, map[string]string{"NATS_NKEY": "/seed.nk"}, map[string]any{"nats_nkey": "/seed.nk"}},
		{"creds", url, map[string]string{"NATS_CREDS": "/u.creds"}, map[string]any{"nats_creds": "/u.creds"}},
		{"TLS first and inbox prefix", append([]string{"--nats-tls-first"}, url...), map[string]string{"PURGEBUS_NATS_INBOX_PREFIX": "_INBOX_purgebus"},
			map[string]any{"nats_tls_first": true, "nats_inbox_prefix": "_INBOX_purgebus"}},
		{"TLS server name", url, map[string]string{"PURGEBUS_NATS_TLS_SERVER_NAME": "nats.example.com"},
			map[string]any{"nats_tls_server_name": "nats.example.com"}},
		{"streams", append([]string{"--stream-replicas", "3", "--result-max-age", "24h", "--deadletter-max-bytes", "2000000"}, url...),
			map[string]string{"PURGEBUS_DEADLETTER_MAX_AGE": "2160h", "PURGEBUS_RESULT_MAX_BYTES": "5000000"},
			map[string]any{"stream_replicas": 3.0, "result_max_age": "24h0m0s", "deadletter_max_age": "2160h0m0s", "result_max_bytes": 5e6, "deadletter_max_bytes": 2e6}},
		{"stream defaults", nil, nil, map[string]any{"stream_replicas": 1.0, "result_max_age": "168h0m0s", "deadletter_max_age": "720h0m0s",
			"result_max_bytes": float64(bus.DefaultEmbeddedResultMaxBytes), "result_duplicates": bus.DefaultEmbeddedResultDuplicates.String(), "ack_wait": "45s"}},
		{"stream defaults with --nats-url", url, nil, map[string]any{"result_max_bytes": 0.0, "result_duplicates": "2m0s", "deadletter_max_bytes": 0.0}},
		{"embedded without a result bound", []string{"--result-max-bytes", "0"}, nil, map[string]any{"result_max_bytes": 0.0}},
		{"sizes with units", append([]string{"--result-max-bytes", "16MiB", "--deadletter-max-bytes", "1GiB"}, url...), nil,
			map[string]any{"result_max_bytes": float64(16 << 20), "deadletter_max_bytes": float64(1 << 30)}},
		{"result duplicates and ack wait", nil, map[string]string{"PURGEBUS_RESULT_DUPLICATES": "1m", "PURGEBUS_ACK_WAIT": "40s"},
			map[string]any{"result_duplicates": "1m0s", "ack_wait": "40s"}},
		{"unpaced", []string{"--unpaced"}, nil, map[string]any{"unpaced": true}},
		{"paced by default", nil, nil, map[string]any{"unpaced": false}},
		{"batches by default", nil, nil, map[string]any{"batch_publish": true}},
		{"batches off", []string{"--batch-publish=false"}, nil, map[string]any{"batch_publish": false}},
		{"batches off from the environment", nil, map[string]string{"PURGEBUS_BATCH_PUBLISH": "false"}, map[string]any{"batch_publish": false}},
		{"embedded is always provisioned", []string{"--provision=false"}, nil, map[string]any{"provision": true}},
		{"existing NATS is verified", url, nil, map[string]any{"provision": false}},
		{"existing NATS provisioned", url, map[string]string{"PURGEBUS_PROVISION": "true"}, map[string]any{"provision": true}},
		{"embedded with auth", []string{"--nats-listen", "0.0.0.0:4222"}, map[string]string{"PURGEBUS_NATS_LISTEN_USER": "u", "PURGEBUS_NATS_LISTEN_PASSWORD": "p"},
			map[string]any{"nats_listen": "0.0.0.0:4222", "nats_listen_user": "u", "nats_listen_password": "[redacted]"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg, out := printedConfig(t, append([]string{"--sandbox"}, tc.args...), tc.vars)
			for k, want := range tc.want {
				if got := cfg[k]; got != want {
					t.Errorf("%s = %#v, want %#v\n%s", k, got, want, out)
				}
			}
		})
	}
}

// TestNATSFlagMistakes: flags that cannot work together are refused with
// the flags named, before anything starts.
func TestNATSFlagMistakes(t *testing.T) {
	url := []string{"--nats-url", "nats://10.0.0.1:4222"}
	for _, tc := range []struct {
		name string
		args []string
		vars map[string]string
		want []string
	}{
		{"client credentials without --nats-url", []string{"--nats-user", "u", "--nats-password", "p"}, nil,
			[]string{"--nats-user, --nats-password apply only with --nats-url", "--nats-listen-user"}},
		{"natscli environment without --nats-url", nil, map[string]string{"NATS_CREDS": "/u.creds"}, []string{"--nats-creds"}},
		{"listen credentials with --nats-url", append([]string{"--nats-listen-token", "t"}, url...), nil, []string{"--nats-listen-token applies only to the embedded server"}},
		{"open network without auth", []string{"--nats-listen", "0.0.0.0:4222"}, nil, []string{"--nats-listen 0.0.0.0:4222", "needs authentication", "--nats-listen-user and --nats-listen-password, or --nats-listen-token"}},
		{"every interface without auth", []string{"--nats-listen", ":4222"}, nil, []string{"needs authentication"}},
		{"LAN address without auth", []string{"--nats-listen", "192.168.1.10:4222"}, nil, []string{"needs authentication"}},
		{"listen user without password", []string{"--nats-listen-user", "u"}, nil, []string{"user and password"}},
		{"replicas on the embedded server", []string{"--stream-replicas", "3"}, nil, []string{"--stream-replicas 3 needs a NATS cluster"}},
		{"no replicas", append([]string{"--stream-replicas", "0"}, url...), nil, []string{"--stream-replicas must be at least 1"}},
		{"user without password", append([]string{"--nats-user", "u"}, url...), nil, []string{"user and password go together"}},
		{"two ways to authenticate", append([]string{"--nats-token", "t", "--nats-creds", "/u.creds"}, url...), nil, []string{"choose one"}},
		{"certificate without key", append([]string{"--nats-tls-cert", "/c.pem"}, url...), nil, []string{"certificate and key"}},
		{"inbox prefix with a wildcard", append([]string{"--nats-inbox-prefix", "_INBOX.>"}, url...), nil, []string{`inbox prefix "_INBOX.>"`}},
		{"TLS first without --nats-url", []string{"--nats-tls-first"}, nil, []string{"--nats-tls-first applies only with --nats-url"}},
		{"no retention", append([]string{"--result-max-age", "0s"}, url...), nil, []string{"--result-max-age must be positive"}},
		{"negative size", append([]string{"--deadletter-max-bytes", "-1"}, url...), nil, []string{"--deadletter-max-bytes must be 0"}},
		{"no duplicate window", []string{"--result-duplicates", "0s"}, nil, []string{"--result-duplicates must be positive"}},
		{"too short a duplicate window", []string{"--result-duplicates", "10ms"}, nil, []string{"--result-duplicates must be at least 100ms"}},
		{"no ack wait", []string{"--ack-wait", "0s"}, nil, []string{"--ack-wait must be from 35s"}},
		{"negative memory limit", []string{"--memory-limit", "-1"}, nil, []string{"--memory-limit must be 0"}},
		{"unbounded deliveries", []string{"--max-deliver", "-1"}, nil, []string{"max-deliver must be from 1 to 1000000"}},
		{"no deliveries", []string{"--max-deliver", "0"}, nil, []string{"max-deliver must be from 1 to 1000000"}},
		{"no stuck threshold", []string{"--stuck-after", "0s"}, nil, []string{"stuck-after must be from 1s to 168h0m0s"}},
		{"stuck threshold from the environment", nil, map[string]string{"PURGEBUS_STUCK_AFTER": "-5m"}, []string{"PURGEBUS_STUCK_AFTER (--stuck-after) must be from 1s to 168h0m0s"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out, err := runFor(t, append([]string{"--sandbox", "--print-config"}, tc.args...), tc.vars)
			if err == nil {
				t.Fatalf("run succeeded:\n%s", out)
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not say %q", err, w)
				}
			}
		})
	}
	// Refused before the port or the data directory is touched.
	addr := testproc.FreeAddr(t)
	_, port, _ := net.SplitHostPort(addr)
	dataDir := filepath.Join(t.TempDir(), "data")
	out, err := runFor(t, []string{"--sandbox", "--nats-listen", "0.0.0.0:" + port, "--data-dir", dataDir}, nil)
	if err == nil || !strings.Contains(err.Error(), "needs authentication") {
		t.Fatalf("run on an open address without auth: %v\n%s", err, out)
	}
	if _, err := os.Stat(dataDir); !errors.Is(err, os.ErrNotExist) || !portFree(addr) || strings.Contains(out, "embedded NATS started") {
		t.Errorf("the port or the data directory was touched (stat: %v):\n%s", err, out)
	}
}

// background runs the consumer until the returned stop is called, which
// returns run's error.
func background(t *testing.T, args []string, vars map[string]string) (out *testlog.Buffer, stop func() error) {
	t.Helper()
	out = &testlog.Buffer{}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	// Tests run side by side: no metrics port unless asked for.
	args = append([]string{"--http-addr="}, args...)
	go func() { done <- run(ctx, args, env(t, vars), out) }()
	var once sync.Once
	var err error
	stop = func() error {
		once.Do(func() {
			cancel()
			select {
			case err = <-done:
			case <-time.After(30 * time.Second):
				err = errors.New("run did not return within 30 s of the cancel")
			}
		})
		return err
	}
	t.Cleanup(func() {
		if err := stop(); err != nil {
			t.Errorf("run: %v", err)
		}
		if t.Failed() {
			t.Logf("consumer output:\n%s", out.String())
		}
	})
	return out, stop
}

// purgeOne publishes an event and waits for its result, retrying the
// publish until the consumer's streams exist.
func purgeOne(t *testing.T, nc *nats.Conn, id string) {
	t.Helper()
	results, err := nc.SubscribeSync("purge.result.*." + id)
	if err != nil {
		t.Fatal(err)
	}
	defer results.Unsubscribe()
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		_, err := js.Publish(ctx, "content.changed.test", []byte(`{"id":"`+id+`","urls":["https://www.example.com/`+id+`"]}`))
		cancel()
		if err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("publish: %v", err)
		}
		time.Sleep(50 * time.Millisecond)
	}
	msg, err := results.NextMsg(20 * time.Second)
	if err != nil {
		t.Fatalf("no result for %s: %v", id, err)
	}
	if msg.Subject != "purge.result.succeeded."+id {
		t.Errorf("result on %s", msg.Subject)
	}
}

// TestExistingNATSWithTLSAndPassword runs the consumer against an
// existing JetStream server that requires TLS and a password: a wrong
// password is a clear error; without --provision the missing streams are
// named; --provision creates them with the flags' settings; after that
// the consumer starts without --provision.
func TestExistingNATSWithTLSAndPassword(t *testing.T) {
	dir := t.TempDir()
	authority := testcert.New(t)
	ca := authority.File()
	cert, key := authority.Server("127.0.0.1")
	tc, err := server.GenTLSConfig(&server.TLSConfigOpts{CertFile: cert, KeyFile: key})
	if err != nil {
		t.Fatal(err)
	}
	srv, err := server.NewServer(&server.Options{
		Host: "127.0.0.1", Port: server.RANDOM_PORT, NoSigs: true, NoLog: true,
		JetStream: true, StoreDir: filepath.Join(dir, "js"),
		TLSConfig: tc, TLSTimeout: 5,
		Users: []*server.User{{Username: "purge", Password: "hunter2"}},
	})
	if err != nil {
		t.Fatal(err)
	}
	go srv.Start()
	if !srv.ReadyForConnections(10 * time.Second) {
		t.Fatal("nats-server did not start")
	}
	t.Cleanup(func() { srv.Shutdown(); srv.WaitForShutdown() })
	url := "tls://" + srv.Addr().String()
	args := []string{"--sandbox", "--nats-url", url, "--linger", "10ms", "--shutdown-timeout", "5s"}
	vars := map[string]string{"NATS_USER": "purge", "PURGEBUS_NATS_PASSWORD": "hunter2", "NATS_CA": ca}

	out, err := runFor(t, args, map[string]string{"NATS_USER": "purge", "NATS_PASSWORD": "wrong-pw-XYZ", "NATS_CA": ca})
	t.Logf("wrong password: %v", err)
	if err == nil || !strings.Contains(strings.ToLower(err.Error()), "authorization violation") || !strings.Contains(err.Error(), `as user "purge"`) {
		t.Errorf("wrong password: %v, want an authorization violation naming the user", err)
	}
	if err != nil && (strings.Contains(err.Error()+out, "wrong-pw-XYZ") || strings.Contains(err.Error()+out, "hunter2")) {
		t.Errorf("a password leaked: %v\n%s", err, out)
	}
	out, err = runFor(t, args, map[string]string{"NATS_USER": "purge", "NATS_PASSWORD": "hunter2"})
	if err == nil || !strings.Contains(err.Error(), "certificate") {
		t.Errorf("without the CA: %v, want a certificate error\n%s", err, out)
	}
	t.Logf("without the CA: %v", err)

	out, err = runFor(t, args, vars)
	if err == nil {
		t.Fatalf("started on a server without the streams:\n%s", out)
	}
	t.Logf("without --provision: %v", err)
	for _, w := range []string{"stream CONTENT", "stream PURGE_RESULTS", "stream PURGE_DEADLETTER", "--provision"} {
		if !strings.Contains(err.Error(), w) {
			t.Errorf("error %q does not say %q", err, w)
		}
	}

	nc, err := nats.Connect(url, nats.UserInfo("purge", "hunter2"), nats.RootCAs(ca))
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	if n := streamCount(t, js); n != 0 {
		t.Errorf("%d streams created without --provision", n)
	}

	_, stop := background(t, append([]string{"--provision", "--result-max-age", "1h", "--in-flight", "77"}, args...), vars)
	purgeOne(t, nc, "tls-1")
	if err := stop(); err != nil {
		t.Fatalf("run: %v", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	s, err := js.Stream(ctx, "PURGE_RESULTS")
	if err != nil {
		t.Fatal(err)
	}
	if age := s.CachedInfo().Config.MaxAge; age != time.Hour {
		t.Errorf("result stream max age %v, want --result-max-age 1h", age)
	}

	// Provisioned: starts without --provision, and the durable's own
	// in-flight limit applies.
	out2, stop := background(t, append([]string{"--in-flight", "5"}, args...), vars)
	purgeOne(t, nc, "tls-2")
	if err := stop(); err != nil {
		t.Fatalf("run: %v", err)
	}
	if o := out2.String(); !strings.Contains(o, "in_flight=77") || !strings.Contains(o, "configured_in_flight=5") {
		t.Errorf("the durable's in-flight limit (77) should apply and be logged:\n%s", o)
	}
}

func streamCount(t *testing.T, js jetstream.JetStream) int {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	n := 0
	for range js.StreamNames(ctx).Name() {
		n++
	}
	return n
}

// TestEmbeddedOpenWithPassword opens the embedded server on every
// interface with a password: clients need it, and the consumer's own
// in-process connections have it.
func TestEmbeddedOpenWithPassword(t *testing.T) {
	addr := testproc.FreeAddr(t)
	_, port, _ := net.SplitHostPort(addr)
	_, stop := background(t, []string{"--sandbox", "--nats-listen", "0.0.0.0:" + port, "--data-dir", filepath.Join(t.TempDir(), "data"),
		"--linger", "10ms", "--shutdown-timeout", "5s"},
		map[string]string{"PURGEBUS_NATS_LISTEN_USER": "purge", "PURGEBUS_NATS_LISTEN_PASSWORD": "hunter2"})
	url := "nats://" + addr
	var nc *nats.Conn
	deadline := time.Now().Add(30 * time.Second)
	for {
		var err error
		if nc, err = nats.Connect(url, nats.UserInfo("purge", "hunter2")); err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("embedded NATS not reachable at %s: %v", url, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
	defer nc.Close()
	if _, err := nats.Connect(url); !errors.Is(err, nats.ErrAuthorization) {
		t.Errorf("connect without the password: %v, want an authorization violation", err)
	}
	purgeOne(t, nc, "open-1")
	if err := stop(); err != nil {
		t.Errorf("run: %v", err)
	}
}

// httpGet fetches url until ok accepts the body or 10 s pass (the
// results' metrics are counted as the result is stored, a hair after the
// result reaches subscribers), and returns the last body.
func httpGet(t *testing.T, url string, ok func(string) bool) string {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		resp, err := http.Get(url)
		if err != nil {
			t.Fatalf("GET %s: %v", url, err)
		}
		b, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err != nil {
			t.Fatalf("GET %s: %v", url, err)
		}
		if ok(string(b)) || time.Now().After(deadline) {
			return string(b)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// memoryLimitSet records what run passed to setMemoryLimit; TestMain
// keeps run from setting the test binary's limit.
var memoryLimitSet atomic.Int64

func TestMain(m *testing.M) {
	memoryLimitSet.Store(-1)
	setMemoryLimit = func(n int64) int64 {
		if n >= 0 {
			memoryLimitSet.Store(n)
		}
		return math.MaxInt64
	}
	os.Exit(m.Run())
}

// TestMemoryLimit: --memory-limit, else GOMEMLIMIT, else the default sets
// the soft limit; --print-config shows which.
func TestMemoryLimit(t *testing.T) {
	memoryLimitSet.Store(-1)
	for _, tc := range []struct {
		name string
		args []string
		vars map[string]string
		want string
	}{
		{"default", nil, nil, "72MiB"},
		{"flag", []string{"--memory-limit", "256MiB"}, nil, "256MiB"},
		{"plain bytes", []string{"--memory-limit", "104857600"}, nil, "100MiB"},
		{"environment", nil, map[string]string{"PURGEBUS_MEMORY_LIMIT": "1GiB"}, "1GiB"},
		{"off", []string{"--memory-limit", "0"}, nil, "off"},
		{"GOMEMLIMIT applies", nil, map[string]string{"GOMEMLIMIT": "300MiB"}, "GOMEMLIMIT=300MiB"},
		{"the flag beats GOMEMLIMIT", []string{"--memory-limit", "90MiB"}, map[string]string{"GOMEMLIMIT": "300MiB"}, "90MiB"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg, _ := printedConfig(t, append([]string{"--sandbox"}, tc.args...), tc.vars)
			if got := cfg["memory_limit"]; got != tc.want {
				t.Errorf("memory_limit = %#v, want %q", got, tc.want)
			}
		})
	}
	if _, err := runFor(t, []string{"--sandbox", "--print-config", "--memory-limit", "lots"}, nil); err == nil || !strings.Contains(err.Error(), "memory-limit") {
		t.Errorf("--memory-limit lots: %v", err)
	}
	if got := memoryLimitSet.Load(); got != -1 {
		t.Errorf("--print-config set the memory limit to %d", got)
	}

	// A running consumer applies it.
	out, stop := background(t, []string{"--sandbox", "--nats-listen", testproc.FreeAddr(t), "--data-dir", filepath.Join(t.TempDir(), "data"),
		"--memory-limit", "96MiB", "--shutdown-timeout", "5s"}, nil)
	testwait.Until(t, 30*time.Second, "consumer running", func() bool { return strings.Contains(out.String(), "consumer running") })
	if err := stop(); err != nil {
		t.Fatal(err)
	}
	if got := memoryLimitSet.Load(); got != 96<<20 {
		t.Errorf("memory limit set to %d, want %d", got, 96<<20)
	}
	if !strings.Contains(out.String(), "soft memory limit") {
		t.Errorf("the limit is not logged:\n%s", out.String())
	}
}

func TestParseSize(t *testing.T) {
	for in, want := range map[string]int64{
		"0": 0, "8388608": 8 << 20, "8MiB": 8 << 20, "1.5GiB": 3 << 29, "512KiB": 512 << 10, "100B": 100, " 2TiB ": 2 << 40, "-1": -1,
	} {
		if got, err := parseSize(in); err != nil || got != want {
			t.Errorf("parseSize(%q) = %d, %v; want %d", in, got, err, want)
		}
	}
	for _, in := range []string{"", "lots", "8MB", "MiB", "1e400GiB", "NaNMiB"} {
		if got, err := parseSize(in); err == nil {
			t.Errorf("parseSize(%q) = %d, want an error", in, got)
		}
	}
	for n, want := range map[int64]string{0: "0", 100: "100", 8 << 20: "8MiB", 3 << 29: "1536MiB", 1 << 40: "1TiB", 1000: "1000"} {
		if got := formatSize(n); got != want {
			t.Errorf("formatSize(%d) = %q, want %q", n, got, want)
		}
	}
}
