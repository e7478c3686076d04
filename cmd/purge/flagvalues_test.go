package main

import (
	"context"
	"strings"
	"testing"

	"github.com/purgebus/purgebus/internal/flagvalues"
)

// meaningful lists, by "command --flag" or "--flag", the values that are
// settings rather than mistakes, and why; every other value must be
// refused as a bad command line naming the flag, so that a new flag
// cannot skip validation.
var meaningful = map[string]map[flagvalues.Kind]string{
	"--id":                         {flagvalues.Empty: "a generated ID, or no selection by ID"},
	"--source":                     {flagvalues.Empty: "an event without a source"},
	"--outcome":                    {flagvalues.Empty: "every outcome"},
	"--since":                      {flagvalues.Zero: "from now on", flagvalues.Absurd: "everything stored"},
	"--timeout":                    {flagvalues.Absurd: "a far deadline is still a deadline"},
	"deadletters replay --subject": {flagvalues.Empty: "each dead letter's original subject"},
	"--nats-url":                   {flagvalues.Empty: "nats://127.0.0.1:4222, the consumer's embedded server"},
	"--nats-creds":                 {flagvalues.Empty: "no credentials file"},
	"--nats-nkey":                  {flagvalues.Empty: "no NKey"},
	"--nats-user":                  {flagvalues.Empty: "no user"},
	"--nats-password":              {flagvalues.Empty: "no password"},
	"--nats-token":                 {flagvalues.Empty: "no token"},
	"--nats-tls-ca":                {flagvalues.Empty: "the system's CAs"},
	"--nats-tls-cert":              {flagvalues.Empty: "no client certificate"},
	"--nats-tls-key":               {flagvalues.Empty: "no client certificate"},
	"--nats-tls-server-name":       {flagvalues.Empty: "each server URL's host"},
	"--nats-inbox-prefix":          {flagvalues.Empty: "_INBOX, nats.go's default"},
}

// TestEveryFlagRefusesBadValues tries zero, negative, empty and absurd
// values on every flag of every command's real flag set.
func TestEveryFlagRefusesBadValues(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	c := &cli{stdin: strings.NewReader(""), lookupEnv: mapEnv(nil)}
	url := func(string) []string { return []string{"https://a.example/"} }
	none := func(string) []string { return nil }
	replaySelector := func(name string) []string {
		if name == "since" || name == "all" {
			return []string{"--id", "x"}
		}
		return []string{"--since", "1h"}
	}
	var commands []*command
	for _, get := range []func() (*command, error){
		func() (*command, error) { return c.purge(ctx, "invalidate", []string{"--help"}) },
		func() (*command, error) { return c.purge(ctx, "delete", []string{"--help"}) },
		func() (*command, error) { return c.results(ctx, []string{"--help"}) },
		func() (*command, error) { return c.deadLettersRun(ctx, false, []string{"--help"}) },
		func() (*command, error) { return c.deadLettersRun(ctx, true, []string{"--help"}) },
	} {
		cmd, _ := get()
		commands = append(commands, cmd)
	}
	// What makes the rest of each command line valid.
	extra := map[string]func(flagName string) []string{
		"invalidate": url, "delete": url, "results": none, "deadletters list": none, "deadletters replay": replaySelector,
	}
	used := map[string]bool{}
	for _, cmd := range commands {
		cases, err := flagvalues.Cases(cmd.fs, map[string]map[flagvalues.Kind]string{
			"*main.timeoutValue": flagvalues.DurationLike,
			"*main.sinceFlag":    flagvalues.DurationLike,
		})
		if err != nil {
			t.Errorf("purge %s: %v", cmd.name, err)
		}
		for _, cs := range cases {
			key := cmd.name + " --" + cs.Flag.Name
			reason, listed := meaningful[key][cs.Kind]
			if !listed {
				key = "--" + cs.Flag.Name
				reason, listed = meaningful[key][cs.Kind]
			}
			if listed {
				used[key] = true
			}
			args := append(append(strings.Fields(cmd.name), cs.Arg()), extra[cmd.name](cs.Flag.Name)...)
			o := runCLI(t, map[string]string{"NATS_URL": "nats://127.0.0.1:1"}, "", args...)
			if p := flagvalues.Verdict(cs, o.code == exitUsage, o.stderr, reason, listed); p != "" {
				t.Errorf("purge %s: %s (exit %d)", cmd.name, p, o.code)
			}
		}
	}
	for key := range meaningful {
		if !used[key] {
			t.Errorf("meaningful lists %s, which no command has", key)
		}
	}
}
