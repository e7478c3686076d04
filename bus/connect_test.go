package bus_test

import (
	"bytes"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/jwt/v2"
	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nkeys"

	"github.com/purgebus/purgebus/bus"
	"github.com/purgebus/purgebus/internal/testcert"
)

// startServer runs a plain nats-server (no JetStream) configured by
// opts, as an existing NATS server would be.
func startServer(t *testing.T, opts *server.Options) *server.Server {
	t.Helper()
	opts.Host, opts.Port, opts.NoSigs, opts.NoLog = "127.0.0.1", server.RANDOM_PORT, true, true
	srv, err := server.NewServer(opts)
	if err != nil {
		t.Fatal(err)
	}
	go srv.Start()
	if !srv.ReadyForConnections(10 * time.Second) {
		t.Fatal("nats-server did not start")
	}
	t.Cleanup(func() { srv.Shutdown(); srv.WaitForShutdown() })
	return srv
}

func hostPort(srv *server.Server) string { return srv.Addr().String() }

// tryConnect connects with cc and checks the connection works.
func tryConnect(t *testing.T, cc bus.ConnectConfig) error {
	t.Helper()
	nc, err := cc.Connect(nats.Timeout(5 * time.Second))
	if err != nil {
		return err
	}
	defer nc.Close()
	if _, err := nc.RTT(); err != nil {
		t.Fatalf("connected but no round trip: %v", err)
	}
	return nil
}

func writeFile(t *testing.T, name, content string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// TestConnectMutualTLSAndPassword: the CA, client certificate and user
// and password all reach the server; each missing piece is a clear error.
func TestConnectMutualTLSAndPassword(t *testing.T) {
	ca := testcert.New(t)
	serverCert, serverKey := ca.Server("localhost", "127.0.0.1")
	clientCert, clientKey := ca.Client("client")
	otherCA := testcert.New(t) // signed nothing here: a client trusting only it rejects the server
	tc, err := server.GenTLSConfig(&server.TLSConfigOpts{CertFile: serverCert, KeyFile: serverKey, CaFile: ca.File(), Verify: true})
	if err != nil {
		t.Fatal(err)
	}
	srv := startServer(t, &server.Options{
		TLSConfig: tc, TLSVerify: true, TLSTimeout: 5,
		Users: []*server.User{{Username: "purge", Password: "hunter2"}},
	})
	addr := hostPort(srv)
	good := bus.ConnectConfig{
		URL:   "nats://127.0.0.1:1, tls://" + addr, // a dead server first: the list is tried in turn
		TLSCA: ca.File(), TLSCert: clientCert, TLSKey: clientKey,
		User: "purge", Password: "hunter2",
	}
	nc, err := good.Connect()
	if err != nil {
		t.Fatalf("Connect: %v", err)
	}
	state, err := nc.TLSConnectionState()
	if err != nil || !state.HandshakeComplete || state.Version < tls.VersionTLS12 {
		t.Errorf("TLS state %+v, %v", state, err)
	}
	nc.Close()

	for _, tc := range []struct {
		name   string
		change func(*bus.ConnectConfig)
		want   []string // in the error
	}{
		{"wrong password", func(c *bus.ConnectConfig) { c.Password = "wrong-pw-XYZ" }, []string{"authorization violation", `as user "purge"`}},
		{"unknown user", func(c *bus.ConnectConfig) { c.User = "nobody" }, []string{"authorization violation", `as user "nobody"`}},
		{"no credentials", func(c *bus.ConnectConfig) { c.User, c.Password = "", "" }, []string{"authorization violation", "without credentials"}},
		{"no client certificate", func(c *bus.ConnectConfig) { c.TLSCert, c.TLSKey = "", "" }, nil},
		{"server not trusted", func(c *bus.ConnectConfig) { c.TLSCA = otherCA.File() }, []string{"certificate"}},
		{"CA file missing", func(c *bus.ConnectConfig) { c.TLSCA = filepath.Join(t.TempDir(), "none.pem") }, []string{"none.pem"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cc := good
			cc.URL = "tls://" + addr
			tc.change(&cc)
			err := tryConnect(t, cc)
			if err == nil {
				t.Fatal("connected")
			}
			t.Logf("error: %v", err)
			msg := strings.ToLower(err.Error())
			for _, w := range tc.want {
				if !strings.Contains(msg, strings.ToLower(w)) {
					t.Errorf("error %q does not say %q", err, w)
				}
			}
			if !strings.Contains(msg, addr) {
				t.Errorf("error %q does not name the server", err)
			}
			for _, secret := range []string{"hunter2", "wrong-pw-XYZ"} {
				if strings.Contains(err.Error(), secret) {
					t.Errorf("error %q shows the password", err)
				}
			}
		})
	}
}

func TestConnectToken(t *testing.T) {
	srv := startServer(t, &server.Options{Authorization: "s3cret-token"})
	cc := bus.ConnectConfig{URL: hostPort(srv), Token: "s3cret-token"}
	if err := tryConnect(t, cc); err != nil {
		t.Fatalf("token: %v", err)
	}
	cc.Token = "wrong-token-XYZ"
	err := tryConnect(t, cc)
	if err == nil || !errors.Is(err, nats.ErrAuthorization) || !strings.Contains(err.Error(), "with a token") {
		t.Errorf("wrong token: %v, want an authorization violation saying a token was used", err)
	}
	if err != nil && strings.Contains(err.Error(), "wrong-token-XYZ") {
		t.Errorf("error %q shows the token", err)
	}
	// A token in the URL works too, and is redacted from errors.
	if err := tryConnect(t, bus.ConnectConfig{URL: "nats://s3cret-token@" + hostPort(srv)}); err != nil {
		t.Errorf("token in the URL: %v", err)
	}
	err = tryConnect(t, bus.ConnectConfig{URL: "nats://bad-url-token@" + hostPort(srv)})
	if err == nil || strings.Contains(err.Error(), "bad-url-token") {
		t.Errorf("bad token in the URL: %v, want an error without the token", err)
	}
}

func TestConnectNKey(t *testing.T) {
	user, err := nkeys.CreateUser()
	if err != nil {
		t.Fatal(err)
	}
	pub, _ := user.PublicKey()
	seed, _ := user.Seed()
	srv := startServer(t, &server.Options{Nkeys: []*server.NkeyUser{{Nkey: pub}}})
	seedFile := writeFile(t, "user.nk", string(seed)+"\n")
	if err := tryConnect(t, bus.ConnectConfig{URL: hostPort(srv), NKeyFile: seedFile}); err != nil {
		t.Fatalf("NKey: %v", err)
	}
	other, _ := nkeys.CreateUser()
	otherSeed, _ := other.Seed()
	otherFile := writeFile(t, "other.nk", string(otherSeed))
	err = tryConnect(t, bus.ConnectConfig{URL: hostPort(srv), NKeyFile: otherFile})
	if !errors.Is(err, nats.ErrAuthorization) || !strings.Contains(err.Error(), otherFile) {
		t.Errorf("unknown NKey: %v, want an authorization violation naming the seed file", err)
	}
	if _, err := (bus.ConnectConfig{URL: hostPort(srv), NKeyFile: writeFile(t, "bad.nk", "not a seed")}).Options(); err == nil {
		t.Error("Options accepted a file without a seed")
	}
}

// TestConnectCredsFile runs a server in operator mode (JWT) and connects
// with a .creds file as nsc writes it.
func TestConnectCredsFile(t *testing.T) {
	okp, _ := nkeys.CreateOperator()
	opub, _ := okp.PublicKey()
	oc := jwt.NewOperatorClaims(opub)
	ojwt, err := oc.Encode(okp)
	if err != nil {
		t.Fatal(err)
	}
	operator, err := jwt.DecodeOperatorClaims(ojwt)
	if err != nil {
		t.Fatal(err)
	}
	akp, _ := nkeys.CreateAccount()
	apub, _ := akp.PublicKey()
	ajwt, err := jwt.NewAccountClaims(apub).Encode(okp)
	if err != nil {
		t.Fatal(err)
	}
	creds := func(acct nkeys.KeyPair) string {
		ukp, _ := nkeys.CreateUser()
		upub, _ := ukp.PublicKey()
		ujwt, err := jwt.NewUserClaims(upub).Encode(acct)
		if err != nil {
			t.Fatal(err)
		}
		useed, _ := ukp.Seed()
		b, err := jwt.FormatUserConfig(ujwt, useed)
		if err != nil {
			t.Fatal(err)
		}
		return writeFile(t, "user.creds", string(b))
	}
	resolver := &server.MemAccResolver{}
	if err := resolver.Store(apub, ajwt); err != nil {
		t.Fatal(err)
	}
	srv := startServer(t, &server.Options{TrustedOperators: []*jwt.OperatorClaims{operator}, AccountResolver: resolver})
	if err := tryConnect(t, bus.ConnectConfig{URL: hostPort(srv), CredsFile: creds(akp)}); err != nil {
		t.Fatalf("creds: %v", err)
	}
	stranger, _ := nkeys.CreateAccount() // an account the server does not know
	bad := creds(stranger)
	err = tryConnect(t, bus.ConnectConfig{URL: hostPort(srv), CredsFile: bad})
	t.Logf("error: %v", err)
	if err == nil || !strings.Contains(err.Error(), "credentials file "+bad) {
		t.Errorf("creds of an unknown account: %v, want an error naming the file", err)
	}
}

func TestConnectConfigValidate(t *testing.T) {
	for _, tc := range []struct {
		cfg  bus.ConnectConfig
		want string
	}{
		{bus.ConnectConfig{CredsFile: "a", Token: "t"}, "choose one"},
		{bus.ConnectConfig{NKeyFile: "a", User: "u", Password: "p"}, "choose one"},
		{bus.ConnectConfig{User: "u"}, "user and password"},
		{bus.ConnectConfig{Password: "p"}, "user and password"},
		{bus.ConnectConfig{TLSCert: "c"}, "certificate and key"},
		{bus.ConnectConfig{TLSKey: "k"}, "certificate and key"},
	} {
		err := tc.cfg.Validate()
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("Validate(%v) = %v, want %q", tc.cfg, err, tc.want)
		}
		if _, err := tc.cfg.Connect(); err == nil {
			t.Errorf("Connect(%v) succeeded", tc.cfg)
		}
	}
	for _, ok := range []bus.ConnectConfig{{}, {User: "u", Password: "p", TLSCA: "ca"}, {Token: "t", TLSCert: "c", TLSKey: "k"}} {
		if err := ok.Validate(); err != nil {
			t.Errorf("Validate(%v) = %v", ok, err)
		}
	}
}

// TestConnectConfigNeverShowsSecrets: printing or logging a ConnectConfig
// shows what matters and redacts the password and the token.
func TestConnectConfigNeverShowsSecrets(t *testing.T) {
	cc := bus.ConnectConfig{
		URL: "nats://purge:url-pw-XYZ@a:4222,nats://b:4222", User: "purge", Password: "pw-XYZ", Token: "tok-XYZ",
		CredsFile: "/etc/purgebus/nats.creds", TLSCA: "/etc/ca.pem",
	}
	var logged bytes.Buffer
	slog.New(slog.NewJSONHandler(&logged, nil)).Info("config", "nats", cc)
	slog.New(slog.NewTextHandler(&logged, nil)).Info("config", "nats", cc)
	for _, out := range []string{fmt.Sprint(cc), fmt.Sprintf("%v %+v %#v %s", cc, cc, cc, cc), logged.String()} {
		for _, secret := range []string{"url-pw-XYZ", "pw-XYZ", "tok-XYZ"} {
			if strings.Contains(out, secret) {
				t.Errorf("%q shows a secret", out)
			}
		}
		for _, shown := range []string{"purge", "/etc/purgebus/nats.creds", "/etc/ca.pem", "b:4222", "[redacted]"} {
			if !strings.Contains(out, shown) {
				t.Errorf("%q does not show %s", out, shown)
			}
		}
	}
}
