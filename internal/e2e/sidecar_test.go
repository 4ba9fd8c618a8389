package e2e

import (
	"crypto/tls"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/vigil-sec/vigil/internal/config"
	"github.com/vigil-sec/vigil/internal/pki"
	"github.com/vigil-sec/vigil/internal/server"
	"github.com/vigil-sec/vigil/internal/tlsconf"
)

// outboundSidecar is a caller's sidecar: its app reaches it with plain
// HTTP; it calls the orders sidecar over mutual TLS with its own SVID and
// verifies the other side by SPIFFE ID.
func outboundSidecar(t *testing.T, ca, id, ordersSidecar string) *gw {
	return startGateway(t, fmt.Sprintf(`mode: enforce
listen: {http: 127.0.0.1:0}
events: {file: {{DIR}}/events.jsonl, flush_interval: 10ms}
discovery: {enabled: false}
routes:
  - name: orders
    match: {host: orders.internal}
    upstream: https://%s
    upstream_tls:
      profile: modern
      svid: {ca_dir: %s, spiffe_id: %q}
      spiffe_id: spiffe://shop.local/orders
`, ordersSidecar, ca, id), server.Options{Placement: "sidecar"})
}

// TestSidecarMTLS: app A → sidecar A → mTLS → sidecar B → app B, no code
// in either app: B sees the verified caller and never a spoofed one; a
// caller the rules do not allow is refused; the hop is TLS 1.3 with the
// hybrid post-quantum group.
func TestSidecarMTLS(t *testing.T) {
	ca := filepath.Join(t.TempDir(), "ca")
	if _, err := pki.Init(ca, "shop.local", pki.InitOptions{}); err != nil {
		t.Fatal(err)
	}
	appB := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, "peer=%s path=%s", r.Header.Get("X-Vigil-Peer-Identity"), r.URL.Path)
	}))
	t.Cleanup(appB.Close)
	sideB := startGateway(t, fmt.Sprintf(`mode: enforce
listen:
  https:
    addr: 127.0.0.1:0
    profile: modern
    svid: {ca_dir: %s, spiffe_id: spiffe://shop.local/orders}
events: {file: {{DIR}}/events.jsonl, flush_interval: 10ms}
discovery: {enabled: false}
routes: [{name: orders-app, upstream: %q}]
transport:
  connections:
    default: deny
    rules:
      - {name: cart-to-orders, from: [spiffe://shop.local/cart], to: [orders.internal], methods: [GET, POST], action: allow}
`, ca, appB.URL), server.Options{Placement: "sidecar"})
	bAddr := sideB.g.Addr("https")
	sideA := outboundSidecar(t, ca, "spiffe://shop.local/cart", bAddr)
	sideAds := outboundSidecar(t, ca, "spiffe://shop.local/ads", bAddr)

	call := func(sidecar *gw, path string, hdr map[string]string) (int, string) {
		req, _ := http.NewRequest("GET", sidecar.URL+path, nil)
		req.Host = "orders.internal"
		for k, v := range hdr {
			req.Header.Set(k, v)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	// Allowed, with a spoofed identity header from app A that must not pass.
	code, body := call(sideA, "/orders/7", map[string]string{"X-Vigil-Peer-Identity": "spiffe://shop.local/admin"})
	if code != 200 || body != "peer=spiffe://shop.local/cart path=/orders/7" {
		t.Fatalf("cart → orders: %d %q", code, body)
	}
	// A workload the rules do not allow.
	if code, body := call(sideAds, "/orders/7", nil); code != 403 || strings.Contains(body, "peer=") {
		t.Fatalf("ads → orders: %d %q, want 403 from sidecar B", code, body)
	}
	// Straight to sidecar B, trusting its CA but without a client
	// certificate: no TLS session.
	tc, err := tlsconf.Client(&config.UpstreamTLS{CA: filepath.Join(ca, "bundle.pem"), SPIFFEID: "spiffe://shop.local/orders"}, "", "", quietLog())
	if err != nil {
		t.Fatal(err)
	}
	resp, err := (&http.Client{Transport: &http.Transport{TLSClientConfig: tc}, Timeout: 5 * time.Second}).Get("https://" + bAddr + "/orders/7")
	if err == nil {
		resp.Body.Close()
		t.Fatal("sidecar B answered a client without a certificate")
	}
	if !strings.Contains(err.Error(), "certificate") {
		t.Fatalf("without a client certificate: %v", err)
	}

	// Sidecar B's events: the caller by workload, the hop's TLS facts,
	// and the refusal.
	evs := sideB.readEvents(2)
	ok := evs[0]
	if ok.Source.Workload != "spiffe://shop.local/cart" || ok.TLS == nil || ok.TLS.Version != "1.3" || ok.TLS.Group != "X25519MLKEM768" || !ok.TLS.MTLS {
		t.Fatalf("allowed hop: source %+v tls %+v", ok.Source, ok.TLS)
	}
	refused := evs[1]
	if refused.Decision != "block" || refused.Source.Workload != "spiffe://shop.local/ads" || len(refused.Findings) == 0 ||
		refused.Findings[0].Layer != "connections" || refused.Findings[0].RuleID != "connections.default" {
		t.Fatalf("refusal event: %+v", refused)
	}
}

// TestSidecarSVIDRotation: with 5-second SVIDs on both sidecars (renewed
// at half-life), continuous traffic through the pair across three
// rotations of sidecar B's certificate sees no error.
func TestSidecarSVIDRotation(t *testing.T) {
	if testing.Short() {
		t.Skip("runs for 8 s")
	}
	ca := filepath.Join(t.TempDir(), "ca")
	if _, err := pki.Init(ca, "shop.local", pki.InitOptions{}); err != nil {
		t.Fatal(err)
	}
	app := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, r.Header.Get("X-Vigil-Peer-Identity"))
	}))
	t.Cleanup(app.Close)
	sideB := startGateway(t, fmt.Sprintf(`listen:
  https:
    addr: 127.0.0.1:0
    svid: {ca_dir: %s, spiffe_id: spiffe://shop.local/orders, ttl: 5s}
discovery: {enabled: false}
routes: [{name: app, upstream: %q}]
`, ca, app.URL), server.Options{Placement: "sidecar"})
	bAddr := sideB.g.Addr("https")
	sideA := startGateway(t, fmt.Sprintf(`listen: {http: 127.0.0.1:0}
discovery: {enabled: false}
routes:
  - name: orders
    upstream: https://%s
    upstream_tls:
      svid: {ca_dir: %s, spiffe_id: spiffe://shop.local/cart, ttl: 5s}
      spiffe_id: spiffe://shop.local/orders
`, bAddr, ca), server.Options{Placement: "sidecar"})
	probe, err := tlsconf.Client(&config.UpstreamTLS{SVID: &config.SVID{CADir: ca, SPIFFEID: "spiffe://shop.local/probe"},
		SPIFFEID: "spiffe://shop.local/orders"}, "", "", quietLog())
	if err != nil {
		t.Fatal(err)
	}
	serials := map[string]bool{}
	// Kept-alive connections from A to B live across renewals; new ones
	// get the new certificate.
	client := &http.Client{Timeout: 5 * time.Second}
	requests, lastProbe := 0, time.Time{}
	for end := time.Now().Add(8 * time.Second); time.Now().Before(end); requests++ {
		resp, err := client.Get(sideA.URL + "/orders/1")
		if err != nil {
			t.Fatalf("request %d: %v", requests, err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 || string(b) != "spiffe://shop.local/cart" {
			t.Fatalf("request %d: %d %q", requests, resp.StatusCode, b)
		}
		if time.Since(lastProbe) > 250*time.Millisecond {
			lastProbe = time.Now()
			c, err := tls.Dial("tcp", bAddr, probe)
			if err != nil {
				t.Fatalf("probe: %v", err)
			}
			serials[c.ConnectionState().PeerCertificates[0].SerialNumber.String()] = true
			c.Close()
		}
		time.Sleep(5 * time.Millisecond)
	}
	if len(serials) < 4 {
		t.Fatalf("sidecar B presented %d certificates in 8 s, want at least 4 (three rotations)", len(serials))
	}
	t.Logf("%d requests without an error across %d rotations of sidecar B's SVID", requests, len(serials)-1)
}
