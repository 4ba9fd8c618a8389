package demo

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"maps"
	"net/http"
	"os"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/vigil-sec/vigil/internal/demo/traffic"
)

// syncBuffer is a bytes.Buffer safe to write from the demo's goroutines
// while the test reads it at the end.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func TestRun(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the demo for 6 s")
	}
	var out syncBuffer
	var gwURL, adminURL string
	var readyErr error
	var dash *dashWatch
	ctx, cancel := context.WithTimeout(t.Context(), 60*time.Second)
	defer cancel()
	res, err := Run(ctx, Options{
		Listen:     "127.0.0.1:0",
		Admin:      "127.0.0.1:0",
		Duration:   6 * time.Second, // the CRS under -race is slow: room for an order
		Shoppers:   6,
		AttackRate: 20, // every kind of attack, several times
		Seed:       7,
		Every:      time.Second,
		Out:        &out,
		Ready: func(gw, admin string) {
			gwURL, adminURL = gw, admin
			dash = watchDashboard(t, out.String())
			// The gateway and its admin listener really serve.
			resp, err := http.Get(admin + "/healthz")
			if err != nil {
				readyErr = err
				return
			}
			resp.Body.Close()
			if resp.StatusCode != http.StatusOK {
				readyErr = errors.New("admin /healthz: " + resp.Status)
			}
		},
	})
	if err != nil {
		t.Fatalf("Run: %v\n%s", err, out.String())
	}
	if gwURL == "" || adminURL == "" {
		t.Fatal("Ready was never called")
	}
	if readyErr != nil {
		t.Errorf("once ready: %v", readyErr)
	}
	for _, u := range []string{gwURL, adminURL} {
		if !strings.HasPrefix(u, "http://127.0.0.1:") || strings.HasSuffix(u, ":0") {
			t.Errorf("URL %q is not a bound loopback address", u)
		}
	}

	st := res.Traffic
	dash.check(t, st.Orders)
	if st.Requests == 0 {
		t.Fatalf("no requests sent: %+v", st)
	}
	if st.Orders < 1 {
		t.Errorf("no order placed in 6 s with 6 shoppers: %+v", st)
	}
	if st.Errors > st.Requests/10 {
		t.Errorf("%d of %d requests got no HTTP response", st.Errors, st.Requests)
	}

	// Discovery found the SPEC's demo endpoint set, ids templated. The
	// shoppers' paths are random past the core, so: the core set always,
	// and every endpoint the shoppers called.
	found := map[string]bool{}
	for _, ep := range res.Endpoints {
		found[ep.Method+" "+ep.Path] = true
		if ep.Hits < 2 {
			continue // a one-off attack probe
		}
		for _, seg := range strings.Split(ep.Path, "/") {
			if seg != "" && strings.Trim(seg, "0123456789") == "" {
				t.Errorf("%s %s (%d hits): an id was not templated", ep.Method, ep.Path, ep.Hits)
			}
		}
	}
	want := []string{
		"GET /products",
		"GET /products/{parameter}",
		"POST /login",
		"POST /cart/item/add/{parameter}",
		"GET /cart/items/{parameter}",
		"GET /cart/total/{parameter}",
		"POST /order/add/{parameter}",
	}
	for ep := range st.ByEndpoint {
		want = append(want, ep)
	}
	for _, w := range want {
		if !found[w] {
			t.Errorf("discovery did not find %s; found %v", w, keys(found))
		}
	}
	t.Logf("discovered %d endpoints; shoppers called %v", len(res.Endpoints), st.ByEndpoint)

	// The user sees the URLs, a summary and the inventory.
	text := out.String()
	for _, w := range []string{gwURL, adminURL + "/metrics", "Discovered endpoints", "/products/{parameter}", "Residual connectivity risk"} {
		if !strings.Contains(text, w) {
			t.Errorf("output does not show %q:\n%s", w, text)
		}
	}
	// The order service reached the cart over mutual TLS and the payment
	// provider through interception, and the output lists both.
	if st.Orders > 0 && (res.MeshCalls == 0 || res.InterceptedCalls == 0) {
		t.Errorf("%d orders, but %d mTLS calls to the cart and %d intercepted payment calls", st.Orders, res.MeshCalls, res.InterceptedCalls)
	}
	if st.Orders > 0 && (!strings.Contains(text, "(intercepted, token sha256:") || !strings.Contains(text, "TLS alert legacy_tls: payments.demo.local answered over TLS 1.2") || !strings.Contains(text, "spiffe://demo.local/order → cart.demo.local")) {
		t.Errorf("output lacks the east-west and egress calls:\n%s", text)
	}
	// The shop is reached in plaintext, so its risk says so, with reasons.
	if len(res.Risk) == 0 || res.Risk[0].Score == 0 || len(res.Risk[0].Reasons) == 0 || res.Risk[0].Endpoints == 0 {
		t.Errorf("risk %+v", res.Risk)
	} else if !strings.Contains(text, res.Risk[0].Reasons[0].Detail) {
		t.Errorf("output lacks the risk reason %q", res.Risk[0].Reasons[0].Detail)
	}

	// Every kind of attack was sent, and the gateway's events say which
	// layer stopped it; the output shows it.
	reports := map[string]AttackReport{}
	for _, r := range res.Attacks {
		reports[r.Scenario] = r
	}
	for _, k := range traffic.AttackScenarios() {
		if reports[k].Sent == 0 {
			t.Errorf("no %s attack was sent in 6 s at 20 attacks/s: %+v", k, res.Attacks)
		}
	}
	for _, w := range []struct{ scenario, layer, by string }{
		{traffic.AttackBruteForce, "ratelimit", "ratelimit login"},
		{traffic.AttackSmuggling, "proxy", "proxy request_smuggling"},
		{traffic.AttackOversized, "gateway", "gateway 413"},
		{traffic.AttackBot, "bot", "bot bot:ua-sqlmap"},
		{traffic.AttackScanner, "bot", "bot bot:ua-nikto"},
		{traffic.AttackDeniedIP, "ip", "ip known-bad-range"},
	} {
		r := reports[w.scenario]
		if r.Blocked == 0 || r.By[w.by] == 0 || !slices.Contains(r.Layers(), w.layer) {
			t.Errorf("%s: %d of %d blocked, by %v; want some by %q", w.scenario, r.Blocked, r.Sent, r.By, w.by)
		}
	}
	// The WAF (CRS, paranoia 1) stops the injections that pose as a
	// shopper; the rule named is the CRS detection rule (942xxx SQLi,
	// 941xxx XSS), not the anomaly-score rule behind the block.
	for _, w := range []struct{ scenario, rules string }{{traffic.AttackSQLi, "waf 942"}, {traffic.AttackXSS, "waf 941"}} {
		r := reports[w.scenario]
		if !slices.ContainsFunc(slices.Collect(maps.Keys(r.By)), func(k string) bool { return strings.HasPrefix(k, w.rules) }) {
			t.Errorf("%s: %d of %d blocked, by %v; want some by %s…", w.scenario, r.Blocked, r.Sent, r.By, w.rules)
		}
	}
	if !strings.Contains(text, "waf 94") {
		t.Errorf("output does not name a CRS rule:\n%s", text)
	}
	// No shopper was refused: no false positive from any layer, and the
	// login limit leaves people who log in every few seconds alone.
	if len(res.ShoppersRefused) > 0 || res.Shoppers == 0 {
		t.Errorf("of %d shoppers' requests Vigil refused %v", res.Shoppers, res.ShoppersRefused)
	}
	// Every request of these kinds is stopped, by that layer alone.
	for scenario, layer := range map[string]string{traffic.AttackDeniedIP: "ip", traffic.AttackBot: "bot", traffic.AttackSSRF: "ssrf",
		traffic.AttackSmuggling: "proxy"} {
		if r := reports[scenario]; r.Blocked != r.Sent || r.Sent == 0 || !slices.Equal(r.Layers(), []string{layer}) {
			t.Errorf("%s: %d of %d blocked (%v), want all by %s", scenario, r.Blocked, r.Sent, r.By, layer)
		}
	}
	for _, w := range []string{"Attacks, and what stopped them", "ratelimit login ×", "proxy request_smuggling ×", "Shoppers' requests refused: 0 of "} {
		if !strings.Contains(text, w) {
			t.Errorf("output does not show %q:\n%s", w, text)
		}
	}

	// The inventory's count is the number of rows it lists.
	var listed, header int
	var inInventory bool
	for _, l := range strings.Split(text, "\n") {
		switch {
		case strings.HasPrefix(l, "Discovered endpoints ("):
			fmt.Sscanf(l, "Discovered endpoints (%d", &header)
			inInventory = true
		case l == "":
			inInventory = false
		case inInventory && strings.HasPrefix(l, "  ") && !strings.Contains(l, "METHOD"):
			listed++
		}
		if strings.HasPrefix(l, "  services:") {
			seen := map[string]bool{}
			for _, svc := range strings.Split(strings.TrimPrefix(l, "  services:"), ",") {
				svc = strings.TrimSpace(svc)
				if seen[svc] {
					t.Errorf("service %q listed twice: %s", svc, l)
				}
				seen[svc] = true
			}
		}
	}
	if listed == 0 || listed != header {
		t.Errorf("inventory says %d endpoints and lists %d:\n%s", header, listed, text)
	}

	// Everything it wrote is gone.
	if res.Dir == "" {
		t.Fatal("Result.Dir is empty")
	}
	if _, err := os.Stat(res.Dir); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("temporary directory %s still exists after Run (stat: %v)", res.Dir, err)
	}
	// The gateway stopped with Run.
	if resp, err := http.Get(gwURL + "/products"); err == nil {
		resp.Body.Close()
		t.Errorf("gateway %s still answers after Run returned", gwURL)
	}
}

// Without a Duration the demo runs until its context ends (Ctrl-C), and
// still cleans up.
func TestRunUntilCancelled(t *testing.T) {
	if testing.Short() {
		t.Skip("starts the demo")
	}
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	var out syncBuffer
	var readRole string
	res, err := Run(ctx, Options{Shoppers: 2, AttackRate: -1, Out: &out, Token: "vgl_demo_admin", ReadToken: "vgl_demo_read",
		Ready: func(_, admin string) {
			time.AfterFunc(500*time.Millisecond, cancel)
			readRole = dashboardRole(admin, "vgl_demo_read")
		}})
	if err != nil && !errors.Is(err, context.Canceled) {
		t.Fatalf("Run: %v", err)
	}
	if res == nil {
		return
	}
	if res.Traffic.Requests == 0 {
		t.Errorf("no traffic in the half second before Ctrl-C: %+v", res.Traffic)
	}
	// The tokens given are the dashboard's: the link names the admin
	// token, the read-only one signs in read-only.
	if !strings.Contains(out.String(), "/ui/login#token=vgl_demo_admin\n") || readRole != "read-only" {
		t.Errorf("dashboard with the given tokens: role %q, output:\n%s", readRole, out.String())
	}
	if _, err := os.Stat(res.Dir); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("temporary directory %s still exists after Run (stat: %v)", res.Dir, err)
	}
}

func keys(m map[string]bool) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	return out
}
