package e2e

import (
	"bufio"
	"context"
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
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/vigil-sec/vigil/internal/event"
	"github.com/vigil-sec/vigil/internal/pki"
	"github.com/vigil-sec/vigil/internal/server"
)

// testCA is a CA of the outside world (not Vigil's): the real
// destinations' certificates chain to it.
type testCA struct {
	cert *x509.Certificate
	key  *ecdsa.PrivateKey
	file string
	pool *x509.CertPool
}

func newTestCA(t *testing.T, name string) *testCA {
	t.Helper()
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: name},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, _ := x509.ParseCertificate(der)
	file := filepath.Join(t.TempDir(), name+".pem")
	if err := os.WriteFile(file, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AddCert(cert)
	return &testCA{cert: cert, key: key, file: file, pool: pool}
}

func (ca *testCA) leaf(t *testing.T, names ...string) tls.Certificate {
	t.Helper()
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(time.Now().UnixNano()), Subject: pkix.Name{CommonName: names[0]},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour), DNSNames: names,
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.cert, &key.PublicKey, ca.key)
	if err != nil {
		t.Fatal(err)
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}
}

// realServer is an HTTPS destination on loopback (HTTP/2 and 1.1) that
// tells who answered and what it received.
func realServer(t *testing.T, name string, cert tls.Certificate) *httptest.Server {
	s := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, "%s %s %s %s auth=%q", name, r.Method, r.URL.Path, r.Proto, r.Header.Get("Authorization"))
	}))
	s.EnableHTTP2 = true
	s.TLS = &tls.Config{Certificates: []tls.Certificate{cert}}
	s.StartTLS()
	t.Cleanup(s.Close)
	return s
}

type egressEnv struct {
	g       *gw
	proxy   *url.URL
	vigil   *x509.CertPool // the Vigil CA's bundle: what an app with interception trusts
	outside *testCA
	is      *issuer
}

func startEgress(t *testing.T) *egressEnv {
	t.Helper()
	caDir := filepath.Join(t.TempDir(), "ca")
	ca, err := pki.Init(caDir, "shop.local", pki.InitOptions{})
	if err != nil {
		t.Fatal(err)
	}
	outside := newTestCA(t, "outside")
	other := newTestCA(t, "other")
	real := realServer(t, "real", outside.leaf(t, "api.payments.test", "tunnel.payments.test", "pinned.payments.test"))
	untrusted := realServer(t, "untrusted", other.leaf(t, "untrusted.payments.test"))
	app := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { fmt.Fprint(w, "local app") }))
	t.Cleanup(app.Close)
	is := newIssuer(t)
	jwks := filepath.Join(t.TempDir(), "jwks.json")
	if err := os.WriteFile(jwks, is.jwks(), 0o600); err != nil {
		t.Fatal(err)
	}
	realAddr := strings.TrimPrefix(real.URL, "https://")
	// Tunnels dial names; the test resolves them to the loopback servers.
	dial := func(ctx context.Context, network, addr string) (net.Conn, error) {
		switch addr {
		case "tunnel.payments.test:443", "pinned.payments.test:443":
			addr = realAddr
		}
		return (&net.Dialer{}).DialContext(ctx, network, addr)
	}
	g := startGateway(t, fmt.Sprintf(`mode: enforce
listen: {http: 127.0.0.1:0}
events: {file: {{DIR}}/events.jsonl, flush_interval: 10ms}
discovery: {enabled: false}
identity:
  jwt:
    - issuer: https://id.shop.local
      jwks_file: %s
      audiences: [shop]
      algorithms: [ES256, RS256]
routes:
  - {name: app, upstream: %s}
  - {name: payments, match: {host: api.payments.test}, upstream: %s, upstream_server_name: api.payments.test, upstream_ca: %s}
  - {name: untrusted, match: {host: untrusted.payments.test}, upstream: %s, upstream_server_name: untrusted.payments.test, upstream_ca: %s}
transport:
  egress:
    listen: 127.0.0.1:0
    ca_dir: %s
    default: block
    rules:
      - {name: evil, destination: evil.test, action: block}
      - {name: passthrough, destination: tunnel.payments.test, action: tunnel}
      - {name: pinned, destination: pinned.payments.test, action: intercept, fallback: tunnel}
      - {name: payments, destination: api.payments.test, methods: [GET, POST], action: intercept}
      - {name: payments-any, destination: "*.payments.test", action: intercept}
`, jwks, app.URL, real.URL, outside.file, untrusted.URL, outside.file, caDir), server.Options{Placement: "sidecar", EgressDial: dial})
	p, _ := url.Parse("http://" + g.g.Addr("egress"))
	return &egressEnv{g: g, proxy: p, vigil: pki.Pool(ca.Bundle), outside: outside, is: is}
}

// client is an app using HTTPS_PROXY, trusting roots.
func (e *egressEnv) client(roots *x509.CertPool, h2 bool) *http.Client {
	tr := &http.Transport{Proxy: http.ProxyURL(e.proxy), TLSClientConfig: &tls.Config{RootCAs: roots},
		ForceAttemptHTTP2: h2, DisableKeepAlives: !h2}
	return &http.Client{Transport: tr, Timeout: 10 * time.Second}
}

type egressResult struct {
	status int
	body   string
	proto  string
	issuer string
	err    error
}

func (e *egressEnv) do(c *http.Client, method, url string, hdr map[string]string) egressResult {
	req, _ := http.NewRequest(method, url, nil)
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	resp, err := c.Do(req)
	if err != nil {
		return egressResult{err: err}
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	r := egressResult{status: resp.StatusCode, body: string(b), proto: resp.Proto}
	if resp.TLS != nil && len(resp.TLS.PeerCertificates) > 0 {
		r.issuer = resp.TLS.PeerCertificates[0].Issuer.CommonName
	}
	return r
}

// waitEvent waits for the first event that matches.
func (e *egressEnv) waitEvent(t *testing.T, what string, match func(ev event.Event) bool) event.Event {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for time.Now().Before(deadline) {
		for _, ev := range readEventFile(t, e.g.events) {
			if match(ev) {
				return ev
			}
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("no event: %s", what)
	return event.Event{}
}

func egressFinding(ev event.Event, kind, rule string) bool {
	for _, f := range ev.Findings {
		if f.Kind == kind && f.RuleID == rule && f.Layer == "egress" {
			return true
		}
	}
	return false
}

// TestEgress: the app's outbound HTTPS through the sidecar's egress
// listener, intercepted, tunneled or blocked by rule.
func TestEgress(t *testing.T) {
	e := startEgress(t)
	tok := e.is.token(t, "ES256", e.is.claims("user-17", nil), nil)
	vigilApp := e.client(e.vigil, false)

	t.Run("intercepted request goes through the pipeline and the route", func(t *testing.T) {
		r := e.do(vigilApp, "GET", "https://api.payments.test/v1/charges", bearer(tok))
		if r.err != nil || r.status != 200 || !strings.HasPrefix(r.body, "real GET /v1/charges") || !strings.Contains(r.body, "Bearer ") {
			t.Fatalf("got %+v", r)
		}
		if r.issuer != "shop.local intermediate CA" {
			t.Fatalf("the app saw a certificate from %q, want the Vigil CA's", r.issuer)
		}
		ev := e.waitEvent(t, "intercepted GET", func(ev event.Event) bool {
			return ev.Type == "" && ev.Route == "payments" && ev.Request.Path == "/v1/charges"
		})
		if ev.Request.Method != "GET" || ev.Destination.Host != "api.payments.test" || ev.TLS == nil || !ev.TLS.Intercepted ||
			ev.Identity == nil || !strings.HasPrefix(ev.Identity.TokenID, "sha256:") || ev.Request.Auth != "bearer_jwt" || ev.Response.Status != 200 {
			t.Fatalf("event %+v tls %+v identity %+v", ev, ev.TLS, ev.Identity)
		}
	})

	t.Run("HTTP/2 inside the intercepted tunnel", func(t *testing.T) {
		r := e.do(e.client(e.vigil, true), "POST", "https://api.payments.test/v1/refunds", bearer(tok))
		if r.err != nil || r.status != 200 || r.proto != "HTTP/2.0" || !strings.HasPrefix(r.body, "real POST /v1/refunds") {
			t.Fatalf("got %+v", r)
		}
		ev := e.waitEvent(t, "intercepted h2 POST", func(ev event.Event) bool { return ev.Request.Path == "/v1/refunds" })
		if ev.Request.Method != "POST" || ev.TLS == nil || !ev.TLS.Intercepted || ev.Identity == nil {
			t.Fatalf("event %+v", ev)
		}
	})

	t.Run("a method the rule does not list is refused after decryption", func(t *testing.T) {
		r := e.do(vigilApp, "DELETE", "https://api.payments.test/v1/charges/7", nil)
		if r.err != nil || r.status != 403 || !strings.Contains(r.body, "method") {
			t.Fatalf("got %+v", r)
		}
		ev := e.waitEvent(t, "refused DELETE", func(ev event.Event) bool { return ev.Request.Method == "DELETE" })
		if ev.Decision != "block" || !egressFinding(ev, "method_not_allowed", "payments") || ev.TLS == nil || !ev.TLS.Intercepted {
			t.Fatalf("event %+v", ev)
		}
	})

	t.Run("a destination with an untrusted certificate gives 502", func(t *testing.T) {
		r := e.do(vigilApp, "GET", "https://untrusted.payments.test/x", nil)
		if r.err != nil || r.status != 502 || strings.Contains(r.body, "untrusted GET") {
			t.Fatalf("got %+v", r)
		}
		ev := e.waitEvent(t, "untrusted upstream", func(ev event.Event) bool { return ev.Route == "untrusted" })
		if ev.Response.Status != 502 || !strings.Contains(ev.Error, "certificate") || ev.TLS == nil || !ev.TLS.Intercepted {
			t.Fatalf("event %+v", ev)
		}
	})

	t.Run("an intercepted host without its own https route gives 502, not the catch-all", func(t *testing.T) {
		r := e.do(vigilApp, "GET", "https://noroute.payments.test/x", nil)
		if r.err != nil || r.status != 502 || strings.Contains(r.body, "local app") || !strings.Contains(r.body, "needs its own route") {
			t.Fatalf("got %+v", r)
		}
		ev := e.waitEvent(t, "no route", func(ev event.Event) bool { return ev.Destination.Host == "noroute.payments.test" })
		if !egressFinding(ev, "no_verified_route", "payments-any") || ev.Response.Status != 502 || ev.Request.Path != "/x" {
			t.Fatalf("event %+v", ev)
		}
	})

	t.Run("a tunnel decrypts nothing and records the SNI", func(t *testing.T) {
		// The app trusts only the outside CA: it must see the real
		// server's certificate.
		r := e.do(e.client(e.outside.pool, false), "GET", "https://tunnel.payments.test/t", nil)
		if r.err != nil || r.status != 200 || !strings.HasPrefix(r.body, "real GET /t") || r.issuer != "outside" {
			t.Fatalf("got %+v", r)
		}
		ev := e.waitEvent(t, "tunnel", func(ev event.Event) bool {
			return ev.Type == "egress" && ev.Route == "passthrough" && ev.Request.Method == "CONNECT"
		})
		if ev.Destination.Host != "tunnel.payments.test" || ev.TLS == nil || ev.TLS.Intercepted || ev.TLS.Version != "1.3" ||
			ev.Request.Bytes == 0 || ev.Response.Bytes == 0 || ev.Decision != "allow" {
			t.Fatalf("event %+v tls %+v", ev, ev.TLS)
		}
	})

	t.Run("transparent TLS: the destination from the SNI", func(t *testing.T) {
		c, err := tls.Dial("tcp", e.proxy.Host, &tls.Config{ServerName: "tunnel.payments.test", RootCAs: e.outside.pool})
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		fmt.Fprint(c, "GET /raw HTTP/1.1\r\nHost: tunnel.payments.test\r\nConnection: close\r\n\r\n")
		resp, err := http.ReadResponse(bufio.NewReader(c), nil)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		c.Close() // the tunnel ends, and is recorded, when both sides are done
		if !strings.HasPrefix(string(b), "real GET /raw") {
			t.Fatalf("got %q", b)
		}
		ev := e.waitEvent(t, "transparent tunnel", func(ev event.Event) bool {
			return ev.Type == "egress" && ev.Route == "passthrough" && ev.Request.Method == ""
		})
		if ev.Destination.Host != "tunnel.payments.test" || ev.Destination.Upstream != "tunnel.payments.test:443" || ev.TLS == nil || ev.TLS.Intercepted {
			t.Fatalf("event %+v", ev)
		}
		// Intercepted the same way: the leaf minted for the SNI.
		c2, err := tls.Dial("tcp", e.proxy.Host, &tls.Config{ServerName: "api.payments.test", RootCAs: e.vigil})
		if err != nil {
			t.Fatal(err)
		}
		defer c2.Close()
		fmt.Fprint(c2, "GET /v1/raw HTTP/1.1\r\nHost: api.payments.test\r\nConnection: close\r\n\r\n")
		resp, err = http.ReadResponse(bufio.NewReader(c2), nil)
		if err != nil {
			t.Fatal(err)
		}
		b, _ = io.ReadAll(resp.Body)
		if resp.StatusCode != 200 || !strings.HasPrefix(string(b), "real GET /v1/raw") {
			t.Fatalf("transparent intercept: %d %q", resp.StatusCode, b)
		}
	})

	t.Run("block rules refuse", func(t *testing.T) {
		r := e.do(vigilApp, "GET", "https://evil.test/", nil)
		if r.err == nil || !strings.Contains(r.err.Error(), "Forbidden") {
			t.Fatalf("CONNECT to a blocked host: %+v", r)
		}
		ev := e.waitEvent(t, "block", func(ev event.Event) bool { return ev.Type == "egress" && ev.Route == "evil" })
		if ev.Decision != "block" || !egressFinding(ev, "egress_blocked", "evil") || ev.Destination.Host != "evil.test" {
			t.Fatalf("event %+v", ev)
		}
		// Raw TLS: an alert, no session. The default (block) too.
		for _, host := range []string{"evil.test", "elsewhere.test"} {
			if c, err := tls.Dial("tcp", e.proxy.Host, &tls.Config{ServerName: host, RootCAs: e.vigil}); err == nil {
				c.Close()
				t.Fatalf("raw TLS to %s got a session", host)
			}
		}
		ev = e.waitEvent(t, "default block", func(ev event.Event) bool { return ev.Destination.Host == "elsewhere.test" })
		if !egressFinding(ev, "egress_blocked", "egress.default") || ev.TLS == nil || ev.TLS.Version != "1.3" {
			t.Fatalf("event %+v", ev)
		}
	})

	t.Run("a pinned client falls back to a tunnel", func(t *testing.T) {
		pinned := e.client(e.outside.pool, false)
		r := e.do(pinned, "GET", "https://pinned.payments.test/p", nil)
		if r.err == nil {
			t.Fatalf("the first connection of a client that does not trust Vigil succeeded: %+v", r)
		}
		ev := e.waitEvent(t, "refused interception", func(ev event.Event) bool {
			return ev.Type == "egress" && egressFinding(ev, "interception_refused", "pinned")
		})
		if ev.Destination.Host != "pinned.payments.test" || ev.Findings[0].Action != "tunnel" {
			t.Fatalf("event %+v", ev)
		}
		r = e.do(pinned, "GET", "https://pinned.payments.test/p", nil)
		if r.err != nil || r.status != 200 || !strings.HasPrefix(r.body, "real GET /p") || r.issuer != "outside" {
			t.Fatalf("after the fallback: %+v", r)
		}
		ev = e.waitEvent(t, "pinned tunnel", func(ev event.Event) bool {
			return ev.Type == "egress" && egressFinding(ev, "pinned_client", "pinned")
		})
		if ev.Decision != "allow" || ev.TLS == nil || ev.TLS.Intercepted || ev.Response.Bytes == 0 {
			t.Fatalf("event %+v", ev)
		}
	})

	t.Run("garbage on the egress listener", func(t *testing.T) {
		for _, in := range []string{"\x16\x03\x01\x00\x05hello", "\x16\x03\x01\xff\xff", "GET / HTTP/1.1\r\n\r\n", "CONNECT\r\n\r\n",
			"CONNECT a:b:c HTTP/1.1\r\n\r\n", strings.Repeat("A", 20000), "\x00\x01\x02"} {
			c, err := net.Dial("tcp", e.proxy.Host)
			if err != nil {
				t.Fatal(err)
			}
			_ = c.SetDeadline(time.Now().Add(5 * time.Second))
			_, _ = io.WriteString(c, in)
			_, _ = io.ReadAll(c) // the server answers or closes; it must not hang
			c.Close()
		}
		// Still serving.
		if r := e.do(vigilApp, "GET", "https://api.payments.test/v1/ok", nil); r.status != 200 {
			t.Fatalf("after garbage: %+v", r)
		}
	})
}

// TestEgressInterceptLatency measures what interception adds: the first
// request to a host (leaf minting and the handshake) and later ones (the
// leaf cached), each on a new connection, against the same request
// tunneled.
func TestEgressInterceptLatency(t *testing.T) {
	if testing.Short() {
		t.Skip("measurement")
	}
	e := startEgress(t)
	intercept := e.client(e.vigil, false)
	tunnel := e.client(e.outside.pool, false)
	measure := func(c *http.Client, url string) time.Duration {
		start := time.Now()
		if r := e.do(c, "GET", url, nil); r.err != nil || r.status != 200 {
			t.Fatalf("%s: %+v", url, r)
		}
		return time.Since(start)
	}
	median := func(f func() time.Duration, n int) time.Duration {
		var ds []time.Duration
		for range n {
			ds = append(ds, f())
		}
		sort.Slice(ds, func(i, j int) bool { return ds[i] < ds[j] })
		return ds[len(ds)/2]
	}
	first := measure(intercept, "https://api.payments.test/v1/first")
	cached := median(func() time.Duration { return measure(intercept, "https://api.payments.test/v1/later") }, 31)
	tun := median(func() time.Duration { return measure(tunnel, "https://tunnel.payments.test/later") }, 31)
	cachedN, minted := e.g.g.EgressMinter().Stats()
	t.Logf("interception, new connection per request: first request to a host %v (mint + handshakes), later requests median %v (cached leaf), tunnel median %v; %d leaves minted, %d cached",
		first, cached, tun, minted, cachedN)
	if minted != 1 {
		t.Fatalf("%d leaves minted for one host", minted)
	}
}

// TestEgressReload: the rules follow a reload.
func TestEgressReload(t *testing.T) {
	e := startEgress(t)
	app := e.client(e.vigil, false)
	if r := e.do(app, "GET", "https://evil.test/", nil); r.err == nil || !strings.Contains(r.err.Error(), "Forbidden") {
		t.Fatalf("before the reload: %+v", r)
	}
	b, err := os.ReadFile(e.g.file)
	if err != nil {
		t.Fatal(err)
	}
	yaml := strings.Replace(string(b), "{name: evil, destination: evil.test, action: block}", "{name: evil, destination: evil.test, action: tunnel}", 1)
	if err := os.WriteFile(e.g.file, []byte(yaml), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := e.g.g.Reload(); err != nil {
		t.Fatal(err)
	}
	// Tunneled now: evil.test does not resolve, so the dial fails (502).
	if r := e.do(app, "GET", "https://evil.test/", nil); r.err == nil || !strings.Contains(r.err.Error(), "Bad Gateway") {
		t.Fatalf("after the reload: %+v", r)
	}
	ev := e.waitEvent(t, "failed tunnel", func(ev event.Event) bool {
		return ev.Type == "egress" && ev.Route == "evil" && ev.Decision == "allow"
	})
	if !strings.Contains(ev.Error, "dial evil.test:443") {
		t.Fatalf("event %+v", ev)
	}
}
