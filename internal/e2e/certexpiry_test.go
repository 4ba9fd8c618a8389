package e2e

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/vigil-sec/vigil/internal/server"
)

// TestCertificateExpiryAlert: an https listener whose certificate file
// expires within its warning window raises a certificate_expiry alert
// event and exports the expiry as a metric.
func TestCertificateExpiryAlert(t *testing.T) {
	dir := t.TempDir()
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	notAfter := time.Now().Add(30 * time.Minute).Truncate(time.Second)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(7), Subject: pkix.Name{CommonName: "shop.example"}, DNSNames: []string{"shop.example"},
		NotBefore: notAfter.Add(-2 * time.Hour), NotAfter: notAfter, KeyUsage: x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	kb, _ := x509.MarshalPKCS8PrivateKey(key)
	crt, kf := filepath.Join(dir, "tls.crt"), filepath.Join(dir, "tls.key")
	os.WriteFile(crt, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600)
	os.WriteFile(kf, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: kb}), 0o600)
	up := fastUpstream(t)
	g := startGateway(t, fmt.Sprintf(`listen:
  https: {addr: 127.0.0.1:0, cert: %s, key: %s}
admin: 127.0.0.1:0
events: {file: {{DIR}}/events.jsonl, flush_interval: 10ms}
discovery: {enabled: false}
routes: [{name: r, upstream: %q}]
`, crt, kf, up.URL), server.Options{})
	ev := g.readEvents(1)[0]
	if ev.Type != "alert" || ev.Alert == nil || ev.Alert.Kind != "certificate_expiry" || !strings.Contains(ev.Alert.Detail, notAfter.UTC().Format(time.RFC3339)) {
		t.Fatalf("event %+v", ev)
	}
	if got := g.metric("vigil_tls_certificate_expiry_timestamp_seconds"); got != float64(notAfter.Unix()) {
		t.Fatalf("expiry metric %v, want %d", got, notAfter.Unix())
	}
}
