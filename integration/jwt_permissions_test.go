package integration

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/nats-io/jwt/v2"
	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nkeys"

	"github.com/purgebus/purgebus/akamai/akamaitest"
	"github.com/purgebus/purgebus/bus"
	"github.com/purgebus/purgebus/consumer"
	"github.com/purgebus/purgebus/events"
)

// jwtAccount is an operator-mode set-up as nsc makes it: an operator, a
// system account and the account PURGEBUS with JetStream, whose users get
// the roles of deploy/nats/permissions.conf in their JWTs.
type jwtAccount struct {
	t       *testing.T
	account nkeys.KeyPair
	pub     string
	dir     string
}

// startJWTServer starts a nats-server in operator mode with the account
// PURGEBUS and, on it, the scoped signing key that docs/nats-permissions.md
// gives publishers (role "publisher": content.changed.{{name()}} and an
// inbox named after the user).
func startJWTServer(t *testing.T) (*server.Server, *jwtAccount, nkeys.KeyPair) {
	t.Helper()
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	okp, err := nkeys.CreateOperator()
	must(err)
	opub, _ := okp.PublicKey()
	syskp, err := nkeys.CreateAccount()
	must(err)
	syspub, _ := syskp.PublicKey()
	oc := jwt.NewOperatorClaims(opub)
	oc.Name, oc.SystemAccount = "purgebus-ops", syspub
	ojwt, err := oc.Encode(okp)
	must(err)
	sc := jwt.NewAccountClaims(syspub)
	sc.Name = "SYS"
	sysjwt, err := sc.Encode(okp)
	must(err)

	akp, err := nkeys.CreateAccount()
	must(err)
	apub, _ := akp.PublicKey()
	ac := jwt.NewAccountClaims(apub)
	ac.Name = "PURGEBUS"
	ac.Limits.JetStreamLimits = jwt.JetStreamLimits{MemoryStorage: -1, DiskStorage: -1, Streams: -1, Consumer: -1}
	sk, err := nkeys.CreateAccount()
	must(err)
	skpub, _ := sk.PublicKey()
	scope := jwt.NewUserScope()
	scope.Key, scope.Role = skpub, "publisher"
	scope.Template.Pub.Allow.Add("content.changed.{{name()}}", "content.changed.{{name()}}.>")
	scope.Template.Sub.Allow.Add("_INBOX_{{name()}}.>")
	ac.SigningKeys.AddScopedSigner(scope)
	ajwt, err := ac.Encode(okp)
	must(err)

	oclaims, err := jwt.DecodeOperatorClaims(ojwt)
	must(err)
	resolver := &server.MemAccResolver{}
	must(resolver.Store(syspub, sysjwt))
	must(resolver.Store(apub, ajwt))
	opts := &server.Options{
		Host: "127.0.0.1", Port: server.RANDOM_PORT, NoSigs: true, NoLog: true,
		JetStream: true, StoreDir: t.TempDir(),
		TrustedOperators: []*jwt.OperatorClaims{oclaims},
		SystemAccount:    syspub,
		AccountResolver:  resolver,
	}
	srv, err := server.NewServer(opts)
	must(err)
	go srv.Start()
	if !srv.ReadyForConnections(10 * time.Second) {
		t.Fatal("nats-server in operator mode did not start")
	}
	t.Cleanup(func() { srv.Shutdown(); srv.WaitForShutdown() })
	return srv, &jwtAccount{t: t, account: akp, pub: apub, dir: t.TempDir()}, sk
}

// user writes the credentials file of a user named name, signed by
// signer (the account, or a scoped signing key, which brings its own
// permissions), with pub and sub allowed.
func (a *jwtAccount) user(name string, signer nkeys.KeyPair, pub, sub []string) string {
	a.t.Helper()
	ukp, err := nkeys.CreateUser()
	if err != nil {
		a.t.Fatal(err)
	}
	upub, _ := ukp.PublicKey()
	uc := jwt.NewUserClaims(upub)
	uc.Name = name
	uc.Pub.Allow.Add(pub...)
	uc.Sub.Allow.Add(sub...)
	if signer != a.account {
		// A scoped key's users carry no permissions or limits of their
		// own: the key's template is theirs (nsc add user -K).
		uc.UserPermissionLimits = jwt.UserPermissionLimits{}
		uc.IssuerAccount = a.pub
	}
	ujwt, err := uc.Encode(signer)
	if err != nil {
		a.t.Fatal(err)
	}
	seed, _ := ukp.Seed()
	creds, err := jwt.FormatUserConfig(ujwt, seed)
	if err != nil {
		a.t.Fatal(err)
	}
	path := filepath.Join(a.dir, name+".creds")
	if err := os.WriteFile(path, creds, 0o600); err != nil {
		a.t.Fatal(err)
	}
	return path
}

// TestJWTPermissions runs the roles as JWT users, as docs/nats-permissions.md
// sets them up with nsc: the consumer with CONSUMER_PROVISION's
// permissions and a credentials file does its whole job, a publisher
// signed with the "publisher" scoped key may publish under its own name
// only, and a reader reads the results.
func TestJWTPermissions(t *testing.T) {
	srv, acct, publisherKey := startJWTServer(t)
	url := srv.ClientURL()
	roles := deployRoles(t)
	consCreds := acct.user("purgebus", acct.account, roles["CONSUMER_PROVISION"], []string{"_INBOX.>"})
	blogCreds := acct.user("blog", publisherKey, nil, nil)
	readerCreds := acct.user("reader", acct.account, roles["READER"], deployPermissions(t, "subscribe")["READER"])

	fake := akamaitest.NewServer(akamaitest.Options{})
	t.Cleanup(fake.Close)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cfg := sharedBudgetConsumer(t, fake, url, bus.ConnectConfig{CredsFile: consCreds})
	cfg.Provision = true
	c, err := consumer.Start(ctx, cfg)
	if err != nil {
		t.Fatalf("consumer with a credentials file: %v", err)
	}
	defer c.Close()

	readerPerms := &bus.Permissions{}
	rd, err := bus.ConnectConfig{URL: url, CredsFile: readerCreds, InboxPrefix: "_INBOX_reader", Permissions: readerPerms}.Connect()
	if err != nil {
		t.Fatal(err)
	}
	defer rd.Close()
	results, err := rd.SubscribeSync("purge.result.>")
	if err != nil {
		t.Fatal(err)
	}
	if err := rd.Flush(); err != nil {
		t.Fatal(err)
	}

	blogPerms := &bus.Permissions{}
	blog, err := bus.ConnectConfig{URL: url, CredsFile: blogCreds, InboxPrefix: "_INBOX_blog", Permissions: blogPerms}.Connect()
	if err != nil {
		t.Fatal(err)
	}
	defer blog.Close()
	pub, err := events.NewPublisher(blog, events.PublisherConfig{Subject: "content.changed.blog.news"})
	if err != nil {
		t.Fatal(err)
	}
	e := events.NewContentChanged("blog").AddURLs("https://www.example.com/jwt")
	if err := pub.Publish(ctx, e); err != nil {
		t.Fatalf("Publish as the scoped publisher blog: %v", err)
	}
	msg, err := results.NextMsg(20 * time.Second)
	if err != nil {
		t.Fatalf("no result for the reader: %v", err)
	}
	if msg.Subject != "purge.result.succeeded."+e.ID {
		t.Errorf("result on %s, want purge.result.succeeded.%s", msg.Subject, e.ID)
	}

	// Under another name: refused, naming the subject.
	shop, err := events.NewPublisher(blog, events.PublisherConfig{Subject: "content.changed.shop"})
	if err != nil {
		t.Fatal(err)
	}
	err = blogPerms.Guarded(ctx, func(ctx context.Context) error {
		return shop.Publish(ctx, events.NewContentChanged("blog").AddURLs("https://shop.example.com/jwt"))
	})
	var pe *bus.PermissionError
	if !errors.As(err, &pe) || pe.Subject != "content.changed.shop" {
		t.Errorf("blog publishing as the shop: %v, want a refusal of content.changed.shop", err)
	}
	if err := readerPerms.Err(); err != nil {
		t.Errorf("the reader was refused: %v", err)
	}
	for _, check := range c.Checks() {
		if err := check.Func(ctx); err != nil {
			t.Errorf("readiness check %s: %v", check.Name, err)
		}
	}
}
