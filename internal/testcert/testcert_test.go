package testcert_test

import (
	"crypto/tls"
	"crypto/x509"
	"os"
	"testing"

	"github.com/purgebus/purgebus/internal/testcert"
)

func pool(t *testing.T, ca *testcert.CA) *x509.CertPool {
	t.Helper()
	b, err := os.ReadFile(ca.File())
	if err != nil {
		t.Fatal(err)
	}
	p := x509.NewCertPool()
	if !p.AppendCertsFromPEM(b) {
		t.Fatalf("%s holds no PEM certificate", ca.File())
	}
	return p
}

func leaf(certFile, keyFile string) func(*testing.T) *x509.Certificate {
	return func(t *testing.T) *x509.Certificate {
		t.Helper()
		pair, err := tls.LoadX509KeyPair(certFile, keyFile)
		if err != nil {
			t.Fatal(err)
		}
		return pair.Leaf
	}
}

// TestIssued: the certificates verify against their own authority for
// their use and hosts only, and not against another authority.
func TestIssued(t *testing.T) {
	ca, other := testcert.New(t), testcert.New(t)
	srv := leaf(ca.Server("localhost", "127.0.0.1"))(t)
	srvUse := []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}
	for _, host := range []string{"localhost", "127.0.0.1"} {
		if _, err := srv.Verify(x509.VerifyOptions{Roots: pool(t, ca), DNSName: host, KeyUsages: srvUse}); err != nil {
			t.Errorf("server certificate for %s: %v", host, err)
		}
	}
	if _, err := srv.Verify(x509.VerifyOptions{Roots: pool(t, ca), DNSName: "example.com", KeyUsages: srvUse}); err == nil {
		t.Error("server certificate verified for a host it does not name")
	}
	if _, err := srv.Verify(x509.VerifyOptions{Roots: pool(t, other), DNSName: "localhost", KeyUsages: srvUse}); err == nil {
		t.Error("server certificate verified against another authority")
	}

	cl := leaf(ca.Client("cms-blog"))(t)
	if cl.Subject.String() != "CN=cms-blog" {
		t.Errorf("client subject %q, want CN=cms-blog", cl.Subject)
	}
	if _, err := cl.Verify(x509.VerifyOptions{Roots: pool(t, ca), KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}); err != nil {
		t.Errorf("client certificate: %v", err)
	}
	if _, err := cl.Verify(x509.VerifyOptions{Roots: pool(t, ca), KeyUsages: srvUse}); err == nil {
		t.Error("client certificate verified for server use")
	}

	// Two certificates for one name are two files.
	c1, _ := ca.Client("same")
	c2, _ := ca.Client("same")
	if c1 == c2 {
		t.Errorf("both certificates written to %s", c1)
	}
}
