package main

import (
	"flag"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/purgebus/purgebus/internal/flagvalues"
)

// meaningful lists the flags for which a kind of value is a setting, not
// a mistake, and why. Every other flag must refuse every kind: a flag
// added without validation fails TestEveryFlagRefusesBadValues by name.
var meaningful = map[string]map[flagvalues.Kind]string{
	"result-max-bytes":     {flagvalues.Zero: "no size limit, only --result-max-age", flagvalues.Absurd: "a limit above the disk is no limit, as 0 says"},
	"deadletter-max-bytes": {flagvalues.Zero: "no size limit, only --deadletter-max-age", flagvalues.Absurd: "a limit above the disk is no limit, as 0 says"},
	"memory-limit":         {flagvalues.Zero: "turns the soft limit off", flagvalues.Absurd: "a limit above the machine's memory is no limit, as 0 says"},
	"result-max-age":       {flagvalues.Absurd: "keeping results for ever is a choice (the size limit still applies)"},
	"deadletter-max-age":   {flagvalues.Absurd: "keeping dead letters for ever is a choice"},
	"nats-url":             {flagvalues.Empty: "the embedded NATS server"},
	"nats-creds":           {flagvalues.Empty: "no credentials file"},
	"nats-nkey":            {flagvalues.Empty: "no NKey"},
	"nats-user":            {flagvalues.Empty: "no user"},
	"nats-password":        {flagvalues.Empty: "no password"},
	"nats-token":           {flagvalues.Empty: "no token"},
	"nats-tls-ca":          {flagvalues.Empty: "the system's CAs"},
	"nats-tls-cert":        {flagvalues.Empty: "no client certificate"},
	"nats-tls-key":         {flagvalues.Empty: "no client certificate"},
	"nats-tls-server-name": {flagvalues.Empty: "each server URL's host"},
	"nats-inbox-prefix":    {flagvalues.Empty: "_INBOX, nats.go's default"},
	"nats-listen-user":     {flagvalues.Empty: "no authentication on loopback"},
	"nats-listen-password": {flagvalues.Empty: "no authentication on loopback"},
	"nats-listen-token":    {flagvalues.Empty: "no authentication on loopback"},
	"edgerc":               {flagvalues.Empty: "~/.edgerc"},
	"section":              {flagvalues.Empty: "the ccu section"},
	"account-key":          {flagvalues.Empty: "no account switch key"},
	"akamai-url":           {flagvalues.Empty: "https:// and the credentials' host"},
	"http-addr":            {flagvalues.Empty: "no metrics and health server"},
	"routing":              {flagvalues.Empty: "one account, no routing"},
	"budget-account":       {flagvalues.Empty: "the account switch key, else \"default\""},
}

// TestEveryFlagRefusesBadValues tries zero, negative, empty and absurd
// values on every flag of the real flag set, so that a new flag cannot
// skip validation: each value is refused with an error that names the
// flag, or listed in meaningful with the reason.
func TestEveryFlagRefusesBadValues(t *testing.T) {
	dataDir := filepath.Join(t.TempDir(), "data")
	o := newOptions(io.Discard)
	cases, err := flagvalues.Cases(o.fs, map[string]map[flagvalues.Kind]string{
		"*main.autoDuration": flagvalues.DurationLike,
		"*main.byteSize":     flagvalues.SizeLike,
	}, "print-config") // what the test runs
	if err != nil {
		t.Error(err)
	}
	for _, c := range cases {
		t.Run(c.Flag.Name+"/"+string(c.Kind), func(t *testing.T) {
			out, err := runFor(t, []string{"--sandbox", "--print-config", "--data-dir", dataDir, c.Arg()}, nil)
			reason, listed := meaningful[c.Flag.Name][c.Kind]
			msg := ""
			if err != nil {
				msg = err.Error()
			}
			if p := flagvalues.Verdict(c, err != nil, msg, reason, listed); p != "" {
				t.Error(p)
			}
			if err == nil && !strings.Contains(out, "{") {
				t.Errorf("no configuration printed:\n%s", out)
			}
		})
	}
	// The list does not outlive its flags.
	for name := range meaningful {
		if o.fs.Lookup(name) == nil {
			t.Errorf("meaningful lists --%s, which is no flag", name)
		}
	}
}

// TestPrintConfigShowsEveryFlag: --print-config prints each flag's
// effective value, under the flag's name in snake case.
func TestPrintConfigShowsEveryFlag(t *testing.T) {
	cfg, out := printedConfig(t, []string{"--sandbox"}, nil)
	newOptions(io.Discard).fs.VisitAll(func(f *flag.Flag) {
		key := strings.ReplaceAll(f.Name, "-", "_")
		if _, ok := cfg[key]; !ok && f.Name != "print-config" {
			t.Errorf("--print-config does not show --%s (key %q):\n%s", f.Name, key, out)
		}
	})
}

// TestValidationReproducers: each setting that was accepted silently
// and broke another is refused with a reason, all problems at once.
func TestValidationReproducers(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "a-file")
	if err := os.WriteFile(file, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		args []string
		vars map[string]string
		want []string
	}{
		{"redelivery storm", []string{"--ack-wait", "20ms"}, nil, []string{"--ack-wait must be from 35s", "purge request"}},
		{"one nanosecond ack wait", []string{"--ack-wait", "1ns"}, nil, []string{"--ack-wait"}},
		{"temporary store", []string{"--data-dir", ""}, nil, []string{"--data-dir must not be empty", "restart"}},
		{"data dir is a file", []string{"--data-dir", file}, nil, []string{"--data-dir " + file + ": is a file"}},
		{"data dir below a file", []string{"--data-dir", filepath.Join(file, "sub")}, nil, []string{file + " is a file"}},
		{"results dropped at once", []string{"--result-max-bytes", "1"}, nil, []string{"--result-max-bytes must be 0 (no limit) or at least 1MiB"}},
		{"dead letters dropped at once", []string{"--deadletter-max-bytes", "1"}, nil, []string{"--deadletter-max-bytes must be 0 (no limit) or at least 1MiB"}},
		{"merged streams", []string{"--result-stream", "PURGE_DEADLETTER"}, nil, []string{`--result-stream and --deadletter-stream are both "PURGE_DEADLETTER"`}},
		{"content is results", []string{"--stream", "X", "--result-stream", "X"}, nil, []string{`--stream and --result-stream are both "X"`}},
		{"unlimited in flight", []string{"--in-flight", "-1"}, nil, []string{"--in-flight must be from 1 to 100000, not -1"}},
		{"zero in flight", []string{"--in-flight", "0"}, nil, []string{"--in-flight must be from 1"}},
		{"many at once", []string{"--max-event-bytes", "-1", "--linger", "-1s", "--max-attempts", "0", "--requests-in-flight", "-1", "--shutdown-timeout", "0s", "--stream", "", "--durable", "", "--deadletter-stream", ""}, nil,
			[]string{"--max-event-bytes must be", "--linger must be", "--max-attempts must be", "--requests-in-flight must be", "--shutdown-timeout must be", `--stream "" is empty`, `--durable "" is empty`, `--deadletter-stream "" is empty`}},
		{"events larger than NATS carries", []string{"--max-event-bytes", "2000000"}, nil, []string{"--max-event-bytes must be from 1024 to 1048576"}},
		{"one byte of memory", []string{"--memory-limit", "1"}, nil, []string{"--memory-limit must be 0 (no limit) or at least 32MiB"}},
		{"sandbox ignores Akamai flags", []string{"--akamai-url", "https://x", "--section", "s"}, nil, []string{"--akamai-url, --section apply only without --sandbox"}},
		{"pprof without a server", []string{"--pprof", "--http-addr", ""}, nil, []string{"--pprof needs --http-addr"}},
		{"budget account alone", []string{"--budget-account", "acct"}, nil, []string{"--budget-account applies only with --shared-budget"}},
		{"stream name with a dot", []string{"--stream", "A.B"}, nil, []string{`--stream "A.B" may not contain`}},
		{"newline in a password", []string{"--nats-listen-user", "u"}, map[string]string{"PURGEBUS_NATS_LISTEN_PASSWORD": "pw\n"}, []string{"PURGEBUS_NATS_LISTEN_PASSWORD (--nats-listen-password) contains a control character"}},
		{"range error names the variable", nil, map[string]string{"PURGEBUS_IN_FLIGHT": "0"}, []string{"PURGEBUS_IN_FLIGHT (--in-flight) must be from 1"}},
		{"parse error says why", nil, map[string]string{"PURGEBUS_IN_FLIGHT": "many"}, []string{"PURGEBUS_IN_FLIGHT", "want a whole number"}},
		{"env overflow says why", nil, map[string]string{"PURGEBUS_MAX_ATTEMPTS": "99999999999999999999"}, []string{"PURGEBUS_MAX_ATTEMPTS", "out of range"}},
		{"env duration says why", nil, map[string]string{"PURGEBUS_SHUTDOWN_TIMEOUT": "soon"}, []string{"PURGEBUS_SHUTDOWN_TIMEOUT", "want a duration"}},
		{"env bool says why", nil, map[string]string{"PURGEBUS_PPROF": "yes please"}, []string{"PURGEBUS_PPROF", "want true or false"}},
		{"every env problem at once", nil, map[string]string{"PURGEBUS_IN_FLIGHT": "many", "PURGEBUS_LINGER": "soon"}, []string{"PURGEBUS_IN_FLIGHT", "PURGEBUS_LINGER"}},
		{"flag parse error says why", []string{"--in-flight", "many"}, nil, []string{`--in-flight "many": want a whole number`}},
		{"bool flag parse error says why", []string{"--pprof=maybe"}, nil, []string{"--pprof \"maybe\": want true or false"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			args := append([]string{"--sandbox", "--print-config", "--data-dir", filepath.Join(dir, "data")}, tc.args...)
			out, err := runFor(t, args, tc.vars)
			if err == nil {
				t.Fatalf("accepted:\n%s", out)
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error does not say %q:\n%v", w, err)
				}
			}
			if strings.Contains(err.Error(), "pw\n") {
				t.Errorf("a secret is shown: %v", err)
			}
		})
	}
}

// TestSandboxWarnsOnceAboutAkamaiEnvironment: AKAMAI_EDGERC, set for
// every Akamai tool, does not stop --sandbox, but is named once.
func TestSandboxWarnsOnceAboutAkamaiEnvironment(t *testing.T) {
	_, out := printedConfig(t, []string{"--sandbox"}, map[string]string{"AKAMAI_EDGERC_SECTION": "other"})
	if n := strings.Count(out, "--sandbox ignores"); n != 1 || !strings.Contains(out, "AKAMAI_EDGERC_SECTION") {
		t.Errorf("want one warning naming AKAMAI_EDGERC_SECTION, got %d:\n%s", n, out)
	}
	if !slices.Contains(strings.Fields(out), "level=WARN") {
		t.Errorf("not a warning:\n%s", out)
	}
}

// TestServerMaxPayloadChecked: an external server's max payload is known
// only after connecting; events larger than it, and streams smaller than
// one such message, are refused then, before anything is provisioned.
func TestServerMaxPayloadChecked(t *testing.T) {
	srv, err := server.NewServer(&server.Options{
		Host: "127.0.0.1", Port: server.RANDOM_PORT, NoSigs: true, NoLog: true,
		JetStream: true, StoreDir: filepath.Join(t.TempDir(), "js"), MaxPayload: 8 << 20,
	})
	if err != nil {
		t.Fatal(err)
	}
	go srv.Start()
	if !srv.ReadyForConnections(10 * time.Second) {
		t.Fatal("nats-server did not start")
	}
	t.Cleanup(func() { srv.Shutdown(); srv.WaitForShutdown() })
	url := srv.ClientURL()
	for _, tc := range []struct {
		name string
		args []string
		want []string
	}{
		{"events larger than the server carries", []string{"--max-event-bytes", "16777216"}, []string{"--max-event-bytes) is 16777216 bytes, more than the NATS server's max payload of 8388608"}},
		{"result stream below one message", []string{"--result-max-bytes", "2MiB", "--deadletter-max-bytes", "4MiB"},
			[]string{"--result-max-bytes) is 2097152 bytes, less than one message", "--deadletter-max-bytes) is 4194304 bytes"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out, err := runFor(t, append([]string{"--sandbox", "--nats-url", url, "--provision", "--http-addr="}, tc.args...), nil)
			if err == nil {
				t.Fatalf("started:\n%s", out)
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error does not say %q: %v", w, err)
				}
			}
		})
	}
	nc, err := nats.Connect(url)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	if n := streamCount(t, js); n != 0 {
		t.Errorf("%d streams provisioned despite the refusal", n)
	}
}
