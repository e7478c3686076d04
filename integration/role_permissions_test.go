package integration

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/purgebus/purgebus/akamai/akamaitest"
	"github.com/purgebus/purgebus/bus"
	"github.com/purgebus/purgebus/consumer"
	"github.com/purgebus/purgebus/internal/testproc"
)

// refusedRe finds the refused operation and subject in a purge command's
// output.
var refusedRe = regexp.MustCompile(`permission denied: (publish|subscribe) to "([^"]+)"`)

// roleJob is one role's whole job on a server where "admin" may do
// anything and "role" has the permissions under test; it returns the
// refused subject ("" when the job was done) or fails the test on any
// other trouble.
type roleJob func(t *testing.T, url string, purge func(args ...string) (int, string)) (refused string, err error)

// TestClientRolesAreMinimal does for the publisher, reader and replayer
// roles of deploy/nats/permissions.conf what
// TestConsumerPermissionsAreMinimal does for the consumer's: with the
// whole role, the purge command and a live subscription do the role's
// whole job; without any one publish or subscribe permission, the job is
// refused, naming a subject that permission covers.
func TestClientRolesAreMinimal(t *testing.T) {
	purgeBin := buildCommand(t, "purge")
	pubs, subs := deployPermissions(t, "publish"), deployPermissions(t, "subscribe")
	fake := akamaitest.NewServer(akamaitest.Options{})
	t.Cleanup(fake.Close)
	ok := func(code int, out string, want ...string) (string, error) {
		if m := refusedRe.FindStringSubmatch(out); m != nil {
			return m[2], nil
		}
		if code != 0 {
			return "", fmt.Errorf("exit %d without a refusal:\n%s", code, out)
		}
		for _, w := range want {
			if !strings.Contains(out, w) {
				return "", fmt.Errorf("output lacks %q:\n%s", w, out)
			}
		}
		return "", nil
	}
	jobs := map[string]struct {
		inbox string
		job   roleJob
	}{
		"PUBLISHER_SHOP": {"_INBOX_shop", func(t *testing.T, url string, purge func(...string) (int, string)) (string, error) {
			for _, subject := range []string{"content.changed.shop", "content.changed.shop.products"} {
				if s, err := ok(purge("invalidate", "--subject", subject, "https://shop.example.com/a")); s != "" || err != nil {
					return s, err
				}
			}
			return "", nil
		}},
		"PUBLISHER_BLOG_WAIT": {"_INBOX_blog", func(t *testing.T, url string, purge func(...string) (int, string)) (string, error) {
			if s, err := ok(purge("invalidate", "--subject", "content.changed.blog", "https://www.example.com/q")); s != "" || err != nil {
				return s, err
			}
			code, out := purge("invalidate", "--subject", "content.changed.blog.news", "--wait", "--id", "waited-1", "https://www.example.com/w")
			return ok(code, out, "succeeded: event waited-1")
		}},
		"READER": {"_INBOX_reader", func(t *testing.T, url string, purge func(...string) (int, string)) (string, error) {
			code, out := purge("results")
			if s, err := ok(code, out, "good-1"); s != "" || err != nil {
				return s, err
			}
			code, out = purge("deadletters", "list")
			if s, err := ok(code, out, "bad-1"); s != "" || err != nil {
				return s, err
			}
			return liveSubscriptions(t, url, "_INBOX_reader", "purge.result.x.live", "purge.deadletter.live")
		}},
		"REPLAYER": {"_INBOX_replayer", func(t *testing.T, url string, purge func(...string) (int, string)) (string, error) {
			code, out := purge("deadletters", "replay", "--all")
			return ok(code, out, "replayed 3 dead letters")
		}},
	}
	for name, j := range jobs {
		t.Run(name, func(t *testing.T) {
			pub, sub := pubs[name], subs[name]
			if len(pub) == 0 || len(sub) == 0 {
				t.Fatalf("permissions.conf has no role %s", name)
			}
			run := func(pub, sub []string) (string, error) {
				url := startWithUser(t, "role", pub, sub)
				setUpForRoles(t, fake, url)
				env := append(testproc.Env(), "NATS_URL="+url, "NATS_USER=role", "NATS_PASSWORD=pw", "PURGEBUS_NATS_INBOX_PREFIX="+j.inbox)
				return j.job(t, url, func(args ...string) (int, string) {
					return runCommand(t, purgeBin, env, args...)
				})
			}
			if refused, err := run(pub, sub); refused != "" || err != nil {
				t.Fatalf("with the whole role: refused %q, %v", refused, err)
			}
			for _, lists := range []struct {
				kind string
				all  []string
			}{{"publish", pub}, {"subscribe", sub}} {
				for _, p := range lists.all {
					without := slices.DeleteFunc(slices.Clone(lists.all), func(s string) bool { return s == p })
					var refused string
					var err error
					if lists.kind == "publish" {
						refused, err = run(without, sub)
					} else {
						refused, err = run(pub, without)
					}
					switch {
					case err != nil:
						t.Errorf("without %s %s: %v", lists.kind, p, err)
					case refused == "":
						t.Errorf("%s %s is not needed: the role did its job without it", lists.kind, p)
					case !subjectMatches(p, refused):
						t.Errorf("without %s %s: refused %s, which it does not cover", lists.kind, p, refused)
					default:
						t.Logf("without %s %s: refused %s", lists.kind, p, refused)
					}
				}
			}
		})
	}
}

// setUpForRoles provisions the streams and runs a consumer as admin
// until the test ends, with one succeeded result (event good-1) and two
// dead letters stored: bad-1 from content.changed.test, bad-2 from
// content.changed.
func setUpForRoles(t *testing.T, fake *akamaitest.Server, url string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cfg := sharedBudgetConsumer(t, fake, url, bus.ConnectConfig{User: "admin", Password: "admin"})
	cfg.Provision, cfg.SharedBudget = true, false
	c, err := consumer.Start(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	nc, err := nats.Connect(url, nats.UserInfo("admin", "admin"))
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	stored, err := nc.SubscribeSync("purge.>")
	if err != nil {
		t.Fatal(err)
	}
	// big-1 is too large, and its quotes make its dead letter larger than
	// a message: its event is kept whole in the object store.
	big := `{"id":"big-1","urls":[],"pad":"` + strings.Repeat(`\"`, 300_000) + `"}`
	for _, e := range []string{`{"id":"good-1","urls":["https://www.example.com/a"]}`, `{"id":"bad-1","urls":[]}`, big} {
		if _, err := js.Publish(ctx, "content.changed.test", []byte(e)); err != nil {
			t.Fatal(err)
		}
	}
	// A dead letter of an event published to content.changed itself.
	if _, err := js.Publish(ctx, "content.changed", []byte(`{"id":"bad-2","urls":[]}`)); err != nil {
		t.Fatal(err)
	}
	want := map[string]bool{"purge.result.succeeded.good-1": true, "purge.deadletter.bad-1": true, "purge.deadletter.bad-2": true, "purge.deadletter.big-1": true}
	for len(want) > 0 {
		m, err := stored.NextMsg(20 * time.Second)
		if err != nil {
			t.Fatalf("still missing %v: %v", want, err)
		}
		delete(want, m.Subject)
	}
	// The results' stream stores what subscribers saw a moment later.
	if err := nc.Flush(); err != nil {
		t.Fatal(err)
	}
}

// liveSubscriptions subscribes as the role with core NATS to results and
// dead letters and checks that messages arrive; it returns the refused
// subscription, if any.
func liveSubscriptions(t *testing.T, url, inbox string, subjects ...string) (string, error) {
	t.Helper()
	perms := &bus.Permissions{}
	nc, err := bus.ConnectConfig{URL: url, User: "role", Password: "pw", InboxPrefix: inbox, Permissions: perms}.Connect()
	if err != nil {
		return "", err
	}
	defer nc.Close()
	admin, err := nats.Connect(url, nats.UserInfo("admin", "admin"))
	if err != nil {
		return "", err
	}
	defer admin.Close()
	for _, subject := range subjects {
		filter := strings.Join(strings.Split(subject, ".")[:2], ".") + ".>"
		sub, err := nc.SubscribeSync(filter)
		if err != nil {
			return "", err
		}
		if err := nc.Flush(); err != nil {
			return "", err
		}
		if err := admin.Publish(subject, []byte(`{}`)); err != nil {
			return "", err
		}
		if _, err := sub.NextMsg(2 * time.Second); err != nil {
			var pe *bus.PermissionError
			if e := perms.Err(); e != nil && errors.As(e, &pe) {
				return pe.Subject, nil
			}
			return "", fmt.Errorf("subscription to %s: %w", filter, err)
		}
	}
	return "", nil
}
