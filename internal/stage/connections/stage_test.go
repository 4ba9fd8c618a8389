package connections

import (
	"crypto/tls"
	"crypto/x509"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"github.com/vigil-sec/vigil/internal/config"
	"github.com/vigil-sec/vigil/internal/pipeline"
	"github.com/vigil-sec/vigil/internal/stage/stagetest"
)

func build(t *testing.T, transport string) *Stage {
	t.Helper()
	cfg, err := config.Parse([]byte(`routes:
  - {name: orders, match: {host: orders.internal, path_prefix: /}, upstream: "http://127.0.0.1:1"}
  - {name: any, match: {path_prefix: /}, upstream: "http://127.0.0.1:1"}
transport:
`+transport+"\n"), "test.yaml")
	if err != nil {
		t.Fatal(err)
	}
	st, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return st.(*Stage)
}

const rules = `  connections:
    default: deny
    rules:
      - {name: cart-reads-orders, from: [spiffe://shop.local/cart], to: [orders.internal], methods: [GET], paths: [/orders/*], action: allow}
      - {name: no-ads, from: [spiffe://shop.local/ads/*], action: deny}
      - {name: shop-workloads, from: ["spiffe://shop.local/*"], to: [orders.internal], paths: [/health], action: allow}
      - {name: public-catalog, from: [unauthenticated, "*"], to: ["*.public"], action: allow}`

func TestRules(t *testing.T) {
	s := build(t, rules)
	for _, tc := range []struct {
		name, method, target string
		peer                 []string
		verified             bool
		rule                 string // "" allowed
	}{
		{"cart reads an order", "GET", "http://orders.internal/orders/7", []string{"spiffe://shop.local/cart"}, true, ""},
		{"cart reads below an order", "GET", "http://orders.internal/orders/7/items", []string{"spiffe://shop.local/cart"}, true, ""},
		{"cart may not write", "POST", "http://orders.internal/orders/7", []string{"spiffe://shop.local/cart"}, true, "connections.default"},
		{"cart may not list", "GET", "http://orders.internal/orders", []string{"spiffe://shop.local/cart"}, true, "connections.default"},
		{"ads are denied first", "GET", "http://orders.internal/health", []string{"spiffe://shop.local/ads/tracker"}, true, "no-ads"},
		{"any shop workload: health", "GET", "http://orders.internal/health", []string{"spiffe://shop.local/users"}, true, ""},
		{"other trust domain", "GET", "http://orders.internal/health", []string{"spiffe://evil.example/cart"}, true, "connections.default"},
		{"a presented, unverified certificate is nobody", "GET", "http://orders.internal/orders/7", []string{"spiffe://shop.local/cart"}, false, "connections.default"},
		{"two SPIFFE IDs are nobody", "GET", "http://orders.internal/orders/7", []string{"spiffe://shop.local/cart", "spiffe://shop.local/x"}, true, "connections.default"},
		{"anonymous to the public catalog", "GET", "http://catalog.public/products", nil, false, ""},
		{"anonymous to orders", "GET", "http://orders.internal/health", nil, false, "connections.default"},
		{"host with port and case", "GET", "http://ORDERS.internal:8443/orders/7", []string{"spiffe://shop.local/cart"}, true, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := httptest.NewRequest(tc.method, tc.target, nil)
			r.Header.Set("X-Vigil-Peer-Identity", "spiffe://shop.local/admin") // spoofed
			if tc.peer != nil {
				leaf := &x509.Certificate{}
				for _, u := range tc.peer {
					pu, _ := url.Parse(u)
					leaf.URIs = append(leaf.URIs, pu)
				}
				r.TLS = &tls.ConnectionState{PeerCertificates: []*x509.Certificate{leaf}}
				if tc.verified {
					r.TLS.VerifiedChains = [][]*x509.Certificate{{leaf}}
				}
			}
			v, tx := stagetest.Run(t, s, r, false)
			got := v.RuleID
			if v.Action != pipeline.Block {
				got = ""
			}
			if got != tc.rule {
				t.Fatalf("rule %q (%+v), want %q", got, v, tc.rule)
			}
			if tc.rule != "" {
				if len(tx.Findings) != 1 || tx.Findings[0].Layer != "connections" || tx.Findings[0].Kind != "connection_refused" || v.HTTPStatus() != 403 {
					t.Fatalf("findings %+v status %d", tx.Findings, v.HTTPStatus())
				}
				return
			}
			want := ""
			if tc.verified && len(tc.peer) == 1 {
				want = tc.peer[0]
			}
			if h := r.Header.Get("X-Vigil-Peer-Identity"); h != want {
				t.Fatalf("peer header %q, want %q (a spoofed one removed)", h, want)
			}
		})
	}
}

// TestNoRules: without rules the stage stops nothing, is passive (it
// does not mark endpoints protected), and still replaces the header.
func TestNoRules(t *testing.T) {
	s := build(t, "  peer_header: X-Peer")
	if !s.Passive() {
		t.Fatal("a stage without rules must be passive")
	}
	r := httptest.NewRequest("GET", "http://orders.internal/x", nil)
	r.Header.Set("X-Peer", "spiffe://shop.local/admin")
	if v, _ := stagetest.Run(t, s, r, false); v.Action != pipeline.Allow || r.Header.Get("X-Peer") != "" {
		t.Fatalf("verdict %+v, header %q", v, r.Header.Get("X-Peer"))
	}
}

func TestConfigErrors(t *testing.T) {
	for _, tc := range []struct{ yaml, want string }{
		{"  connections: {default: maybe}", "transport.connections.default"},
		{"  connections: {rules: [{name: a, from: [cart], action: allow}]}", "transport.connections.rules[0].from[0]"},
		{"  connections: {rules: [{name: a, from: ['spiffe://Shop/x'], action: allow}]}", "trust domain"},
		{"  connections: {rules: [{name: a, from: ['spiffe://shop/*/x'], action: allow}]}", "only a final /*"},
		{"  connections: {rules: [{name: a, from: ['*'], action: permit}]}", "transport.connections.rules[0].action"},
		{"  connections: {rules: [{name: a, from: ['*'], action: allow, methods: [get]}]}", "methods[0]"},
		{"  connections: {rules: [{name: a, from: ['*'], action: allow, paths: [orders]}]}", "paths[0]"},
		{"  connections: {rules: [{from: ['*'], action: allow}]}", "rules[0].name"},
		{"  connections: {rules: [{name: a, action: allow}]}", "rules[0].from"},
		{"  peer_header: 'X Peer'", "transport.peer_header"},
	} {
		_, err := config.Parse([]byte("routes: [{name: r, upstream: 'http://127.0.0.1:1'}]\ntransport:\n"+tc.yaml+"\n"), "t.yaml")
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: error %v, want it to name %s", tc.yaml, err, tc.want)
		}
	}
}
