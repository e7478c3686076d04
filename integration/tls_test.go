package integration

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/purgebus/purgebus/akamai/akamaitest"
	"github.com/purgebus/purgebus/bus"
	"github.com/purgebus/purgebus/consumer"
	"github.com/purgebus/purgebus/events"
	"github.com/purgebus/purgebus/internal/testcert"
)

// TestTLSClientCertificates runs the consumer against a nats-server that
// takes TLS first (handshake_first), verifies client certificates against
// a private CA and maps each certificate to a user (verify_and_map) with
// the consumer's role of deploy/nats/permissions.conf: the certificate is
// the credential. The server's certificate names a DNS name only, and the
// clients reach it by IP address, with the name to verify set apart. A
// connection without a client certificate, without the server's name, or
// that waits for the server's INFO before its handshake, is refused.
func TestTLSClientCertificates(t *testing.T) {
	ca := testcert.New(t)
	const serverName = "nats.purgebus.test"
	srvCert, srvKey := ca.Server(serverName)
	consCert, consKey := ca.Client("purgebus")
	pubCert, pubKey := ca.Client("cms-blog")
	roles := deployRoles(t)
	list := func(subjects []string) string {
		q := make([]string, len(subjects))
		for i, s := range subjects {
			q[i] = fmt.Sprintf("%q", s)
		}
		return strings.Join(q, ", ")
	}
	text := fmt.Sprintf(`tls {
  cert_file: %q
  key_file: %q
  ca_file: %q
  verify_and_map: true
  handshake_first: true
  timeout: 5
}
jetstream {}
accounts {
  PURGEBUS {
    jetstream: enabled
    users: [
      {user: "CN=purgebus", permissions: {publish: {allow: [%s]}, subscribe: {allow: ["_INBOX.>"]}}}
      {user: "CN=cms-blog", permissions: {publish: {allow: [%s]}, subscribe: {allow: ["_INBOX_blog.>"]}}}
    ]
  }
}
`, srvCert, srvKey, ca.File(), list(roles["CONSUMER_PROVISION"]), list(roles["PUBLISHER_BLOG_WAIT"]))
	path := filepath.Join(t.TempDir(), "tls.conf")
	if err := os.WriteFile(path, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	srv := startConfigured(t, path, nil)
	url := "tls://" + srv.Addr().String()

	tlsConn := bus.ConnectConfig{URL: url, TLSCA: ca.File(), TLSCert: consCert, TLSKey: consKey, TLSFirst: true, TLSServerName: serverName}
	for _, bad := range []struct {
		what string
		cc   bus.ConnectConfig
		want string // in the error
	}{
		{"without a client certificate", bus.ConnectConfig{URL: url, TLSCA: ca.File(), TLSFirst: true, TLSServerName: serverName}, "certificate required"},
		{"without TLS first", bus.ConnectConfig{URL: url, TLSCA: ca.File(), TLSCert: consCert, TLSKey: consKey, TLSServerName: serverName}, "timeout"},
		{"without the private CA", bus.ConnectConfig{URL: url, TLSCert: consCert, TLSKey: consKey, TLSFirst: true, TLSServerName: serverName}, "unknown authority"},
		{"without the server's name", bus.ConnectConfig{URL: url, TLSCA: ca.File(), TLSCert: consCert, TLSKey: consKey, TLSFirst: true}, "127.0.0.1"},
	} {
		nc, err := bad.cc.Connect(nats.Timeout(2 * time.Second))
		if err == nil {
			nc.Close()
			t.Errorf("connected %s", bad.what)
			continue
		}
		if !strings.Contains(err.Error(), bad.want) {
			t.Errorf("%s: %v, want an error about %q", bad.what, err, bad.want)
		}
		t.Logf("%s: %v", bad.what, err)
	}

	fake := akamaitest.NewServer(akamaitest.Options{})
	t.Cleanup(fake.Close)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cfg := sharedBudgetConsumer(t, fake, url, tlsConn)
	cfg.Provision = true
	c, err := consumer.Start(ctx, cfg)
	if err != nil {
		t.Fatalf("consumer over TLS with a client certificate: %v", err)
	}
	defer c.Close()

	perms := &bus.Permissions{}
	nc, err := bus.ConnectConfig{URL: url, TLSCA: ca.File(), TLSCert: pubCert, TLSKey: pubKey, TLSFirst: true,
		TLSServerName: serverName, InboxPrefix: "_INBOX_blog", Permissions: perms}.Connect()
	if err != nil {
		t.Fatalf("publisher over TLS: %v", err)
	}
	defer nc.Close()
	pub, err := events.NewPublisher(nc, events.PublisherConfig{Subject: "content.changed.blog"})
	if err != nil {
		t.Fatal(err)
	}
	res, err := pub.PurgeAndWait(ctx, events.NewContentChanged("blog").AddURLs("https://www.example.com/tls"))
	if err != nil || res.Outcome != events.OutcomeSucceeded {
		t.Fatalf("PurgeAndWait over TLS: %v %v", res.Outcome, err)
	}
	if err := perms.Err(); err != nil {
		t.Errorf("the publisher was refused: %v", err)
	}
	for _, check := range c.Checks() {
		if err := check.Func(ctx); err != nil {
			t.Errorf("readiness check %s: %v", check.Name, err)
		}
	}
}
