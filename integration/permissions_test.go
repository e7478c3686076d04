package integration

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/nats-io/nkeys"

	"github.com/purgebus/purgebus/akamai/akamaitest"
	"github.com/purgebus/purgebus/bus"
	"github.com/purgebus/purgebus/consumer"
	"github.com/purgebus/purgebus/events"
	"github.com/purgebus/purgebus/internal/testlog"
	"github.com/purgebus/purgebus/internal/testproc"
)

// deployConf is the nats-server configuration operators start from.
const deployConf = "../deploy/nats/server.conf"

// rolePasswords are the passwords server.conf reads from the environment.
var rolePasswords = map[string]string{
	"PURGEBUS_CONSUMER_PASSWORD":    "consumer-pw",
	"PURGEBUS_PROVISIONER_PASSWORD": "provision-pw",
	"PURGEBUS_BLOG_PASSWORD":        "blog-pw",
	"PURGEBUS_SHOP_PASSWORD":        "shop-pw",
	"PURGEBUS_READER_PASSWORD":      "reader-pw",
	"PURGEBUS_REPLAYER_PASSWORD":    "replayer-pw",
}

// startConfigured starts a nats-server from a configuration file, as
// nats-server -c would, on a free loopback port with a store of its own.
func startConfigured(t *testing.T, conf string, env map[string]string) *server.Server {
	t.Helper()
	for k, v := range env {
		t.Setenv(k, v)
	}
	opts, err := server.ProcessConfigFile(conf)
	if err != nil {
		t.Fatalf("%s: %v", conf, err)
	}
	opts.Host, opts.Port = "127.0.0.1", server.RANDOM_PORT
	opts.StoreDir = t.TempDir()
	opts.NoSigs, opts.NoLog = true, true
	srv, err := server.NewServer(opts)
	if err != nil {
		t.Fatalf("%s: %v", conf, err)
	}
	go srv.Start()
	if !srv.ReadyForConnections(10 * time.Second) {
		t.Fatalf("nats-server from %s did not start", conf)
	}
	t.Cleanup(func() { srv.Shutdown(); srv.WaitForShutdown() })
	return srv
}

// role is one user of server.conf.
type role struct {
	user, password, inbox string
}

var (
	roleConsumer  = role{"purgebus", "consumer-pw", ""}
	roleProvision = role{"purgebus-provision", "provision-pw", ""}
	roleBlog      = role{"cms-blog", "blog-pw", "_INBOX_blog"}
	roleShop      = role{"cms-shop", "shop-pw", "_INBOX_shop"}
	roleReader    = role{"reader", "reader-pw", "_INBOX_reader"}
	roleReplayer  = role{"replayer", "replayer-pw", "_INBOX_replayer"}
)

// env is what a deployment of the role sets for purgebus's commands.
func (r role) env(url string) []string {
	env := append(testproc.Env(), "NATS_URL="+url, "NATS_USER="+r.user, "NATS_PASSWORD="+r.password)
	if r.inbox != "" {
		env = append(env, "PURGEBUS_NATS_INBOX_PREFIX="+r.inbox)
	}
	return env
}

// connect connects as the role, with its inbox prefix; refusals are
// recorded in perms.
func (r role) connect(t *testing.T, url string, perms *bus.Permissions) *nats.Conn {
	t.Helper()
	nc, err := bus.ConnectConfig{URL: url, User: r.user, Password: r.password, InboxPrefix: r.inbox,
		Name: r.user, Permissions: perms}.Connect()
	if err != nil {
		t.Fatalf("connect as %s: %v", r.user, err)
	}
	t.Cleanup(nc.Close)
	return nc
}

// command is a run of one of purgebus's binaries.
type command struct {
	cmd  *exec.Cmd
	out  *testlog.Buffer
	done chan error
}

func startCommand(t *testing.T, bin string, env []string, args ...string) *command {
	t.Helper()
	c := &command{cmd: exec.Command(bin, args...), out: &testlog.Buffer{}, done: make(chan error, 1)}
	c.cmd.Env = env
	c.cmd.Stdout, c.cmd.Stderr = c.out, c.out
	if err := c.cmd.Start(); err != nil {
		t.Fatalf("start %s: %v", bin, err)
	}
	go func() { c.done <- c.cmd.Wait() }()
	t.Cleanup(func() {
		if c.cmd.ProcessState == nil {
			_ = c.cmd.Process.Signal(syscall.SIGKILL)
			<-c.done
		}
	})
	return c
}

// wait waits for the command to exit, at most d, and returns its exit
// code (-1 if it did not exit).
func (c *command) wait(d time.Duration) int {
	select {
	case <-c.done:
		return c.cmd.ProcessState.ExitCode()
	case <-time.After(d):
		return -1
	}
}

// run runs a command to its end and returns its exit code and output.
func runCommand(t *testing.T, bin string, env []string, args ...string) (int, string) {
	t.Helper()
	c := startCommand(t, bin, env, args...)
	code := c.wait(2 * time.Minute)
	return code, c.out.String()
}

// waitReady polls /readyz until it answers 200, and returns the body.
func waitReady(t *testing.T, addr string, c *command) string {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for {
		resp, err := http.Get("http://" + addr + "/readyz")
		if err == nil {
			var b bytes.Buffer
			_, _ = b.ReadFrom(resp.Body)
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return b.String()
			}
		}
		select {
		case <-c.done:
			t.Fatalf("consumer exited before it was ready:\n%s", c.out.String())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("consumer not ready after 60 s:\n%s", c.out.String())
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// mustRefuse checks that a command failed quickly with an error naming
// the refused subject: a refusal is final, and must not look like (or
// wait as long as) a timeout.
func mustRefuse(t *testing.T, what string, code int, out string, took time.Duration, subject string) {
	t.Helper()
	t.Logf("%s: exit %d after %v: %s", what, code, took.Round(time.Millisecond), lastLine(out))
	if code != 1 {
		t.Errorf("%s: exit code %d, want 1\n%s", what, code, out)
	}
	if !strings.Contains(out, "permission denied") || !strings.Contains(out, `"`+subject) {
		t.Errorf("%s: the error does not name the refused subject %s:\n%s", what, subject, out)
	}
	// Below the 10 s that one JetStream request may wait for an answer:
	// the refusal ended the wait, not a timeout.
	if took > 8*time.Second {
		t.Errorf("%s took %v: a refusal must stop at once", what, took)
	}
}

func lastLine(s string) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	return lines[len(lines)-1]
}

// TestDeployedPermissions runs every role of deploy/nats/server.conf
// against a nats-server started from that file, with the real binaries:
// each role does its whole job, and what it must not do is refused with
// an error naming the refused subject.
func TestDeployedPermissions(t *testing.T) {
	consumerBin, purgeBin := buildCommand(t, "consumer"), buildCommand(t, "purge")
	srv := startConfigured(t, deployConf, rolePasswords)
	url := srv.ClientURL()
	consumerArgs := func(httpAddr string, extra ...string) []string {
		return append([]string{"--sandbox", "--nats-url", url, "--linger", "10ms", "--shutdown-timeout", "5s",
			"--http-addr", httpAddr, "--shared-budget"}, extra...)
	}
	refused := func(what string, r role, subject string, bin string, args ...string) {
		t.Helper()
		begin := time.Now()
		code, out := runCommand(t, bin, r.env(url), args...)
		mustRefuse(t, what, code, out, time.Since(begin), subject)
	}

	// The report: a consumer whose user may not create streams,
	// run with --provision on a fresh server, stops at once and names what
	// was refused (it used to retry for ever).
	refused("consumer --provision as a user that may not provision", roleConsumer, "$JS.API.STREAM.CREATE.CONTENT",
		consumerBin, consumerArgs("", "--provision")...)

	// The provisioning user creates the streams, the durable and the
	// shared budget's bucket, and purges.
	addr := testproc.FreeAddr(t)
	prov := startCommand(t, consumerBin, roleProvision.env(url), consumerArgs(addr, "--provision")...)
	waitReady(t, addr, prov)
	blogPerms := &bus.Permissions{}
	blog := roleBlog.connect(t, url, blogPerms)
	pub, err := events.NewPublisher(blog, events.PublisherConfig{Subject: "content.changed.blog"})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	res, err := pub.PurgeAndWait(ctx, events.NewContentChanged("blog").AddURLs("https://www.example.com/provisioned"))
	if err != nil || res.Outcome != events.OutcomeSucceeded {
		t.Fatalf("PurgeAndWait with the provisioning consumer: %v %v\n%s", res.Outcome, err, prov.out.String())
	}
	if err := prov.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if code := prov.wait(30 * time.Second); code != 0 {
		t.Fatalf("provisioning consumer exit %d:\n%s", code, prov.out.String())
	}

	// Provisioned: the run-time user may not change the durable.
	refused("consumer --provision on provisioned streams as a user that may not provision", roleConsumer,
		"$JS.API.CONSUMER.CREATE.CONTENT.purgebus", consumerBin, consumerArgs("", "--provision")...)

	// The run-time user runs the consumer without --provision, shared
	// budget included, and is ready.
	addr = testproc.FreeAddr(t)
	cons := startCommand(t, consumerBin, roleConsumer.env(url), consumerArgs(addr)...)
	body := waitReady(t, addr, cons)
	if !strings.Contains(body, `"name":"permissions","status":"ok"`) {
		t.Errorf("/readyz has no passing permissions check: %s", body)
	}
	defer func() {
		_ = cons.cmd.Process.Signal(syscall.SIGTERM)
		if code := cons.wait(30 * time.Second); code != 0 {
			t.Errorf("consumer exit %d", code)
		}
		if t.Failed() {
			t.Logf("consumer output:\n%s", cons.out.String())
		}
	}()

	// The blog publisher, from Go: queued and immediate.
	queued := events.NewContentChanged("blog").AddURLs("https://www.example.com/queued")
	if err := pub.Publish(ctx, queued); err != nil {
		t.Fatalf("Publish as cms-blog: %v", err)
	}
	res, err = pub.PurgeAndWait(ctx, events.NewContentChanged("blog").AddURLs("https://www.example.com/waited"))
	if err != nil || res.Outcome != events.OutcomeSucceeded {
		t.Fatalf("PurgeAndWait as cms-blog: %v %v", res.Outcome, err)
	}
	if err := blogPerms.Err(); err != nil {
		t.Errorf("the blog publisher was refused something: %v", err)
	}

	// The purge CLI as the blog publisher, with and without --wait.
	purge := func(r role, args ...string) (int, string) {
		t.Helper()
		code, out := runCommand(t, purgeBin, r.env(url), args...)
		if strings.Contains(out, "permission denied") {
			t.Errorf("purge %s as %s was refused something:\n%s", strings.Join(args, " "), r.user, out)
		}
		return code, out
	}
	if code, out := purge(roleBlog, "invalidate", "--subject", "content.changed.blog", "https://www.example.com/cli-queued"); code != 0 {
		t.Errorf("purge invalidate as cms-blog: exit %d\n%s", code, out)
	}
	if code, out := purge(roleBlog, "invalidate", "--subject", "content.changed.blog.news", "--wait", "--id", "blog-wait-1", "https://www.example.com/cli-waited"); code != 0 || !strings.Contains(out, "succeeded: event blog-wait-1") {
		t.Errorf("purge invalidate --wait as cms-blog: exit %d\n%s", code, out)
	}
	// The shop publishes but may not wait.
	if code, out := purge(roleShop, "invalidate", "--subject", "content.changed.shop", "https://shop.example.com/a"); code != 0 {
		t.Errorf("purge invalidate as cms-shop: exit %d\n%s", code, out)
	}
	refused("purge --wait as a publisher without results", roleShop, "$JS.API.CONSUMER.CREATE.PURGE_RESULTS.",
		purgeBin, "invalidate", "--subject", "content.changed.shop", "--wait", "https://shop.example.com/b")

	// Refusals: another source's subject, an event from a reader, a
	// stream deleted by a publisher.
	refused("cms-blog purging as the shop", roleBlog, "content.changed.shop",
		purgeBin, "invalidate", "--subject", "content.changed.shop", "https://shop.example.com/c")
	refused("the reader publishing an event", roleReader, "content.changed",
		purgeBin, "invalidate", "https://www.example.com/reader")
	delPerms := &bus.Permissions{}
	delConn := roleBlog.connect(t, url, delPerms)
	js, err := jetstream.New(delConn)
	if err != nil {
		t.Fatal(err)
	}
	err = delPerms.Guarded(ctx, func(ctx context.Context) error { return js.DeleteStream(ctx, "CONTENT") })
	var pe *bus.PermissionError
	if !errors.As(err, &pe) || pe.Subject != "$JS.API.STREAM.DELETE.CONTENT" {
		t.Errorf("cms-blog deleting stream CONTENT: %v, want a refusal of $JS.API.STREAM.DELETE.CONTENT", err)
	} else {
		t.Logf("cms-blog deleting stream CONTENT: %v", err)
	}

	// The limit docs/nats-permissions.md states: a publisher allowed to
	// wait can ask for every result with a filter whose tokens are "*",
	// which its permission matches, and so read the shop's.
	if read, err := readsResultOf(ctx, js, "purge.result.*.*", "shop.example.com"); err != nil || !read {
		t.Errorf("cms-blog reading the shop's result with the filter purge.result.*.*: %v, %v; "+
			"if JetStream now refuses it, docs/nats-permissions.md must say so", read, err)
	}
	// A bad event from the blog becomes a dead letter.
	if err := blog.Publish("content.changed.blog", []byte(`{"id":"blog-bad-1","urls":[]}`)); err != nil {
		t.Fatal(err)
	}

	// The reader reads results and dead letters.
	waitOutput(t, "purge results as the reader", func() (int, string) {
		return purge(roleReader, "results", "--json")
	}, queued.ID, res.EventID, "blog-wait-1")
	waitOutput(t, "purge deadletters list as the reader", func() (int, string) {
		return purge(roleReader, "deadletters", "list")
	}, "blog-bad-1")
	// Live, with core NATS.
	rd := roleReader.connect(t, url, nil)
	sub, err := rd.SubscribeSync("purge.result.>")
	if err != nil {
		t.Fatal(err)
	}
	if err := rd.Flush(); err != nil {
		t.Fatal(err)
	}
	if _, err := pub.PurgeAndWait(ctx, events.NewContentChanged("blog").AddURLs("https://www.example.com/live")); err != nil {
		t.Fatal(err)
	}
	if _, err := sub.NextMsg(10 * time.Second); err != nil {
		t.Errorf("the reader's live subscription: %v", err)
	}

	// Replaying dead letters is the replayer's, not the reader's.
	refused("the reader replaying dead letters", roleReader, "content.changed.blog",
		purgeBin, "deadletters", "replay", "--id", "blog-bad-1")
	if code, out := purge(roleReplayer, "deadletters", "replay", "--id", "blog-bad-1"); code != 0 || !strings.Contains(out, "replayed 1 dead letter") {
		t.Errorf("purge deadletters replay as the replayer: exit %d\n%s", code, out)
	}

	// The consumer never hit a refusal.
	if out := cons.out.String(); strings.Contains(out, "permission denied") || strings.Contains(out, "lacks a permission") {
		t.Errorf("the consumer was refused something:\n%s", out)
	}
}

// waitOutput runs cmd until it succeeds and its output holds every one of
// want (results are stored a moment after the publisher's wait ends).
func waitOutput(t *testing.T, what string, cmd func() (int, string), want ...string) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		code, out := cmd()
		missing := ""
		for _, w := range want {
			if !strings.Contains(out, w) {
				missing = w
				break
			}
		}
		if code == 0 && missing == "" {
			return
		}
		if time.Now().After(deadline) {
			t.Errorf("%s: exit %d, output lacks %q:\n%s", what, code, missing, out)
			return
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// TestDeployedNKeys starts nats-server from deploy/nats/nkeys.conf, the
// same roles with NKeys: the provisioning consumer and the blog publisher
// authenticate with their seed files and do their jobs; the blog's key
// cannot publish as the shop.
func TestDeployedNKeys(t *testing.T) {
	dir := t.TempDir()
	env := map[string]string{}
	seeds := map[string]string{}
	for _, role := range []string{"CONSUMER", "PROVISIONER", "BLOG", "SHOP", "READER", "REPLAYER"} {
		kp, err := nkeys.CreateUser()
		if err != nil {
			t.Fatal(err)
		}
		pub, _ := kp.PublicKey()
		seed, _ := kp.Seed()
		seeds[role] = filepath.Join(dir, strings.ToLower(role)+".nk")
		if err := os.WriteFile(seeds[role], seed, 0o600); err != nil {
			t.Fatal(err)
		}
		env["PURGEBUS_"+role+"_NKEY"] = pub
	}
	srv := startConfigured(t, "../deploy/nats/nkeys.conf", env)
	url := srv.ClientURL()
	fake := akamaitest.NewServer(akamaitest.Options{})
	t.Cleanup(fake.Close)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cfg := sharedBudgetConsumer(t, fake, url, bus.ConnectConfig{NKeyFile: seeds["PROVISIONER"]})
	cfg.Provision = true
	c, err := consumer.Start(ctx, cfg)
	if err != nil {
		t.Fatalf("consumer with the provisioner's NKey: %v", err)
	}
	defer c.Close()
	perms := &bus.Permissions{}
	nc, err := bus.ConnectConfig{URL: url, NKeyFile: seeds["BLOG"], InboxPrefix: "_INBOX_blog", Permissions: perms}.Connect()
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	pub, err := events.NewPublisher(nc, events.PublisherConfig{Subject: "content.changed.blog"})
	if err != nil {
		t.Fatal(err)
	}
	res, err := pub.PurgeAndWait(ctx, events.NewContentChanged("blog").AddURLs("https://www.example.com/nkey"))
	if err != nil || res.Outcome != events.OutcomeSucceeded {
		t.Fatalf("PurgeAndWait with the blog's NKey: %v %v", res.Outcome, err)
	}
	shop, err := events.NewPublisher(nc, events.PublisherConfig{Subject: "content.changed.shop"})
	if err != nil {
		t.Fatal(err)
	}
	err = perms.Guarded(ctx, func(ctx context.Context) error {
		return shop.Publish(ctx, events.NewContentChanged("blog").AddURLs("https://shop.example.com/nkey"))
	})
	if !errors.Is(err, bus.ErrPermission) || !strings.Contains(err.Error(), `"content.changed.shop"`) {
		t.Errorf("the blog's key publishing as the shop: %v, want a refusal of content.changed.shop", err)
	}
}

// readsResultOf reports whether an ordered consumer on the result stream
// with filter delivers a result that mentions what.
func readsResultOf(ctx context.Context, js jetstream.JetStream, filter, what string) (bool, error) {
	cons, err := js.OrderedConsumer(ctx, "PURGE_RESULTS", jetstream.OrderedConsumerConfig{FilterSubjects: []string{filter}})
	if err != nil {
		return false, err
	}
	it, err := cons.Messages()
	if err != nil {
		return false, err
	}
	defer it.Stop()
	for {
		m, err := it.Next(jetstream.NextMaxWait(2 * time.Second))
		if err != nil {
			return false, err
		}
		if strings.Contains(string(m.Data()), what) {
			return true, nil
		}
	}
}

// TestDeployedDuplicatePermissions reuses event IDs under the publisher
// roles of deploy/nats/server.conf, which may not read the content stream
// (it holds every source's events): the waiting blog publisher tells a
// harmless retry from a reused ID through the event's result, and waits
// for the result of an event still pending; the queued-only shop, which
// may read nothing, is told at once that the content could not be
// compared, instead of waiting for its context.
func TestDeployedDuplicatePermissions(t *testing.T) {
	srv := startConfigured(t, deployConf, rolePasswords)
	url := srv.ClientURL()
	fake := akamaitest.NewServer(akamaitest.Options{})
	t.Cleanup(fake.Close)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cfg := sharedBudgetConsumer(t, fake, url, bus.ConnectConfig{User: roleProvision.user, Password: roleProvision.password})
	cfg.Provision = true
	startConsumer := func() *consumer.Consumer {
		t.Helper()
		c, err := consumer.Start(ctx, cfg)
		if err != nil {
			t.Fatalf("consumer: %v", err)
		}
		return c
	}
	// The streams exist, and nothing purges until the consumer is back.
	startConsumer().Close()

	blogPerms := &bus.Permissions{}
	blog, err := events.NewPublisher(roleBlog.connect(t, url, blogPerms), events.PublisherConfig{Subject: "content.changed.blog"})
	if err != nil {
		t.Fatal(err)
	}
	event := func(id, u string) *events.ContentChanged {
		e := events.NewContentChanged("blog").AddURLs(u)
		e.ID = id
		return e
	}
	isDup := func(what string, err error, id, want string) {
		t.Helper()
		var de *events.DuplicateEventError
		if !errors.As(err, &de) || de.ID != id || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: %v, want a *DuplicateEventError naming %s that says %q", what, err, id, want)
		} else {
			t.Logf("%s: %v", what, err)
		}
	}

	// Pending: a queued retry cannot compare; a waiting one waits for
	// the result and compares with it.
	pending := event("dup-pending", "https://www.example.com/pending")
	if err := blog.Publish(ctx, pending); err != nil {
		t.Fatal(err)
	}
	_, err = blog.PublishReceipt(ctx, event("dup-pending", "https://www.example.com/pending"))
	isDup("queued retry of a pending event as cms-blog", err, "dup-pending", "this publisher may not read the stored event")
	type waited struct {
		res events.PurgeResult
		rc  events.Receipt
		err error
	}
	done := make(chan waited, 1)
	go func() {
		res, rc, err := blog.PurgeAndWaitReceipt(ctx, event("dup-pending", "https://www.example.com/pending"))
		done <- waited{res, rc, err}
	}()
	time.Sleep(3 * time.Second) // past the read of the content stream
	c := startConsumer()
	defer c.Close()
	if w := <-done; w.err != nil || !w.rc.Duplicate || w.res.Outcome != events.OutcomeSucceeded {
		t.Errorf("waiting retry of a pending event as cms-blog: %+v %+v %v, want a harmless retry and its result", w.rc, w.res, w.err)
	}

	// Purged: the result tells.
	if _, err := blog.PurgeAndWait(ctx, event("dup-done", "https://www.example.com/done")); err != nil {
		t.Fatal(err)
	}
	rc, err := blog.PublishReceipt(ctx, event("dup-done", "https://www.example.com/done"))
	if err != nil || !rc.Duplicate {
		t.Errorf("retry of a purged event as cms-blog: %+v %v, want a harmless retry", rc, err)
	}
	_, err = blog.PublishReceipt(ctx, event("dup-done", "https://www.example.com/other"))
	isDup("reused ID with other content as cms-blog", err, "dup-done", "the new event also has url invalidate production https://www.example.com/other")
	_, _, err = blog.PurgeAndWaitReceipt(ctx, event("dup-done", "https://www.example.com/other"))
	isDup("reused ID with other content as cms-blog, waiting", err, "dup-done", "https://www.example.com/other")

	// The shop may read nothing: told quickly, not at its deadline.
	shop, err := events.NewPublisher(roleShop.connect(t, url, nil), events.PublisherConfig{Subject: "content.changed.shop"})
	if err != nil {
		t.Fatal(err)
	}
	shopEvent := event("dup-shop", "https://shop.example.com/a")
	if err := shop.Publish(ctx, shopEvent); err != nil {
		t.Fatal(err)
	}
	begin := time.Now()
	_, err = shop.PublishReceipt(ctx, event("dup-shop", "https://shop.example.com/a"))
	took := time.Since(begin)
	t.Logf("retry as cms-shop answered after %v", took.Round(time.Millisecond))
	isDup("retry as cms-shop", err, "dup-shop", "this publisher may not read the stored event or its result")
	// Each of its two reads waits at most 2 s for an answer that never comes.
	if took > 8*time.Second {
		t.Errorf("retry as cms-shop took %v: a publisher that may not read must be told at once", took)
	}

	// The purge CLI, whose refusals end the command: the reads of the
	// stored event are not among them.
	purgeBin := buildCommand(t, "purge")
	purge := func(r role, id, u string, wait bool) (int, string, time.Duration) {
		t.Helper()
		args := []string{"invalidate", "--subject", "content.changed." + strings.TrimPrefix(r.user, "cms-"), "--id", id, u}
		if wait {
			args = append(args, "--wait")
		}
		begin := time.Now()
		code, out := runCommand(t, purgeBin, r.env(url), args...)
		return code, out, time.Since(begin)
	}
	for _, wait := range []bool{false, true} {
		id := fmt.Sprintf("dup-cli-%v", wait)
		if code, out, _ := purge(roleBlog, id, "https://www.example.com/cli", true); code != 0 {
			t.Fatalf("purge --wait as cms-blog: exit %d\n%s", code, out)
		}
		if code, out, _ := purge(roleBlog, id, "https://www.example.com/cli", wait); code != 0 || !strings.Contains(out, "harmless retry") {
			t.Errorf("purge retry (--wait %v) as cms-blog: exit %d, want a harmless retry\n%s", wait, code, out)
		}
		if code, out, _ := purge(roleBlog, id, "https://www.example.com/cli-other", wait); code != 1 || !strings.Contains(out, "https://www.example.com/cli-other") || !strings.Contains(out, id) {
			t.Errorf("purge with a reused ID (--wait %v) as cms-blog: exit %d, want the reused ID refused\n%s", wait, code, out)
		}
	}
	if code, out, _ := purge(roleShop, "dup-cli-shop", "https://shop.example.com/cli", false); code != 0 {
		t.Fatalf("purge as cms-shop: exit %d\n%s", code, out)
	}
	code, out, took := purge(roleShop, "dup-cli-shop", "https://shop.example.com/cli", false)
	t.Logf("purge retry as cms-shop: exit %d after %v: %s", code, took.Round(time.Millisecond), lastLine(out))
	if code != 1 || !strings.Contains(out, "may not read the stored event") || took > 8*time.Second {
		t.Errorf("purge retry as cms-shop: exit %d after %v, want it told at once that the content could not be compared\n%s", code, took, out)
	}
}
