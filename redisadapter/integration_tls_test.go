package redisadapter_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/phxgo/pubsub"
	"github.com/phxgo/pubsub/redisadapter"
)

// testPKI is a throwaway certificate authority and a server certificate for 127.0.0.1 it signed, as
// PEM files in a temporary directory.
type testPKI struct {
	caFile, certFile, keyFile string
	roots                     *x509.CertPool
}

func newTestPKI(t testing.TB) *testPKI {
	t.Helper()
	dir := t.TempDir()
	now := time.Now()
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	caTmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "phxgo test CA"},
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.Add(24 * time.Hour),
		IsCA:                  true,
		BasicConstraintsValid: true,
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	ca, err := x509.ParseCertificate(caDER)
	if err != nil {
		t.Fatal(err)
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(2),
		Subject:      pkix.Name{CommonName: "127.0.0.1"},
		NotBefore:    now.Add(-time.Hour),
		NotAfter:     now.Add(24 * time.Hour),
		IPAddresses:  []net.IP{net.IPv4(127, 0, 0, 1)},
		DNSNames:     []string{"localhost"},
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, &key.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	p := &testPKI{
		caFile:   filepath.Join(dir, "ca.pem"),
		certFile: filepath.Join(dir, "server.pem"),
		keyFile:  filepath.Join(dir, "server-key.pem"),
		roots:    x509.NewCertPool(),
	}
	p.roots.AddCert(ca)
	for file, block := range map[string]*pem.Block{
		p.caFile:   {Type: "CERTIFICATE", Bytes: caDER},
		p.certFile: {Type: "CERTIFICATE", Bytes: der},
		p.keyFile:  {Type: "EC PRIVATE KEY", Bytes: keyDER},
	} {
		if err := os.WriteFile(file, pem.EncodeToMemory(block), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	return p
}

// Two nodes reach a TLS-only redis-server through rediss:// URLs, trusting a private CA through
// Config.TLSConfig: broadcasts and direct broadcasts cross. A node that does not trust the CA fails
// pubsub.New with the certificate error.
func TestTLS(t *testing.T) {
	pki := newTestPKI(t)
	clientTLS := &tls.Config{RootCAs: pki.roots, MinVersion: tls.VersionTLS12}
	srv, err := startRedisWith(t, redisOptions{
		TLS: clientTLS,
		Args: []string{"--tls-cert-file", pki.certFile, "--tls-key-file", pki.keyFile,
			"--tls-ca-cert-file", pki.caFile, "--tls-auth-clients", "no"},
	})
	if err != nil {
		if builtWithoutTLS(err) {
			t.Skipf("this redis-server has no TLS support: %v", err)
		}
		t.Fatal(err)
	}
	if !strings.HasPrefix(srv.URL(), "rediss://") {
		t.Fatalf("URL %s", srv.URL())
	}
	name := uniqueName(t)
	cfg := func(node string) redisadapter.Config {
		return redisadapter.Config{URL: srv.URL(), NodeName: node, TLSConfig: clientTLS.Clone()}
	}
	a, _ := startNode(t, name, cfg("a"), pubsub.Config{})
	b, ab := startNode(t, name, cfg("b"), pubsub.Config{})
	sa, sb := newSub(t, a), newSub(t, b)
	sa.Subscribe("t")
	sb.Subscribe("t")
	if err := a.Broadcast(ctx, "t", "over tls"); err != nil {
		t.Fatal(err)
	}
	if got := receive(t, sb).Payload; got != "over tls" {
		t.Fatalf("b received %v", got)
	}
	if got := receive(t, sa).Payload; got != "over tls" { // a's own, delivered locally
		t.Fatalf("a received %v", got)
	}
	if err := a.DirectBroadcast(ctx, "b", "t", "direct over tls"); err != nil {
		t.Fatal(err)
	}
	if got := receive(t, sb).Payload; got != "direct over tls" {
		t.Fatalf("b received %v", got)
	}
	if err := b.DirectBroadcast(ctx, "a", "t", "back over tls"); err != nil {
		t.Fatal(err)
	}
	if got := receive(t, sa).Payload; got != "back over tls" {
		t.Fatalf("a received %v", got)
	}
	// The counter moves once the frame is delivered, a moment after the subscriber could read it.
	eventually(t, time.Second, "b to count 2 received, none dropped", func() bool {
		st := ab.Stats()
		return st.Received == 2 && st.Dropped() == 0
	})

	// Without the CA: a clear certificate error from New, not a hang.
	bad, err := redisadapter.New(redisadapter.Config{URL: srv.URL(), NodeName: "c"})
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	ps, err := pubsub.New(context.Background(), pubsub.Config{Name: name, Adapter: bad})
	if err == nil {
		ps.Close()
		t.Fatal("a node that does not trust the server's CA started")
	}
	if took := time.Since(start); took > 5*time.Second || !strings.Contains(err.Error(), "certificate") {
		t.Fatalf("New failed after %v with %v; want a certificate error, quickly", took, err)
	}
}
