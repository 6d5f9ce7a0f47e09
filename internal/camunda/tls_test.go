package camunda

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"io"
	"log"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// testPKI is a CA with a server certificate for 127.0.0.1 and a client certificate, written
// as PEM files.
type testPKI struct {
	pool                      *x509.CertPool
	caFile                    string
	server                    tls.Certificate
	clientCert, clientKey     string
	strangerCert, strangerKey string // a client certificate of another CA
	otherKey                  string // a key that matches no certificate here
}

func newTestPKI(t *testing.T) *testPKI {
	t.Helper()
	dir := t.TempDir()
	write := func(name, typ string, der []byte) string {
		p := filepath.Join(dir, name)
		require.NoError(t, os.WriteFile(p, pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}), 0o600))
		return p
	}
	newKey := func() *ecdsa.PrivateKey {
		k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		require.NoError(t, err)
		return k
	}
	keyDER := func(k *ecdsa.PrivateKey) []byte {
		der, err := x509.MarshalPKCS8PrivateKey(k)
		require.NoError(t, err)
		return der
	}
	serial := int64(0)
	issue := func(tmpl *x509.Certificate, parent *x509.Certificate, pub any, signer *ecdsa.PrivateKey) (*x509.Certificate, []byte) {
		serial++
		tmpl.SerialNumber = big.NewInt(serial)
		tmpl.NotBefore, tmpl.NotAfter = time.Now().Add(-time.Hour), time.Now().Add(time.Hour)
		if parent == nil {
			parent = tmpl
		}
		der, err := x509.CreateCertificate(rand.Reader, tmpl, parent, pub, signer)
		require.NoError(t, err)
		c, err := x509.ParseCertificate(der)
		require.NoError(t, err)
		return c, der
	}
	newCA := func(name string) (*x509.Certificate, []byte, *ecdsa.PrivateKey) {
		k := newKey()
		c, der := issue(&x509.Certificate{Subject: pkix.Name{CommonName: name}, IsCA: true, BasicConstraintsValid: true,
			KeyUsage: x509.KeyUsageCertSign}, nil, &k.PublicKey, k)
		return c, der, k
	}
	ca, caDER, caKey := newCA("waitroom test CA")
	p := &testPKI{pool: x509.NewCertPool(), caFile: write("ca.pem", "CERTIFICATE", caDER)}
	p.pool.AddCert(ca)

	sk := newKey()
	_, sDER := issue(&x509.Certificate{Subject: pkix.Name{CommonName: "engine"}, IPAddresses: []net.IP{net.ParseIP("127.0.0.1")},
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}, KeyUsage: x509.KeyUsageDigitalSignature}, ca, &sk.PublicKey, caKey)
	p.server = tls.Certificate{Certificate: [][]byte{sDER}, PrivateKey: sk}

	ck := newKey()
	_, cDER := issue(&x509.Certificate{Subject: pkix.Name{CommonName: "camunda-waitroom"},
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}, KeyUsage: x509.KeyUsageDigitalSignature}, ca, &ck.PublicKey, caKey)
	p.clientCert, p.clientKey = write("client.pem", "CERTIFICATE", cDER), write("client-key.pem", "PRIVATE KEY", keyDER(ck))

	other, _, otherCAKey := newCA("another CA")
	xk := newKey()
	_, xDER := issue(&x509.Certificate{Subject: pkix.Name{CommonName: "stranger"},
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}, KeyUsage: x509.KeyUsageDigitalSignature}, other, &xk.PublicKey, otherCAKey)
	p.strangerCert, p.strangerKey = write("stranger.pem", "CERTIFICATE", xDER), write("stranger-key.pem", "PRIVATE KEY", keyDER(xk))
	p.otherKey = write("other-key.pem", "PRIVATE KEY", keyDER(newKey()))
	return p
}

// mtlsServer requires a client certificate signed by the test CA and answers with its
// common name.
func mtlsServer(t *testing.T, p *testPKI) *httptest.Server {
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.WriteString(w, r.TLS.PeerCertificates[0].Subject.CommonName)
	}))
	srv.TLS = &tls.Config{Certificates: []tls.Certificate{p.server}, ClientAuth: tls.RequireAndVerifyClientCert, ClientCAs: p.pool, MinVersion: tls.VersionTLS12}
	srv.Config.ErrorLog = log.New(io.Discard, "", 0) // the refused handshakes are expected
	srv.StartTLS()
	t.Cleanup(srv.Close)
	return srv
}

func TestMutualTLS(t *testing.T) {
	p := newTestPKI(t)
	srv := mtlsServer(t, p)
	call := func(cfg TLS) (string, error) {
		hc, err := NewHTTPClient(Config{TLS: cfg}, nil)
		require.NoError(t, err)
		defer hc.CloseIdleConnections()
		resp, err := hc.Get(srv.URL + "/version")
		if err != nil {
			return "", err
		}
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		return string(b), err
	}

	cn, err := call(TLS{CAFile: p.caFile, CertFile: p.clientCert, KeyFile: p.clientKey})
	require.NoError(t, err)
	require.Equal(t, "camunda-waitroom", cn, "the server saw the client certificate")

	_, err = call(TLS{CAFile: p.caFile})
	require.Error(t, err, "no client certificate: the server refuses the handshake")

	_, err = call(TLS{CAFile: p.caFile, CertFile: p.strangerCert, KeyFile: p.strangerKey})
	require.Error(t, err, "a certificate of another CA: refused")
}

// Client certificate files are read when the client is built; each problem names the file
// and never shows the key.
func TestClientCertificateErrors(t *testing.T) {
	p := newTestPKI(t)
	missing := filepath.Join(t.TempDir(), "missing.pem")
	keyPEM, err := os.ReadFile(p.clientKey)
	require.NoError(t, err)
	for name, tc := range map[string]struct {
		cfg  TLS
		want string
	}{
		"cert without key":  {TLS{CertFile: p.clientCert}, "camunda.tls.certFile and camunda.tls.keyFile go together"},
		"key without cert":  {TLS{KeyFile: p.clientKey}, "camunda.tls.certFile and camunda.tls.keyFile go together"},
		"missing cert file": {TLS{CertFile: missing, KeyFile: p.clientKey}, "camunda.tls.certFile: open " + missing + ": no such file or directory"},
		"missing key file":  {TLS{CertFile: p.clientCert, KeyFile: missing}, "camunda.tls.keyFile: open " + missing + ": no such file or directory"},
		"key of another certificate": {TLS{CertFile: p.clientCert, KeyFile: p.otherKey},
			"camunda.tls.certFile " + p.clientCert + " with camunda.tls.keyFile " + p.otherKey + ": not a PEM certificate and its matching private key: tls: private key does not match public key"},
		"key as certificate": {TLS{CertFile: p.clientKey, KeyFile: p.clientKey}, "camunda.tls.certFile " + p.clientKey + " with camunda.tls.keyFile"},
	} {
		t.Run(name, func(t *testing.T) {
			_, err := NewHTTPClient(Config{TLS: tc.cfg}, nil)
			require.ErrorContains(t, err, tc.want)
			require.NotContains(t, err.Error(), string(keyPEM[40:80]), "no key material in the error")
		})
	}
}
