package bus_test

import (
	"errors"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/purgebus/purgebus/bus"
	"github.com/purgebus/purgebus/events"
)

func TestIsLoopback(t *testing.T) {
	for host, want := range map[string]bool{
		"127.0.0.1": true, "127.1.2.3": true, "::1": true, "localhost": true, "LOCALHOST": true,
		"": false, "0.0.0.0": false, "::": false, "10.0.0.5": false, "192.168.1.10": false,
		"fe80::1%eth0": false, "example.com": false, "myhost": false,
	} {
		if got := bus.IsLoopback(host); got != want {
			t.Errorf("IsLoopback(%q) = %v, want %v", host, got, want)
		}
	}
}

// TestEmbeddedRefusesOpenNetwork: a listen address other machines can
// reach needs authentication, and the refusal touches neither the port
// nor the data directory.
func TestEmbeddedRefusesOpenNetwork(t *testing.T) {
	for _, tc := range []struct {
		cfg  bus.EmbeddedConfig
		want string
	}{
		{bus.EmbeddedConfig{Listen: "0.0.0.0:0"}, "needs authentication"},
		{bus.EmbeddedConfig{Listen: ":0"}, "needs authentication"},
		{bus.EmbeddedConfig{Listen: "[::]:0"}, "needs authentication"},
		{bus.EmbeddedConfig{Listen: "192.0.2.1:0"}, "needs authentication"},
		{bus.EmbeddedConfig{Listen: "0.0.0.0:0", User: "u"}, "user and password"},
		{bus.EmbeddedConfig{Listen: "0.0.0.0:0", Password: "p"}, "user and password"},
		{bus.EmbeddedConfig{Listen: "127.0.0.1:0", User: "u", Password: "p", Token: "t"}, "not both"},
		{bus.EmbeddedConfig{Listen: "0.0.0.0:0", User: "u", Password: "$2a$11$3kIDaCxw.Glsl1.u5nKa6eUnNDLV5HV9tIuUp7EHhMt6Nm9myW1aS"}, "bcrypt"},
		{bus.EmbeddedConfig{Listen: "127.0.0.1:99999"}, "port"},
		{bus.EmbeddedConfig{Listen: "nope"}, "listen address"},
	} {
		dataDir := filepath.Join(t.TempDir(), "data")
		tc.cfg.DataDir = dataDir
		err := tc.cfg.Validate()
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("Validate(%+v) = %v, want %q", tc.cfg, err, tc.want)
		}
		if e, err := bus.StartEmbedded(tc.cfg); err == nil {
			e.Shutdown()
			t.Errorf("StartEmbedded(%+v) succeeded", tc.cfg)
		} else if strings.Contains(err.Error(), "$2a$") {
			t.Errorf("error %q shows the password", err)
		}
		if _, err := os.Stat(dataDir); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("StartEmbedded(%+v) created the data directory", tc.cfg)
		}
	}
	// The unspecified-address refusal names the way out.
	err := bus.EmbeddedConfig{Listen: "0.0.0.0:4222"}.Validate()
	if err == nil || !strings.Contains(err.Error(), "0.0.0.0:4222") || !strings.Contains(err.Error(), "127.0.0.1") {
		t.Errorf("error %q should name the address and loopback", err)
	}
	for _, ok := range []bus.EmbeddedConfig{{}, {Listen: "localhost:0"}, {Listen: "[::1]:0"}, {Listen: "127.0.0.1:0", Token: "t"}} {
		if err := ok.Validate(); err != nil {
			t.Errorf("Validate(%+v) = %v", ok, err)
		}
	}
}

// TestEmbeddedWithAuth opens the embedded server on every interface with
// a user and password, or a token: clients without them are refused, in-
// process connections need them too (ClientConfig has them), and
// JetStream works through both.
func TestEmbeddedWithAuth(t *testing.T) {
	for _, tc := range []struct {
		name string
		cfg  bus.EmbeddedConfig
		bad  bus.ConnectConfig
	}{
		{"user and password", bus.EmbeddedConfig{User: "purge", Password: "hunter2"}, bus.ConnectConfig{User: "purge", Password: "wrong"}},
		{"token", bus.EmbeddedConfig{Token: "s3cret-token"}, bus.ConnectConfig{Token: "wrong"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := tc.cfg
			cfg.Listen, cfg.DataDir = "0.0.0.0:0", t.TempDir()
			emb, err := bus.StartEmbedded(cfg)
			if err != nil {
				t.Fatalf("StartEmbedded: %v", err)
			}
			t.Cleanup(emb.Shutdown)
			url := emb.ClientURL()
			if !strings.HasPrefix(url, "nats://127.0.0.1:") {
				t.Errorf("ClientURL %q, want loopback for a server on every interface", url)
			}
			if _, err := nats.Connect(url, nats.Timeout(5*time.Second)); !errors.Is(err, nats.ErrAuthorization) {
				t.Errorf("connect without credentials: %v, want an authorization violation", err)
			}
			bad := tc.bad
			bad.URL = url
			if err := tryConnect(t, bad); !errors.Is(err, nats.ErrAuthorization) {
				t.Errorf("connect with wrong credentials: %v, want an authorization violation", err)
			}
			cc := emb.ClientConfig()
			if cc.URL != url || cc.User != tc.cfg.User || cc.Password != tc.cfg.Password || cc.Token != tc.cfg.Token {
				t.Errorf("ClientConfig %v", cc)
			}
			tcp, err := cc.Connect()
			if err != nil {
				t.Fatalf("connect over TCP with ClientConfig: %v", err)
			}
			defer tcp.Close()
			inproc, err := cc.Connect(nats.InProcessServer(emb.Server()))
			if err != nil {
				t.Fatalf("in-process connect with ClientConfig: %v", err)
			}
			defer inproc.Close()
			js := jetStream(t, inproc)
			if err := bus.Provision(ctxFor(t, 10*time.Second), js, bus.StreamsConfig{}); err != nil {
				t.Fatalf("Provision in-process: %v", err)
			}
			if _, err := jetStream(t, tcp).Publish(ctxFor(t, 5*time.Second), "content.changed", []byte("x")); err != nil {
				t.Fatalf("publish over TCP: %v", err)
			}
			s, err := js.Stream(ctxFor(t, 5*time.Second), events.DefaultContentStream)
			if err != nil {
				t.Fatal(err)
			}
			if info, err := s.Info(ctxFor(t, 5*time.Second)); err != nil || info.State.Msgs != 1 {
				t.Errorf("content stream after one publish: %+v, %v", info, err)
			}
		})
	}
}

// TestEmbeddedListensWhereTold: a server on every interface is reachable
// on a non-loopback address of this machine, if it has one.
func TestEmbeddedListensWhereTold(t *testing.T) {
	var lan net.IP
	addrs, _ := net.InterfaceAddrs()
	for _, a := range addrs {
		if n, ok := a.(*net.IPNet); ok && !n.IP.IsLoopback() && n.IP.To4() != nil {
			lan = n.IP
			break
		}
	}
	if lan == nil {
		t.Skip("no non-loopback IPv4 address")
	}
	emb, err := bus.StartEmbedded(bus.EmbeddedConfig{Listen: "0.0.0.0:0", DataDir: t.TempDir(), User: "u", Password: "p"})
	if err != nil {
		t.Fatal(err)
	}
	defer emb.Shutdown()
	_, port, _ := net.SplitHostPort(strings.TrimPrefix(emb.ClientURL(), "nats://"))
	err = tryConnect(t, bus.ConnectConfig{URL: "nats://" + net.JoinHostPort(lan.String(), port), User: "u", Password: "p"})
	if err != nil {
		t.Errorf("connect on %s: %v", lan, err)
	}
	// And the loopback-only default is not reachable there.
	loop := startNATS(t)
	_, lport, _ := net.SplitHostPort(strings.TrimPrefix(loop.emb.ClientURL(), "nats://"))
	if c, err := net.DialTimeout("tcp", net.JoinHostPort(lan.String(), lport), time.Second); err == nil {
		c.Close()
		t.Errorf("the loopback server answers on %s", lan)
	}
}
