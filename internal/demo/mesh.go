package demo

import (
	"context"
	"crypto/tls"
	"encoding/pem"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/vigil-sec/vigil/internal/bus"
	"github.com/vigil-sec/vigil/internal/config"
	"github.com/vigil-sec/vigil/internal/demo/shop"
	"github.com/vigil-sec/vigil/internal/event"
	"github.com/vigil-sec/vigil/internal/pki"
	"github.com/vigil-sec/vigil/internal/risk"
	"github.com/vigil-sec/vigil/internal/server"
)

// The names the order service uses east-west and to the payment provider.
const (
	meshDomain  = "demo.local"
	cartHost    = "cart.demo.local"
	paymentHost = "payments.demo.local"
)

// mesh puts the order → cart call behind two sidecars (mutual TLS 1.3 by
// SPIFFE ID, a connection rule on the cart side) and the order service's
// call to the payment provider through the order sidecar's egress
// listener with an intercept rule, so the call that leaves encrypted is
// still seen: method, path and which key was used.
type mesh struct {
	mu     sync.Mutex
	events []event.Event
}

// WriteEvents implements event.Sink: the sidecars' events.
func (m *mesh) WriteEvents(b []*event.Event) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, ev := range b {
		if len(m.events) < 10000 {
			c := *ev
			c.Findings = append([]event.Finding(nil), ev.Findings...)
			m.events = append(m.events, c)
		}
	}
	return nil
}

func startMesh(ctx context.Context, dir string, s *shop.Shop, log *slog.Logger, b *bus.Bus) (*mesh, error) {
	ca := filepath.Join(dir, "ca")
	if _, err := pki.Init(ca, meshDomain, pki.InitOptions{}); err != nil {
		return nil, err
	}
	payCA := filepath.Join(dir, "payments-ca.pem")
	if err := os.WriteFile(payCA, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: s.PaymentCert.Raw}), 0o600); err != nil {
		return nil, err
	}
	m := &mesh{}
	start := func(name, yaml string) (*server.DataPlane, error) {
		cfg, err := config.Parse([]byte(yaml), name+".yaml")
		if err != nil {
			return nil, fmt.Errorf("%s sidecar config: %w", name, err)
		}
		dp, err := server.StartDataPlane(ctx, cfg, server.Options{Placement: "sidecar", Sinks: []event.Sink{m}}, log, server.DataPlaneOptions{Bus: b})
		if err != nil {
			return nil, fmt.Errorf("%s sidecar: %w", name, err)
		}
		go func() { _ = dp.G.Serve(ctx) }()
		return dp, nil
	}
	cart, err := start("cart", fmt.Sprintf(`mode: enforce
listen:
  https:
    addr: 127.0.0.1:0
    profile: modern
    svid: {ca_dir: %q, spiffe_id: spiffe://%s/cart}
data_dir: %q
discovery: {enabled: false}
audit: {sign_hops: true}
routes: [{name: cart-app, upstream: %q}]
transport:
  connections:
    default: deny
    rules: [{name: order-to-cart, from: [spiffe://%s/order], to: [%s], action: allow}]
`, ca, meshDomain, filepath.Join(dir, "cart-sidecar"), s.Cart, meshDomain, cartHost))
	if err != nil {
		return nil, err
	}
	payURL, _ := url.Parse(s.Payment)
	order, err := start("order", fmt.Sprintf(`mode: enforce
listen: {http: 127.0.0.1:0}
data_dir: %q
discovery: {enabled: false}
audit: {sign_hops: true}
routes:
  - name: cart
    match: {host: %s}
    upstream: https://%s
    upstream_tls:
      profile: modern
      svid: {ca_dir: %q, spiffe_id: spiffe://%s/order}
      spiffe_id: spiffe://%s/cart
  - name: payments
    match: {host: %s}
    upstream: https://%s
    upstream_server_name: %s
    upstream_ca: %q
transport:
  egress:
    listen: 127.0.0.1:0
    ca_dir: %q
    default: block
    rules: [{name: payments, destination: %s, action: intercept}]
`, filepath.Join(dir, "order-sidecar"), cartHost, cart.G.Addr("https"), ca, meshDomain, meshDomain,
		paymentHost, payURL.Host, paymentHost, payCA, ca, paymentHost))
	if err != nil {
		return nil, err
	}
	bundle, err := pki.LoadBundle(filepath.Join(ca, "bundle.pem"))
	if err != nil {
		return nil, err
	}
	outbound, _ := url.Parse("http://" + order.G.Addr("http"))
	egress, _ := url.Parse("http://" + order.G.Addr("egress"))
	// The order service's client: plain HTTP east-west to its sidecar
	// (HTTP_PROXY), HTTPS out through the egress listener (HTTPS_PROXY),
	// trusting the Vigil CA that signs the intercepted leaves.
	client := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{
		Proxy: func(r *http.Request) (*url.URL, error) {
			if r.URL.Scheme == "https" {
				return egress, nil
			}
			return outbound, nil
		},
		TLSClientConfig: &tls.Config{RootCAs: pki.Pool(bundle), MinVersion: tls.VersionTLS12},
	}}
	s.SetEgress(shop.Egress{CartURL: "http://" + cartHost, PaymentURL: "https://" + paymentHost, Client: client})
	return m, nil
}

// report prints what the sidecars saw: the east-west calls by caller
// identity with their TLS, and the intercepted calls to the payment
// provider with method, path and the key's hash.
func (m *mesh) report(w io.Writer) {
	m.mu.Lock()
	defer m.mu.Unlock()
	type row struct {
		what    string
		n       int
		refused int
	}
	rows := map[string]*row{}
	alerts := map[string]bool{}
	for i := range m.events {
		ev := &m.events[i]
		if kind, detail := risk.TLSWeakness(ev.Destination.TLS); kind != "" {
			alerts[fmt.Sprintf("%s: %s answered over %s", kind, ev.Destination.Host, detail)] = true
		}
		var key string
		switch {
		case ev.TLS != nil && ev.TLS.MTLS && ev.Source.Workload != "":
			key = fmt.Sprintf("%s → %s %s %s  (mTLS, TLS %s, %s)", ev.Source.Workload, ev.Destination.Host, ev.Request.Method,
				ev.Request.Endpoint, ev.TLS.Version, ev.TLS.Group)
			if ev.Request.Endpoint == "" {
				key = fmt.Sprintf("%s → %s %s (mTLS, TLS %s, %s)", ev.Source.Workload, ev.Destination.Host, ev.Request.Method, ev.TLS.Version, ev.TLS.Group)
			}
		case ev.TLS != nil && ev.TLS.Intercepted:
			tok := "no credential"
			switch {
			case ev.Identity != nil && ev.Identity.TokenID != "":
				tok = "token " + ev.Identity.TokenID
			case ev.Request.TokenID != "":
				tok = "token " + ev.Request.TokenID
			}
			key = fmt.Sprintf("order → %s %s %s  (intercepted, %s)", ev.Destination.Host, ev.Request.Method, ev.Request.Path, tok)
		default:
			continue
		}
		r := rows[key]
		if r == nil {
			r = &row{what: key}
			rows[key] = r
		}
		r.n++
		if ev.Decision != event.DecisionAllow {
			r.refused++
		}
	}
	fmt.Fprintln(w, "\nEast-west and egress, as the sidecars saw them:")
	if len(rows) == 0 {
		fmt.Fprintln(w, "  (no order was placed)")
		return
	}
	keys := make([]string, 0, len(rows))
	for k := range rows {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		r := rows[k]
		extra := ""
		if r.refused > 0 {
			extra = fmt.Sprintf(", %d refused", r.refused)
		}
		fmt.Fprintf(w, "  %s: %d%s\n", strings.TrimSpace(r.what), r.n, extra)
	}
	for _, a := range slices.Sorted(maps.Keys(alerts)) {
		fmt.Fprintf(w, "  TLS alert %s\n", a)
	}
}

// calls counts the sidecar events of each kind (tests).
func (m *mesh) calls() (mtls, intercepted int) {
	m.mu.Lock()
	defer m.mu.Unlock()
	for i := range m.events {
		if t := m.events[i].TLS; t != nil {
			if t.MTLS && m.events[i].Source.Workload != "" {
				mtls++
			}
			if t.Intercepted {
				intercepted++
			}
		}
	}
	return mtls, intercepted
}

// snapshot copies the sidecars' events (for the risk graph).
func (m *mesh) snapshot() []event.Event {
	m.mu.Lock()
	defer m.mu.Unlock()
	return append([]event.Event(nil), m.events...)
}
