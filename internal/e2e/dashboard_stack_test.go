package e2e

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/vigil-sec/vigil/internal/allinone"
	"github.com/vigil-sec/vigil/internal/config"
	"github.com/vigil-sec/vigil/internal/demo"
	"github.com/vigil-sec/vigil/internal/demo/shop"
	"github.com/vigil-sec/vigil/internal/demo/traffic"
	"github.com/vigil-sec/vigil/internal/discovery"
)

// The dashboard tests' tokens: admin (full access) and read-only.
const (
	dashAdminToken = "vgl_e2e_dashboard_admin"
	dashReadToken  = "vgl_e2e_dashboard_read"
)

// dashboardCSP is the Content-Security-Policy of every /ui/ response.
const dashboardCSP = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"

// dashStack is `vigil up` in front of the demo shop: the gateway, the
// control plane with its store and audit log, and the dashboard on the
// admin address. Traffic starts when the test says so — or, for the
// screenshots (startDemoStack), runs from the start.
type dashStack struct {
	Admin   string // http://127.0.0.1:port, where /ui/ is served
	Gateway string

	startOnce sync.Once
	started   time.Time // when the traffic started
	ctx       context.Context
	traffic   sync.WaitGroup
	// running: the traffic runs from the start (vigil demo itself).
	running bool
}

// dashboardConfig is a vigil up config for the shop: the layers that
// make findings out of the demo's attacks (the WAF unless under -race,
// the shop's OpenAPI spec, an IP rule, bots), a fast audit checkpoint,
// and both admin tokens.
func dashboardConfig(dir string, routes []shop.Route) (string, error) {
	spec, err := filepath.Abs("../demo/shop-openapi.yaml")
	if err != nil {
		return "", err
	}
	var b strings.Builder
	fmt.Fprintf(&b, `mode: enforce
listen: {http: 127.0.0.1:0, trusted_proxies: [127.0.0.1]}
admin: {addr: 127.0.0.1:0, token: %q, read_token: %q}
data_dir: %q
discovery: {sample_rate: 1, specs: [%[4]q]}
audit: {checkpoint_interval: 1s}
protect:
  stages: {waf: {timeout: 2s}}
  waf: {enabled: %[5]t, paranoia_level: 1, directives: "SecRuleRemoveById 920350"}
  openapi: {specs: [%[4]q]}
  ip_rules: [{name: documentation-range, action: deny, cidrs: [192.0.2.0/24]}]
  bots: {enabled: true}
routes:
`, dashAdminToken, dashReadToken, dir, spec, dashboardWAF)
	for i, r := range routes {
		fmt.Fprintf(&b, "  - {name: %s-%d, match: {path_prefix: %q}, upstream: %q}\n", r.Name, i, r.PathPrefix, r.Upstream)
	}
	return b.String(), nil
}

// startDashboardStack starts the stack the dashboard test runs on: its
// own (traffic on demand, a read-only token, the shop's spec for
// documented/shadow), or with VIGIL_SCREENSHOTS set `vigil demo` itself,
// whose mesh (mTLS to the cart, the intercepted TLS 1.2 payment provider)
// the screenshots show.
func startDashboardStack(t *testing.T) *dashStack {
	t.Helper()
	if os.Getenv("VIGIL_SCREENSHOTS") != "" {
		return startDemoStack(t)
	}
	ctx, cancel := context.WithCancel(context.Background())
	sh, err := shop.Start(ctx, shop.Options{Logger: quietLog()})
	if err != nil {
		cancel()
		t.Fatal(err)
	}
	yaml, err := dashboardConfig(t.TempDir(), sh.Routes())
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := config.Parse([]byte(yaml), "dashboard.yaml")
	if err != nil {
		t.Fatalf("config: %v\n%s", err, yaml)
	}
	st, err := allinone.Start(ctx, cfg, allinone.Options{Token: dashAdminToken, Logger: quietLog(),
		Discovery: discovery.ServiceOptions{Settle: 500 * time.Millisecond}, FlushEvery: 250 * time.Millisecond})
	if err != nil {
		cancel()
		sh.Close()
		t.Fatal(err)
	}
	served := make(chan error, 1)
	go func() { served <- st.Serve(ctx) }()
	s := &dashStack{Admin: "http://" + st.AdminAddr(), Gateway: "http://" + st.DataPlane.G.Addr("http"), ctx: ctx}
	t.Cleanup(func() {
		cancel()
		s.traffic.Wait()
		if err := <-served; err != nil {
			t.Logf("vigil up stopped: %v", err)
		}
		sh.Close()
	})
	deadline := time.Now().Add(15 * time.Second)
	for {
		r, err := http.Get(s.Admin + "/readyz")
		if err == nil {
			r.Body.Close()
			if r.StatusCode == http.StatusOK {
				return s
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("vigil up not ready: %v", err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// startTraffic plays shoppers and attacks through the gateway until the
// test ends (once; later calls do nothing).
func (s *dashStack) startTraffic() {
	if s.running {
		return
	}
	s.startOnce.Do(func() {
		s.started = time.Now()
		s.traffic.Go(func() {
			_, _ = traffic.Run(s.ctx, traffic.Options{BaseURL: s.Gateway, Shoppers: 4, AttackRate: 4, Seed: 13,
				ThinkTime: 100 * time.Millisecond, ClientAddresses: true, Logger: quietLog()}, nil)
		})
	})
}

// startDemoStack runs demo.Run (vigil demo) with the test's tokens until
// the test ends.
func startDemoStack(t *testing.T) *dashStack {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	ready := make(chan [2]string, 1)
	done := make(chan error, 1)
	go func() {
		_, err := demo.Run(ctx, demo.Options{Shoppers: 6, AttackRate: 2, Seed: 13, Every: time.Second, Logger: quietLog(),
			Token: dashAdminToken, ReadToken: dashReadToken,
			Ready: func(gw, admin string) { ready <- [2]string{gw, admin} }})
		done <- err
	}()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("vigil demo: %v", err)
		}
	})
	select {
	case u := <-ready:
		return &dashStack{Gateway: u[0], Admin: u[1], ctx: ctx, started: time.Now(), running: true}
	case err := <-done:
		t.Fatalf("vigil demo: %v", err)
	case <-time.After(60 * time.Second):
		t.Fatal("vigil demo not ready within 60 s")
	}
	return nil
}
