// Package testcert makes a private certificate authority for a test and
// issues the server and client certificates a TLS test needs, written as
// PEM files into the test's temporary directory.
//
// The certificates use P-256 keys and are valid from an hour before to an
// hour after they are made. Each subject is a common name only, so that a
// server which maps certificates to users (nats-server's verify_and_map)
// sees "CN=<name>".
package testcert

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"os"
	"testing"
	"time"
)

// CA is a certificate authority of the test's own.
type CA struct {
	t    testing.TB
	dir  string
	cert *x509.Certificate
	key  *ecdsa.PrivateKey
	file string
}

// New makes a certificate authority named "purgebus test CA" and writes
// its certificate to a file of t's temporary directory. A second New in
// the same test makes an authority that trusts nothing the first signed.
func New(t testing.TB) *CA {
	t.Helper()
	key := newKey(t)
	tmpl := template(t, "purgebus test CA")
	tmpl.IsCA, tmpl.BasicConstraintsValid = true, true
	tmpl.KeyUsage = x509.KeyUsageCertSign
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	ca := &CA{t: t, dir: t.TempDir(), cert: cert, key: key}
	ca.file = ca.write("ca-*.pem", "CERTIFICATE", der)
	return ca
}

// File returns the path of the authority's PEM certificate: what a client
// or server is given to trust.
func (ca *CA) File() string { return ca.file }

// Server issues a server certificate for hosts, each a DNS name or an IP
// address, with the first as its common name. It returns the PEM
// certificate and key files.
func (ca *CA) Server(hosts ...string) (certFile, keyFile string) {
	ca.t.Helper()
	if len(hosts) == 0 {
		ca.t.Fatal("testcert: a server certificate needs a host")
	}
	tmpl := template(ca.t, hosts[0])
	tmpl.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}
	for _, h := range hosts {
		if ip := net.ParseIP(h); ip != nil {
			tmpl.IPAddresses = append(tmpl.IPAddresses, ip)
		} else {
			tmpl.DNSNames = append(tmpl.DNSNames, h)
		}
	}
	return ca.issue(tmpl)
}

// Client issues a client certificate with the common name cn. It returns
// the PEM certificate and key files.
func (ca *CA) Client(cn string) (certFile, keyFile string) {
	ca.t.Helper()
	tmpl := template(ca.t, cn)
	tmpl.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}
	return ca.issue(tmpl)
}

func (ca *CA) issue(tmpl *x509.Certificate) (certFile, keyFile string) {
	ca.t.Helper()
	key := newKey(ca.t)
	tmpl.KeyUsage = x509.KeyUsageDigitalSignature
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.cert, &key.PublicKey, ca.key)
	if err != nil {
		ca.t.Fatal(err)
	}
	kder, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		ca.t.Fatal(err)
	}
	name := tmpl.Subject.CommonName
	return ca.write(name+"-*.pem", "CERTIFICATE", der), ca.write(name+"-*-key.pem", "EC PRIVATE KEY", kder)
}

// write stores a PEM block in a new file named after pattern (as
// os.CreateTemp takes it), so that two certificates for one name do not
// overwrite each other.
func (ca *CA) write(pattern, typ string, der []byte) string {
	ca.t.Helper()
	f, err := os.CreateTemp(ca.dir, pattern)
	if err != nil {
		ca.t.Fatal(err)
	}
	_, err = f.Write(pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}))
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		ca.t.Fatal(err)
	}
	return f.Name()
}

func newKey(t testing.TB) *ecdsa.PrivateKey {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return key
}

// template is a certificate for cn valid from an hour ago to an hour from
// now, with a random serial: certificates of one authority must not share
// one.
func template(t testing.TB, cn string) *x509.Certificate {
	t.Helper()
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 62))
	if err != nil {
		t.Fatal(err)
	}
	return &x509.Certificate{
		SerialNumber: serial,
		Subject:      pkix.Name{CommonName: cn},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(time.Hour),
	}
}
