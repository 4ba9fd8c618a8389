package egress

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"net"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/vigil-sec/vigil/internal/pki"
)

func newTestMinter(t testing.TB, size int) (*Minter, *x509.CertPool) {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "ca")
	ca, err := pki.Init(dir, "shop.local", pki.InitOptions{})
	if err != nil {
		t.Fatal(err)
	}
	m, err := NewMinter(dir, time.Hour, size)
	if err != nil {
		t.Fatal(err)
	}
	return m, pki.Pool(ca.Bundle)
}

func TestMinter(t *testing.T) {
	m, roots := newTestMinter(t, 2)
	for _, host := range []string{"api.stripe.com", "10.0.0.7"} {
		c, err := m.Certificate(host)
		if err != nil {
			t.Fatal(err)
		}
		leaf := c.Leaf
		inter, _ := x509.ParseCertificate(c.Certificate[1])
		ip := x509.NewCertPool()
		ip.AddCert(inter)
		if _, err := leaf.Verify(x509.VerifyOptions{DNSName: host, Roots: roots, Intermediates: ip}); err != nil {
			t.Fatalf("%s: %v", host, err)
		}
		if k, ok := leaf.PublicKey.(*ecdsa.PublicKey); !ok || k.Curve != elliptic.P256() {
			t.Fatalf("%s: key %T", host, leaf.PublicKey)
		}
		if leaf.IsCA || len(leaf.ExtKeyUsage) != 1 || leaf.ExtKeyUsage[0] != x509.ExtKeyUsageServerAuth || leaf.NotAfter.Sub(leaf.NotBefore) > time.Hour+time.Minute {
			t.Fatalf("%s: leaf profile: CA %v EKU %v life %s", host, leaf.IsCA, leaf.ExtKeyUsage, leaf.NotAfter.Sub(leaf.NotBefore))
		}
	}
	a, _ := m.Certificate("api.stripe.com")
	if b, _ := m.Certificate("api.stripe.com"); a != b {
		t.Fatal("not cached")
	}
	// LRU of 2: a third host evicts the least recently used (10.0.0.7).
	_, _ = m.Certificate("third.example")
	if n, minted := m.Stats(); n != 2 || minted != 3 {
		t.Fatalf("cached %d, minted %d", n, minted)
	}
	if b, _ := m.Certificate("api.stripe.com"); a != b {
		t.Fatal("the recently used leaf was evicted")
	}
	if _, minted := m.Stats(); minted != 3 {
		t.Fatalf("minted %d", minted)
	}
	// Past half its life, a leaf is re-minted.
	m.now = func() time.Time { return time.Now().Add(31 * time.Minute) }
	if b, _ := m.Certificate("api.stripe.com"); a == b {
		t.Fatal("not renewed at half-life")
	}
}

func TestMinterConcurrent(t *testing.T) {
	m, _ := newTestMinter(t, 16)
	var wg sync.WaitGroup
	for i := range 64 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if _, err := m.Certificate(fmt.Sprintf("h%d.test", i%4)); err != nil {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	if n, minted := m.Stats(); n != 4 || minted != 4 {
		t.Fatalf("cached %d, minted %d: concurrent callers must share one minting", n, minted)
	}
}

// BenchmarkInterceptHandshake is what interception costs Vigil per new
// connection: the TLS handshake with the app (TLS 1.3, X25519MLKEM768),
// with a leaf minted for a new host each time ("first") or from the cache
// ("cached").
func BenchmarkInterceptHandshake(b *testing.B) {
	m, roots := newTestMinter(b, 1<<20)
	run := func(b *testing.B, host func(i int) string) {
		for i := 0; b.Loop(); i++ {
			h := host(i)
			c1, c2 := net.Pipe()
			srv := tlsServerConfig(m, h)
			errc := make(chan error, 1)
			go func() { errc <- tls.Server(c2, srv).Handshake() }()
			if err := tls.Client(c1, &tls.Config{ServerName: h, RootCAs: roots}).Handshake(); err != nil {
				b.Fatal(err)
			}
			if err := <-errc; err != nil {
				b.Fatal(err)
			}
			_ = c1.Close()
			_ = c2.Close()
		}
	}
	b.Run("first", func(b *testing.B) { run(b, func(i int) string { return fmt.Sprintf("h%d.bench.test", i) }) })
	b.Run("cached", func(b *testing.B) { run(b, func(int) string { return "api.bench.test" }) })
	b.Run("mint-only", func(b *testing.B) {
		for i := 0; b.Loop(); i++ {
			if _, err := m.mint(fmt.Sprintf("m%d.test", i), time.Now()); err != nil {
				b.Fatal(err)
			}
		}
	})
}
