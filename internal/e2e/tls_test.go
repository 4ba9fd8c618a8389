package e2e

import (
	"bufio"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"io"
	"math/big"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/vigil-sec/vigil/internal/server"
)

// selfSigned writes a localhost certificate and key into dir.
func selfSigned(t *testing.T, dir string) (certFile, keyFile string, pool *x509.CertPool) {
	t.Helper()
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "localhost"},
		DNSNames: []string{"localhost"}, IPAddresses: []net.IP{net.ParseIP("127.0.0.1")},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	kb, _ := x509.MarshalECPrivateKey(key)
	certFile, keyFile = filepath.Join(dir, "tls.crt"), filepath.Join(dir, "tls.key")
	os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600)
	os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kb}), 0o600)
	cert, _ := x509.ParseCertificate(der)
	pool = x509.NewCertPool()
	pool.AddCert(cert)
	return certFile, keyFile, pool
}

func TestHTTPSListener(t *testing.T) {
	a := echo(t, "a")
	dir := t.TempDir()
	certFile, keyFile, pool := selfSigned(t, dir)
	h := startGateway(t, fmt.Sprintf(`
listen:
  https: {addr: 127.0.0.1:0, cert: %s, key: %s}
admin: 127.0.0.1:0
routes: [{name: main, match: {host: "*", path_prefix: /}, upstream: %s}]
events: {file: "{{DIR}}/events.jsonl", flush_interval: 10ms}
`, certFile, keyFile, a.URL), server.Options{})
	addr := h.g.Addr("https")
	for _, tc := range []struct {
		name  string
		h2    bool
		proto int
	}{{"HTTP/1.1", false, 1}, {"HTTP/2", true, 2}} {
		t.Run(tc.name, func(t *testing.T) {
			tr := &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}, ForceAttemptHTTP2: tc.h2}
			if !tc.h2 {
				tr.TLSNextProto = map[string]func(string, *tls.Conn) http.RoundTripper{}
			}
			resp, err := (&http.Client{Transport: tr}).Get("https://" + addr + "/secure")
			if err != nil {
				t.Fatal(err)
			}
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != 200 || resp.ProtoMajor != tc.proto {
				t.Fatalf("status %d proto %s: %s", resp.StatusCode, resp.Proto, b)
			}
			ev := h.eventFor(resp.Header.Get("Vigil-Txn"))
			if ev.TLS == nil || ev.TLS.Version != "1.3" || ev.TLS.Cipher == "" || ev.TLS.Group == "" {
				t.Fatalf("event tls %+v", ev.TLS)
			}
			var e echoReply
			_ = jsonUnmarshal(b, &e)
			if e.Headers.Get("X-Forwarded-Proto") != "https" {
				t.Fatalf("X-Forwarded-Proto %q", e.Headers.Get("X-Forwarded-Proto"))
			}
		})
	}
	t.Run("ambiguous framing over TLS", func(t *testing.T) {
		c, err := tls.Dial("tcp", addr, &tls.Config{RootCAs: pool, NextProtos: []string{"http/1.1"}})
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		io.WriteString(c, "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n")
		resp, err := http.ReadResponse(bufio.NewReader(c), nil)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != 400 {
			t.Fatalf("status %d, want 400", resp.StatusCode)
		}
	})
}
