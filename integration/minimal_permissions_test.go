package integration

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/conf"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/purgebus/purgebus/akamai"
	"github.com/purgebus/purgebus/akamai/akamaitest"
	"github.com/purgebus/purgebus/budget"
	"github.com/purgebus/purgebus/bus"
	"github.com/purgebus/purgebus/consumer"
	"github.com/purgebus/purgebus/handler"
)

// deployRoles reads the publish allow-lists of deploy/nats/permissions.conf.
func deployRoles(t *testing.T) map[string][]string {
	t.Helper()
	return deployPermissions(t, "publish")
}

// deployPermissions reads the allow-lists of kind (publish or subscribe)
// of deploy/nats/permissions.conf, by role.
func deployPermissions(t *testing.T, kind string) map[string][]string {
	t.Helper()
	m, err := conf.ParseFile("../deploy/nats/permissions.conf")
	if err != nil {
		t.Fatal(err)
	}
	roles := map[string][]string{}
	for name, v := range m {
		block, ok := v.(map[string]any)
		if !ok {
			continue
		}
		pub, _ := block[kind].(map[string]any)
		allow, _ := pub["allow"].([]any)
		for _, s := range allow {
			roles[name] = append(roles[name], s.(string))
		}
	}
	return roles
}

// startWithConsumerPermissions starts a nats-server with an unrestricted
// user "admin" and the consumer's user "purgebus", allowed to publish to
// allow and to subscribe to the default inbox only.
func startWithConsumerPermissions(t *testing.T, allow []string) string {
	t.Helper()
	return startWithUser(t, "purgebus", allow, []string{"_INBOX.>"})
}

// startWithUser starts a nats-server with an unrestricted user "admin"
// and user, password "pw", allowed to publish to pub and subscribe to
// sub.
func startWithUser(t *testing.T, user string, pub, sub []string) string {
	t.Helper()
	perm := func(list []string) string {
		if len(list) == 0 {
			// An empty allow list allows everything.
			return `deny: [">"]`
		}
		q := make([]string, len(list))
		for i, s := range list {
			q[i] = fmt.Sprintf("%q", s)
		}
		return "allow: [" + strings.Join(q, ", ") + "]"
	}
	text := fmt.Sprintf(`jetstream {}
accounts {
  PURGEBUS {
    jetstream: enabled
    users: [
      {user: admin, password: admin}
      {user: %q, password: pw, permissions: {publish: {%s}, subscribe: {%s}}}
    ]
  }
}
`, user, perm(pub), perm(sub))
	path := filepath.Join(t.TempDir(), "server.conf")
	if err := os.WriteFile(path, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	return startConfigured(t, path, nil).ClientURL()
}

// TestConsumerPermissionsAreMinimal proves the consumer's roles in
// deploy/nats/permissions.conf enough and minimal: with the whole role the
// consumer does its whole job (reports missing streams, provisions or
// runs on provisioned streams, shared budget included, purges and
// dead-letters), and without any one of its permissions it stops with a
// *bus.PermissionError naming a subject that permission covers, at start
// or, for what it needs only at run time, as soon as it is refused, with
// /readyz failing.
func TestConsumerPermissionsAreMinimal(t *testing.T) {
	roles := deployRoles(t)
	runtime, provision := roles["CONSUMER"], roles["CONSUMER_PROVISION"]
	if len(runtime) == 0 || len(provision) == 0 {
		t.Fatalf("permissions.conf lacks CONSUMER or CONSUMER_PROVISION: %v", roles)
	}
	for _, p := range runtime {
		if !slices.Contains(provision, p) {
			t.Errorf("CONSUMER_PROVISION lacks CONSUMER's %s", p)
		}
	}
	fake := akamaitest.NewServer(akamaitest.Options{})
	t.Cleanup(fake.Close)

	t.Run("CONSUMER", func(t *testing.T) {
		if err := consumerJob(t, fake, runtime, false); err != nil {
			t.Fatalf("with the whole role: %v", err)
		}
		for _, p := range runtime {
			checkNeeded(t, fake, runtime, p, false)
		}
	})
	t.Run("CONSUMER_PROVISION", func(t *testing.T) {
		if err := consumerJob(t, fake, provision, true); err != nil {
			t.Fatalf("with the whole role: %v", err)
		}
		for _, p := range provision {
			if !slices.Contains(runtime, p) {
				checkNeeded(t, fake, provision, p, true)
			}
		}
	})
}

// checkNeeded runs the consumer's job without permission p and checks
// that it fails for lack of p.
func checkNeeded(t *testing.T, fake *akamaitest.Server, role []string, p string, provision bool) {
	t.Helper()
	without := slices.DeleteFunc(slices.Clone(role), func(s string) bool { return s == p })
	err := consumerJob(t, fake, without, provision)
	var pe *bus.PermissionError
	switch {
	case err == nil:
		t.Errorf("%s is not needed: the consumer did its job without it", p)
	case !errors.As(err, &pe):
		t.Errorf("without %s: %v, want a *bus.PermissionError", p, err)
	case !subjectMatches(p, pe.Subject):
		t.Errorf("without %s: refused %s, which %s does not cover: %v", p, pe.Subject, p, err)
	default:
		t.Logf("without %s: %v", p, err)
	}
}

// consumerJob is everything the consumer does on a fresh server, with
// the given publish permissions: without provision rights, it first
// reports the missing streams, then an admin provisions; it starts (with
// the shared budget), purges one event and dead-letters another. It
// returns the first error.
func consumerJob(t *testing.T, fake *akamaitest.Server, allow []string, provision bool) error {
	t.Helper()
	url := startWithConsumerPermissions(t, allow)
	admin, err := nats.Connect(url, nats.UserInfo("admin", "admin"))
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close()
	ajs, err := jetstream.New(admin)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cfg := sharedBudgetConsumer(t, fake, url, bus.ConnectConfig{User: "purgebus", Password: "pw"})
	cfg.Provision = provision
	if !provision {
		// Not provisioned yet: the consumer names what is missing.
		_, err := consumer.Start(ctx, cfg)
		if !errors.Is(err, bus.ErrNotProvisioned) {
			if err == nil {
				return errors.New("started without streams")
			}
			return err
		}
		if err := bus.Provision(ctx, ajs, bus.StreamsConfig{}); err != nil {
			t.Fatal(err)
		}
		if _, err := budget.OpenKV(ctx, ajs, budget.KVConfig{Create: true}); err != nil {
			t.Fatal(err)
		}
	} else {
		// Provisioning twice, with other settings the second time,
		// updates what exists.
		c, err := consumer.Start(ctx, cfg)
		if err != nil {
			return err
		}
		if err := c.Close(); err != nil {
			return err
		}
		cfg.Streams.ResultMaxAge, cfg.Streams.DeadLetterMaxAge = time.Hour, 2*time.Hour
		cfg.Streams.Duplicates = time.Minute // the content stream's
		cfg.Streams.MaxAckPending = 10
	}
	c, err := consumer.Start(ctx, cfg)
	if err != nil {
		return err
	}
	defer c.Close()
	results, err := admin.SubscribeSync("purge.>")
	if err != nil {
		t.Fatal(err)
	}
	// The third is too large, and its quotes make its dead letter twice
	// its size, larger than a message: the object store keeps it whole.
	big := `{"id":"big-1","urls":[],"pad":"` + strings.Repeat(`\"`, 300_000) + `"}`
	for _, e := range []string{`{"id":"good-1","urls":["https://www.example.com/a"]}`, `{"id":"bad-1","urls":[]}`, big} {
		if _, err := ajs.Publish(ctx, "content.changed.test", []byte(e)); err != nil {
			t.Fatal(err)
		}
	}
	// A result for each, and a dead letter: or the refusal.
	want := map[string]bool{"purge.result.succeeded.good-1": true, "purge.result.failed.bad-1": true, "purge.deadletter.bad-1": true,
		"purge.result.failed.big-1": true, "purge.deadletter.big-1": true}
	got := make(chan string, 8)
	go func() {
		for {
			m, err := results.NextMsg(20 * time.Second)
			if err != nil {
				close(got)
				return
			}
			got <- m.Subject
		}
	}()
	for len(want) > 0 {
		select {
		case s, ok := <-got:
			if !ok {
				return fmt.Errorf("no result or dead letter within 20 s; missing %v", want)
			}
			delete(want, s)
		case err := <-c.Err():
			if errors.Is(err, bus.ErrPermission) {
				// Refused at run time: /readyz says so too.
				for _, check := range c.Checks() {
					if check.Name == "permissions" && check.Func(ctx) == nil {
						t.Errorf("refused %v, and the permissions check passes", err)
					}
				}
			}
			return err
		}
	}
	// The job ends with both events acked. Acks follow the results and
	// are refused asynchronously, so wait for JetStream to see them (or
	// for the refusal), not just for the results.
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for {
		select {
		case err := <-c.Err():
			return err
		case <-ctx.Done():
			return fmt.Errorf("events not acked: %w", ctx.Err())
		case <-tick.C:
			cons, err := ajs.Consumer(ctx, "CONTENT", "purgebus") // the defaults of bus.StreamsConfig
			if err != nil {
				t.Fatal(err)
			}
			if info := cons.CachedInfo(); info.NumAckPending == 0 && info.NumPending == 0 {
				return nil
			}
		}
	}
}

// sharedBudgetConsumer is the consumer's configuration on an existing
// NATS with the shared budget, purging on fake.
func sharedBudgetConsumer(t *testing.T, fake *akamaitest.Server, url string, cc bus.ConnectConfig) consumer.Config {
	return consumer.Config{
		NATSURL:      url,
		NATS:         cc,
		SharedBudget: true,
		Akamai:       akamai.Config{Credentials: fake.Credentials(), BaseURL: fake.URL()},
		Coalescer: handler.CoalescerConfig{
			Linger:  5 * time.Millisecond,
			Backoff: func(int) time.Duration { return 20 * time.Millisecond },
		},
		ShutdownTimeout: 5 * time.Second,
		Logger:          testLogger(t),
	}
}

// subjectMatches reports whether the permission pattern covers subject.
func subjectMatches(pattern, subject string) bool {
	p, s := strings.Split(pattern, "."), strings.Split(subject, ".")
	for i, tok := range p {
		switch {
		case tok == ">":
			return i < len(s)
		case i >= len(s):
			return false
		case tok != "*" && tok != s[i]:
			return false
		}
	}
	return len(p) == len(s)
}
