package e2e

// One test per row of docs/owasp-api-top10.md: each sends the attack the
// OWASP API Security Top 10 (2023) describes through a real gateway
// listener to a real upstream, and checks what the client got and which
// layer, rule and action the transaction event names. Rows that depend on
// the identity issue (#10) are skipped with the reason.

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/vigil-sec/vigil/internal/config"
	"github.com/vigil-sec/vigil/internal/discovery"
	"github.com/vigil-sec/vigil/internal/event"
	"github.com/vigil-sec/vigil/internal/server"
)

// owaspHit is one request the upstream received.
type owaspHit struct {
	Method, Path, RawQuery string
	Header                 http.Header
	Body                   string
}

// owaspUpstream is a loopback API that records every request it gets, so a
// test can tell that an attack never reached it.
type owaspUpstream struct {
	*httptest.Server
	mu   sync.Mutex
	hits []owaspHit
}

// newOWASPUpstream records, then answers with h (default: 200 {"ok":true}).
func newOWASPUpstream(t *testing.T, h http.HandlerFunc) *owaspUpstream {
	t.Helper()
	u := &owaspUpstream{}
	u.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		u.mu.Lock()
		u.hits = append(u.hits, owaspHit{Method: r.Method, Path: r.URL.Path, RawQuery: r.URL.RawQuery, Header: r.Header.Clone(), Body: string(b)})
		u.mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		if h == nil {
			io.WriteString(w, `{"ok":true}`)
			return
		}
		h(w, r)
	}))
	t.Cleanup(u.Close)
	return u
}

// count is how many requests for path the upstream received.
func (u *owaspUpstream) count(path string) int {
	u.mu.Lock()
	defer u.mu.Unlock()
	n := 0
	for _, h := range u.hits {
		if h.Path == path {
			n++
		}
	}
	return n
}

// total is how many requests the upstream received.
func (u *owaspUpstream) total() int {
	u.mu.Lock()
	defer u.mu.Unlock()
	return len(u.hits)
}

func (u *owaspUpstream) last() owaspHit {
	u.mu.Lock()
	defer u.mu.Unlock()
	if len(u.hits) == 0 {
		return owaspHit{}
	}
	return u.hits[len(u.hits)-1]
}

// owaspReq is one request a test sends through the gateway.
type owaspReq struct {
	method, target string // target: path and query
	header         map[string]string
	body           string
}

// owaspResult is the gateway's answer and the transaction's event.
type owaspResult struct {
	status int
	header http.Header
	body   string
	ev     event.Event
}

var owaspClient = &http.Client{
	Timeout:       10 * time.Second,
	CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
}

// send sends rq to the gateway at base and waits for its event in h's
// events file.
func (h *gw) send(base string, rq owaspReq) owaspResult {
	h.t.Helper()
	var body io.Reader
	if rq.body != "" {
		body = strings.NewReader(rq.body)
	}
	req, err := http.NewRequest(rq.method, base+rq.target, body)
	if err != nil {
		h.t.Fatal(err)
	}
	if rq.body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	req.Host = "shop.example" // clients call the API by name (the CRS flags a numeric Host)
	req.Header.Set("User-Agent", "Mozilla/5.0 (X11; Linux x86_64; rv:133.0) Gecko/20100101 Firefox/133.0")
	req.Header.Set("Accept", "application/json")
	for k, v := range rq.header {
		req.Header.Set(k, v)
	}
	resp, err := owaspClient.Do(req)
	if err != nil {
		h.t.Fatalf("%s %s: %v", rq.method, rq.target, err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	txn := resp.Header.Get("Vigil-Txn")
	if txn == "" {
		h.t.Fatalf("%s %s: %d without Vigil-Txn", rq.method, rq.target, resp.StatusCode)
	}
	return owaspResult{status: resp.StatusCode, header: resp.Header, body: string(b), ev: h.eventFor(txn)}
}

// findingOf returns the first finding of layer (for the proxy's own checks,
// which fire before any stage, the stage name "proxy" also counts) whose
// kind is kind (any kind when empty).
func findingOf(ev event.Event, layer, kind string) (event.Finding, bool) {
	for _, f := range ev.Findings {
		if layerOf(f) == layer && (kind == "" || f.Kind == kind) {
			return f, true
		}
	}
	return event.Finding{}, false
}

// wantBlocked checks that the client got status and that the event names
// the layer that stopped the request, the rule and the block action. With
// ruleID set, the finding of that rule is the one checked (the WAF records
// the CRS detection rules and the anomaly-score rule that blocked); else
// the layer's first finding, which must carry a rule id. It returns the
// finding.
func wantBlocked(t *testing.T, r owaspResult, status int, layer, ruleID string) event.Finding {
	t.Helper()
	if r.status != status {
		t.Fatalf("status %d, want %d (%s); findings %+v", r.status, status, r.body, r.ev.Findings)
	}
	if r.ev.Decision != event.DecisionBlock {
		t.Errorf("event decision %q, want block", r.ev.Decision)
	}
	var f event.Finding
	found := false
	for _, g := range r.ev.Findings {
		if layerOf(g) == layer && (ruleID == "" || g.RuleID == ruleID) {
			f, found = g, true
			break
		}
	}
	if !found {
		t.Fatalf("no %s finding with rule_id %q in the event: %+v", layer, ruleID, r.ev.Findings)
	}
	if f.Action != "block" || f.WouldBlock {
		t.Errorf("%s finding action %q would_block %v, want block", layer, f.Action, f.WouldBlock)
	}
	if f.RuleID == "" {
		t.Errorf("%s finding has no rule_id: %+v", layer, f)
	}
	return f
}

func layerOf(f event.Finding) string {
	if f.Layer != "" {
		return f.Layer
	}
	return f.Stage
}

// owaspWAFTimeout gives the WAF stage room: the CRS under -race on a
// loaded machine can take longer than the default 50ms stage timeout, and
// a stage that times out fails open, which would let the attack through.
const owaspWAFTimeout = `  stages: {waf: {timeout: 5s}}`

// TestOWASPAPI1BrokenObjectLevelAuthorization: API1:2023. A customer's
// token reads another customer's object (GET /users/18 with the token of
// user 17).
func TestOWASPAPI1BrokenObjectLevelAuthorization(t *testing.T) {
	t.Skip("needs the identity issue (#10): catching BOLA means comparing the object id in the path " +
		"(GET /users/{id}) with the verified token's subject (a CEL policy such as request.path.id == identity.sub); " +
		"the gateway verifies no token and evaluates no policy yet")
}

// TestOWASPAPI2BrokenAuthentication: API2:2023. Credential stuffing and
// brute force against the login flow are rate limited per client; forged
// tokens need the identity issue.
func TestOWASPAPI2BrokenAuthentication(t *testing.T) {
	t.Run("brute_force", func(t *testing.T) {
		up := newOWASPUpstream(t, func(w http.ResponseWriter, r *http.Request) {
			if r.URL.Path == "/login" {
				w.WriteHeader(http.StatusUnauthorized)
				io.WriteString(w, `{"error":{"code":"invalid_credentials"}}`)
				return
			}
			io.WriteString(w, `{"ok":true}`)
		})
		h := startGateway(t, baseConfig(up.URL, `protect:
  rate_limits:
    - {name: login, match: {endpoint: "POST /login"}, key: ip, rate: 5/m, burst: 5}
`), server.Options{})
		words := []string{"123456", "password", "qwerty", "letmein", "admin", "welcome"}
		var last owaspResult
		for i, pw := range words {
			last = h.send(h.URL, owaspReq{method: "POST", target: "/login", body: fmt.Sprintf(`{"username":"alice","password":%q}`, pw)})
			if i < 5 && last.status != http.StatusUnauthorized {
				t.Fatalf("guess %d: status %d, want the upstream's 401 (within the burst)", i+1, last.status)
			}
		}
		wantBlocked(t, last, http.StatusTooManyRequests, "ratelimit", "login")
		if last.header.Get("Retry-After") == "" {
			t.Error("429 without Retry-After")
		}
		if n := up.count("/login"); n != 5 {
			t.Errorf("upstream saw %d login attempts, want 5", n)
		}
		// The rest of the API is not limited by the login limit.
		if r := h.send(h.URL, owaspReq{method: "GET", target: "/products"}); r.status != 200 {
			t.Errorf("GET /products after the burst: %d", r.status)
		}
		// Secrets never reach the event.
		raw, _ := os.ReadFile(h.events)
		if strings.Contains(string(raw), "letmein") {
			t.Error("a guessed password reached the events file")
		}
	})
	t.Run("token", func(t *testing.T) {
		t.Skip("needs the identity issue (#10): a forged (alg none, wrong key), expired or wrong-audience JWT " +
			"is refused only once the gateway validates tokens against the issuer's JWKS")
	})
}

// TestOWASPAPI3BrokenObjectPropertyLevelAuthorization: API3:2023. A
// client sets a property it must not ({"role":"admin"}: mass assignment),
// or a response carries properties the client must not see (excessive data
// exposure).
func TestOWASPAPI3BrokenObjectPropertyLevelAuthorization(t *testing.T) {
	t.Skip("waiting for the openapi layer (issue #9 item 3: protect.openapi requests/responses enforcement), not built yet")
}

// TestOWASPAPI4UnrestrictedResourceConsumption: API4:2023. Floods, huge
// bodies and bodies trickled to hold a connection are stopped before they
// cost the upstream anything.
func TestOWASPAPI4UnrestrictedResourceConsumption(t *testing.T) {
	up := newOWASPUpstream(t, nil)
	t.Run("rate_limit", func(t *testing.T) {
		h := startGateway(t, baseConfig(up.URL, `protect:
  rate_limits:
    - {name: search, match: {endpoint: "GET /search"}, key: ip, rate: 10/m, burst: 3}
`), server.Options{})
		var last owaspResult
		for range 4 {
			last = h.send(h.URL, owaspReq{method: "GET", target: "/search?q=socks"})
		}
		wantBlocked(t, last, http.StatusTooManyRequests, "ratelimit", "search")
		if !strings.HasPrefix(last.header.Get("RateLimit"), `"search";r=0`) || last.header.Get("RateLimit-Policy") == "" {
			t.Errorf("429 without the RateLimit and RateLimit-Policy fields: %v", last.header)
		}
	})
	t.Run("page_size", func(t *testing.T) {
		h := startGateway(t, baseConfig(up.URL, `protect:
  limits: {page_size: {max: 100}}
`), server.Options{})
		before := up.count("/products")
		r := h.send(h.URL, owaspReq{method: "GET", target: "/products?limit=100000"})
		f := wantBlocked(t, r, http.StatusBadRequest, "limits", "page_size:limit")
		if f.Kind != "page_size" {
			t.Errorf("kind %q, want page_size", f.Kind)
		}
		if up.count("/products") != before {
			t.Error("the oversized page reached the upstream")
		}
		if r := h.send(h.URL, owaspReq{method: "GET", target: "/products?limit=50"}); r.status != 200 {
			t.Errorf("limit=50: %d", r.status)
		}
	})
	t.Run("graphql", func(t *testing.T) {
		h := startGateway(t, baseConfig(up.URL, `protect:
  graphql: {max_depth: 5, max_cost: 1000}
`), server.Options{})
		for _, tc := range []struct{ name, query, rule string }{
			{"cost", `{ products(first: 100000) { id reviews(first: 1000) { author { id } } } }`, "graphql_cost"},
			{"depth", `{ a { b { c { d { e { f { g { id } } } } } } } }`, "graphql_depth"},
		} {
			before := up.count("/graphql")
			r := h.send(h.URL, owaspReq{method: "POST", target: "/graphql", body: fmt.Sprintf(`{"query":%q}`, tc.query)})
			wantBlocked(t, r, http.StatusBadRequest, "graphql", tc.rule)
			if up.count("/graphql") != before {
				t.Errorf("%s: the query reached the upstream", tc.name)
			}
		}
		if r := h.send(h.URL, owaspReq{method: "POST", target: "/graphql", body: `{"query":"{ products(first: 20) { id name } }"}`}); r.status != 200 {
			t.Errorf("a modest query: %d %+v", r.status, r.ev.Findings)
		}
	})
	t.Run("body_too_large", func(t *testing.T) {
		h := startGateway(t, withListen(baseConfig(up.URL, ""), "limits: {max_body_bytes: 64KB, max_inspect_bytes: 16KB}"), server.Options{})
		before := up.count("/cart/item/add/17")
		r := h.send(h.URL, owaspReq{method: "POST", target: "/cart/item/add/17",
			body: `{"product_id":1,"padding":"` + strings.Repeat("A", 256<<10) + `"}`})
		if r.status != http.StatusRequestEntityTooLarge || r.ev.Decision != event.DecisionBlock {
			t.Fatalf("status %d decision %q, want 413 block", r.status, r.ev.Decision)
		}
		if !strings.Contains(r.body, "body_too_large") {
			t.Errorf("body %q does not say body_too_large", r.body)
		}
		if up.count("/cart/item/add/17") != before {
			t.Error("the oversized body reached the upstream")
		}
	})
	t.Run("slow_body", func(t *testing.T) {
		h := startGateway(t, withListen(baseConfig(up.URL, ""), "limits: {read_timeout: 10s, body_timeout: 1s, min_body_rate: off}"), server.Options{})
		c, err := net.Dial("tcp", strings.TrimPrefix(h.URL, "http://"))
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		start := time.Now()
		io.WriteString(c, "POST /upload HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 10000\r\n\r\n{")
		ctx, cancel := context.WithCancel(t.Context())
		defer cancel()
		go func() {
			tick := time.NewTicker(300 * time.Millisecond)
			defer tick.Stop()
			for {
				select {
				case <-ctx.Done():
					return
				case <-tick.C:
					if _, err := c.Write([]byte(" ")); err != nil {
						return
					}
				}
			}
		}()
		_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
		resp, err := http.ReadResponse(bufio.NewReader(c), nil)
		if err != nil {
			t.Fatalf("no answer to the trickled body after %v: %v", time.Since(start), err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusRequestTimeout {
			t.Fatalf("status %d, want 408", resp.StatusCode)
		}
		if d := time.Since(start); d > 3*time.Second {
			t.Errorf("cut after %v, body_timeout is 1s", d)
		}
		ev := h.eventFor(resp.Header.Get("Vigil-Txn"))
		if f, ok := findingOf(ev, "proxy", "slow_body"); !ok || f.Action != "block" {
			t.Errorf("event findings %+v, want a proxy slow_body block", ev.Findings)
		}
	})
}

// TestOWASPAPI5BrokenFunctionLevelAuthorization: API5:2023. A customer's
// token calls an administrative function (DELETE /users/{id}).
func TestOWASPAPI5BrokenFunctionLevelAuthorization(t *testing.T) {
	t.Skip("needs the identity issue (#10): refusing DELETE /users/{id} to a token without the admin scope " +
		"needs verified token scopes and per-endpoint policies; the gateway has neither yet")
}

// TestOWASPAPI6UnrestrictedAccessToSensitiveBusinessFlows: API6:2023. A
// script buying out the stock (checkout after checkout) is limited on the
// flow's endpoint.
func TestOWASPAPI6UnrestrictedAccessToSensitiveBusinessFlows(t *testing.T) {
	up := newOWASPUpstream(t, nil)
	t.Run("checkout_rate_limit", func(t *testing.T) {
		h := startGateway(t, baseConfig(up.URL, `protect:
  rate_limits:
    - {name: checkout, match: {endpoint: "POST /order/add/{user}"}, key: ip, rate: 3/h, burst: 3}
`), server.Options{})
		order := `{"items":[],"shipping_address":{"street":"1 Main St","city":"Springfield","country":"US"}}`
		var last owaspResult
		for i := range 4 {
			last = h.send(h.URL, owaspReq{method: "POST", target: fmt.Sprintf("/order/add/%d", 17+i%2), body: order})
		}
		wantBlocked(t, last, http.StatusTooManyRequests, "ratelimit", "checkout")
		// Browsing is not part of the flow.
		if r := h.send(h.URL, owaspReq{method: "GET", target: "/products/1"}); r.status != 200 {
			t.Errorf("browsing after the checkout limit: %d", r.status)
		}
	})
	// A headless browser driving the checkout gets the proof-of-work
	// challenge instead of the order; a person's browser goes through.
	t.Run("headless_browser", func(t *testing.T) {
		h := startGateway(t, baseConfig(up.URL, `protect:
  bots: {enabled: true, challenge: {paths: ["POST /order/add/{user}"]}}
`), server.Options{})
		before := up.count("/order/add/17")
		r := h.send(h.URL, owaspReq{method: "POST", target: "/order/add/17", body: `{"items":[]}`, header: map[string]string{
			"User-Agent": "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) HeadlessChrome/120.0.0.0 Safari/537.36"}})
		if r.status != http.StatusForbidden || r.ev.Decision != event.DecisionChallenge {
			t.Fatalf("status %d decision %q, want 403 challenge", r.status, r.ev.Decision)
		}
		f, ok := findingOf(r.ev, "bot", "")
		if !ok || f.RuleID != "bot:challenge" || f.Action != "challenge" || !strings.Contains(f.Message, "headless") {
			t.Fatalf("findings %+v, want bot bot:challenge naming the headless browser", r.ev.Findings)
		}
		if up.count("/order/add/17") != before {
			t.Error("the headless checkout reached the upstream")
		}
		if r := h.send(h.URL, owaspReq{method: "POST", target: "/order/add/17", body: `{"items":[]}`}); r.status != 200 {
			t.Errorf("a browser's checkout: %d %+v", r.status, r.ev.Findings)
		}
	})
	// OWASP's prevention advice: block Tor exit nodes and well-known
	// proxies on the flow. A reputation list file, behind a load balancer
	// (the client address comes from X-Forwarded-For of a trusted proxy).
	t.Run("tor_exit_list", func(t *testing.T) {
		dir := t.TempDir()
		list := filepath.Join(dir, "tor-exits.txt")
		if err := os.WriteFile(list, []byte("# Tor exit addresses\n185.220.101.0/24\n192.42.116.16\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		h := startGateway(t, withListen(baseConfig(up.URL, fmt.Sprintf(`protect:
  ip_rules:
    - {name: tor-exits, action: deny, files: [%q]}
`, list)), "trusted_proxies: [127.0.0.1]"), server.Options{})
		before := up.count("/order/add/17")
		r := h.send(h.URL, owaspReq{method: "POST", target: "/order/add/17", body: `{"items":[]}`,
			header: map[string]string{"X-Forwarded-For": "185.220.101.33"}})
		f := wantBlocked(t, r, http.StatusForbidden, "ip", "tor-exits")
		if f.Kind != "ip_reputation" {
			t.Errorf("kind %q, want ip_reputation", f.Kind)
		}
		if up.count("/order/add/17") != before {
			t.Error("the order from a Tor exit reached the upstream")
		}
		if r := h.send(h.URL, owaspReq{method: "POST", target: "/order/add/17", body: `{"items":[]}`,
			header: map[string]string{"X-Forwarded-For": "198.51.100.7"}}); r.status != 200 {
			t.Errorf("an order from a customer's address: %d", r.status)
		}
	})
}

// TestOWASPAPI7ServerSideRequestForgery: API7:2023. The API fetches a URL
// the client supplies (a webhook, an image to import); the attacker points
// it at the cloud metadata service or at the loopback.
func TestOWASPAPI7ServerSideRequestForgery(t *testing.T) {
	up := newOWASPUpstream(t, nil)
	h := startGateway(t, baseConfig(up.URL, `protect:
  ssrf: {enabled: true}
`), server.Options{})
	for _, tc := range []struct {
		name string
		rq   owaspReq
		rule string
	}{
		{"metadata_in_json", owaspReq{method: "POST", target: "/webhooks", body: `{"event":"order.paid","callback_url":"http://169.254.169.254/latest/meta-data/iam/security-credentials/"}`}, "ssrf:metadata"},
		{"metadata_in_query", owaspReq{method: "GET", target: "/import?image=" + "http%3A%2F%2Fmetadata.google.internal%2FcomputeMetadata%2Fv1%2F"}, "ssrf:metadata"},
		{"loopback_mapped_ipv6", owaspReq{method: "POST", target: "/webhooks", body: `{"callback_url":"http://[::ffff:127.0.0.1]:2375/containers/json"}`}, "ssrf:loopback"},
		{"private_decimal_ip", owaspReq{method: "POST", target: "/import", body: `{"source":{"url":"http://2130706433/admin"}}`}, "ssrf:loopback"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before := up.total()
			r := h.send(h.URL, tc.rq)
			f := wantBlocked(t, r, http.StatusForbidden, "ssrf", tc.rule)
			if f.Kind != "ssrf" {
				t.Errorf("kind %q, want ssrf", f.Kind)
			}
			if up.total() != before {
				t.Error("the request reached the upstream")
			}
		})
	}
	if r := h.send(h.URL, owaspReq{method: "POST", target: "/webhooks", body: `{"callback_url":"https://hooks.partner.example/vigil"}`}); r.status != 200 {
		t.Errorf("a public webhook: %d %+v", r.status, r.ev.Findings)
	}
}

// TestOWASPAPI8SecurityMisconfiguration: API8:2023. What a misconfigured
// proxy chain lets through: h2c upgrades that tunnel past inspection, path
// spellings that dodge path-based rules, ambiguous HTTP/1 framing.
func TestOWASPAPI8SecurityMisconfiguration(t *testing.T) {
	up := newOWASPUpstream(t, nil)
	// /admin is limited to 1 request an hour: a spelling of /admin that the
	// gateway did not canonicalize would not be counted.
	h := startGateway(t, baseConfig(up.URL, `protect:
  rate_limits:
    - {name: admin, match: {endpoint: "/admin/*"}, key: ip, rate: 1/h, burst: 1}
`), server.Options{})
	addr := strings.TrimPrefix(h.URL, "http://")

	t.Run("h2c_upgrade", func(t *testing.T) {
		r := h.send(h.URL, owaspReq{method: "GET", target: "/products", header: map[string]string{
			"Connection": "Upgrade, HTTP2-Settings", "Upgrade": "h2c", "HTTP2-Settings": "AAMAAABkAARAAAAAAAIAAAAA"}})
		if r.status != 200 {
			t.Fatalf("status %d", r.status)
		}
		if got := up.last().Header.Get("Upgrade"); got != "" {
			t.Fatalf("the upstream saw Upgrade: %q", got)
		}
		if f, ok := findingOf(r.ev, "proxy", "h2c_upgrade"); !ok || f.Action != "strip" {
			t.Fatalf("findings %+v, want a proxy h2c_upgrade strip", r.ev.Findings)
		}
	})
	t.Run("path_spelling", func(t *testing.T) {
		first := h.send(h.URL, owaspReq{method: "GET", target: "/admin/users"})
		if first.status != 200 {
			t.Fatalf("first /admin call: %d", first.status)
		}
		resp, _ := rawRequest(t, addr, "GET /static/..%2f../ADMIN/../admin/./users HTTP/1.1\r\nHost: x\r\n\r\n")
		resp.Body.Close()
		// escaped slashes are refused by default (400)...
		if resp.StatusCode != http.StatusBadRequest {
			t.Fatalf("%%2f spelling: %d, want 400", resp.StatusCode)
		}
		ev := h.eventFor(resp.Header.Get("Vigil-Txn"))
		if _, ok := findingOf(ev, "proxy", "invalid_path"); !ok {
			t.Errorf("findings %+v, want proxy invalid_path", ev.Findings)
		}
		// ...and dot segments resolve to /admin, which is limited.
		resp, _ = rawRequest(t, addr, "GET /static/../admin/./users HTTP/1.1\r\nHost: x\r\n\r\n")
		resp.Body.Close()
		if resp.StatusCode != http.StatusTooManyRequests {
			t.Fatalf("/static/../admin/./users: %d, want 429 (the canonical path is /admin/users)", resp.StatusCode)
		}
		ev = h.eventFor(resp.Header.Get("Vigil-Txn"))
		if _, ok := findingOf(ev, "proxy", "path_normalized"); !ok {
			t.Errorf("findings %+v, want proxy path_normalized", ev.Findings)
		}
		if f, ok := findingOf(ev, "ratelimit", ""); !ok || f.RuleID != "admin" {
			t.Errorf("findings %+v, want ratelimit admin", ev.Findings)
		}
		if n := up.count("/admin/users"); n != 1 {
			t.Errorf("the upstream saw /admin/users %d times, want 1", n)
		}
	})
	// The CRS protocol-enforcement rules (paranoia level 1) refuse what a
	// well-configured API never accepts.
	waf := startGateway(t, baseConfig(up.URL, `protect:
`+owaspWAFTimeout+`
  waf: {enabled: true, paranoia_level: 1}
`), server.Options{})
	for _, tc := range []struct {
		name   string
		rq     owaspReq
		ruleID string
	}{
		{"crs_header_injection", owaspReq{method: "GET", target: "/search?next=a%0d%0aSet-Cookie:%20session=evil"}, "921120"},
		{"crs_null_byte", owaspReq{method: "GET", target: "/files?name=report.pdf%00.php"}, "920270"},
		{"crs_content_type", owaspReq{method: "POST", target: "/upload", header: map[string]string{"Content-Type": "application/x-evil"}, body: "x"}, "920420"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before := up.total()
			r := waf.send(waf.URL, tc.rq)
			wantBlocked(t, r, http.StatusForbidden, "waf", tc.ruleID)
			wantBlocked(t, r, http.StatusForbidden, "waf", "949110") // the inbound anomaly score
			if up.total() != before {
				t.Error("the request reached the upstream")
			}
		})
	}
	// Injection, a row of its own in the 2019 list, is caught by the CRS on
	// every route, in JSON bodies too.
	t.Run("crs_sqli_json", func(t *testing.T) {
		r := waf.send(waf.URL, owaspReq{method: "POST", target: "/login", body: `{"username":"admin' OR '1'='1' --","password":"x"}`})
		wantBlocked(t, r, http.StatusForbidden, "waf", "949110")
		var sqli *event.Finding
		for i, f := range r.ev.Findings {
			if f.Layer == "waf" && strings.HasPrefix(f.RuleID, "942") && f.Kind == "sqli" {
				sqli = &r.ev.Findings[i]
				break
			}
		}
		if sqli == nil || !strings.HasPrefix(sqli.Variable, "ARGS") {
			t.Fatalf("no CRS 942xxx sqli finding on the JSON field: %+v", r.ev.Findings)
		}
		// A benign login passes.
		if r := waf.send(waf.URL, owaspReq{method: "POST", target: "/login", body: `{"username":"o'brien","password":"correct horse battery staple"}`}); r.status != 200 {
			t.Errorf("benign login: %d %+v", r.status, r.ev.Findings)
		}
	})
	t.Run("request_smuggling", func(t *testing.T) {
		before := up.count("/cart/item/add/17")
		resp, _ := rawRequest(t, addr, "POST /cart/item/add/17 HTTP/1.1\r\nHost: x\r\nContent-Length: 40\r\nTransfer-Encoding: chunked\r\n\r\n"+
			"0\r\n\r\nGET /admin HTTP/1.1\r\nHost: x\r\n\r\n")
		resp.Body.Close()
		if resp.StatusCode != http.StatusBadRequest {
			t.Fatalf("CL+TE: %d, want 400", resp.StatusCode)
		}
		ev := h.eventFor(resp.Header.Get("Vigil-Txn"))
		if _, ok := findingOf(ev, "proxy", "request_smuggling"); !ok || ev.Decision != event.DecisionBlock {
			t.Errorf("event %+v, want a proxy request_smuggling block", ev)
		}
		if up.count("/cart/item/add/17") != before {
			t.Error("the smuggling attempt reached the upstream")
		}
	})
}

// owaspSpec is a small spec of the demo shop's API, for the rows that
// compare traffic with a spec.
const owaspSpec = `openapi: 3.0.3
info: {title: shop, version: "1.0"}
paths:
  /products:
    get:
      parameters:
        - {name: limit, in: query, schema: {type: integer, minimum: 1, maximum: 50}}
      responses:
        "200":
          description: products
          content:
            application/json:
              schema:
                type: object
                properties:
                  items: {type: array, items: {$ref: "#/components/schemas/Product"}}
  /products/{id}:
    get:
      parameters:
        - {name: id, in: path, required: true, schema: {type: integer}}
      responses:
        "200":
          description: one product
          content:
            application/json:
              schema: {$ref: "#/components/schemas/Product"}
  /users/{id}:
    get:
      parameters:
        - {name: id, in: path, required: true, schema: {type: integer}}
      responses:
        "200":
          description: a profile
          content:
            application/json:
              schema:
                type: object
                additionalProperties: false
                properties:
                  id: {type: integer}
                  name: {type: string}
    patch:
      parameters:
        - {name: id, in: path, required: true, schema: {type: integer}}
      requestBody:
        required: true
        content:
          application/json:
            schema:
              type: object
              additionalProperties: false
              properties:
                name: {type: string}
                email: {type: string}
      responses:
        "200": {description: updated}
  /cart/item/add/{user}:
    post:
      parameters:
        - {name: user, in: path, required: true, schema: {type: integer}}
      requestBody:
        required: true
        content:
          application/json:
            schema:
              type: object
              required: [product_id]
              additionalProperties: false
              properties:
                product_id: {type: integer}
                quantity: {type: integer, minimum: 1, maximum: 99}
      responses:
        "201": {description: added}
components:
  schemas:
    Product:
      type: object
      properties:
        id: {type: integer}
        name: {type: string}
        price: {type: number}
`

// owaspDataPlane starts a gateway with discovery (server.StartDataPlane),
// as vigil gateway runs it. It returns the gateway's URL and a gw that
// reads its events.
func owaspDataPlane(t *testing.T, yaml string) (string, *gw) {
	t.Helper()
	dir := t.TempDir()
	yaml = strings.ReplaceAll(yaml, "{{DIR}}", dir)
	file := filepath.Join(dir, "vigil.yaml")
	if err := os.WriteFile(file, []byte(yaml), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, err := config.Load(file)
	if err != nil {
		t.Fatalf("config: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	dp, err := server.StartDataPlane(ctx, cfg, server.Options{Logger: quietLog()}, quietLog(),
		server.DataPlaneOptions{Discovery: discovery.ServiceOptions{Settle: 200 * time.Millisecond, Tick: 50 * time.Millisecond}})
	if err != nil {
		cancel()
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { defer close(done); _ = dp.Serve(ctx) }()
	t.Cleanup(func() { cancel(); <-done })
	return "http://" + dp.G.Addr("http"), &gw{t: t, events: cfg.Events.File}
}

// TestOWASPAPI9ImproperInventoryManagement: API9:2023. A debug endpoint
// nobody documented is live in production; discovery, comparing traffic
// with the spec, raises a shadow_endpoint alert.
func TestOWASPAPI9ImproperInventoryManagement(t *testing.T) {
	up := newOWASPUpstream(t, func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, `{"id":%q,"name":"x"}`, r.URL.Path[strings.LastIndexByte(r.URL.Path, '/')+1:])
	})
	t.Run("shadow_endpoint", func(t *testing.T) {
		dir := t.TempDir()
		spec := filepath.Join(dir, "shop.yaml")
		if err := os.WriteFile(spec, []byte(owaspSpec), 0o600); err != nil {
			t.Fatal(err)
		}
		base, h := owaspDataPlane(t, fmt.Sprintf(`listen: {http: 127.0.0.1:0}
data_dir: {{DIR}}/data
routes: [{name: main, upstream: %q}]
events: {file: {{DIR}}/events.jsonl, flush_interval: 10ms}
discovery: {sample_rate: 1, specs: [%q]}
`, up.URL, spec))
		for i := range 12 {
			h.send(base, owaspReq{method: "GET", target: fmt.Sprintf("/products/%d", 1+i)})
			h.send(base, owaspReq{method: "GET", target: fmt.Sprintf("/internal/debug/users/%d", 1000+i)})
		}
		var alert *event.Alert
		waitFor(t, 10*time.Second, func() bool {
			for _, ev := range readEventFile(t, h.events) {
				if ev.Type == "alert" && ev.Alert.Kind == "shadow_endpoint" {
					alert = ev.Alert
					return true
				}
			}
			return false
		}, "no shadow_endpoint alert for /internal/debug/users/{parameter}")
		if alert.Method != "GET" || !strings.HasPrefix(alert.Endpoint, "/internal/debug/users/") {
			t.Errorf("shadow alert %+v, want GET /internal/debug/users/{parameter}", alert)
		}
		for _, ev := range readEventFile(t, h.events) {
			if ev.Type == "alert" && ev.Alert.Kind == "shadow_endpoint" && strings.HasPrefix(ev.Alert.Endpoint, "/products") {
				t.Errorf("a documented endpoint was called shadow: %+v", ev.Alert)
			}
		}
	})
}

// TestOWASPAPI10UnsafeConsumptionOfAPIs: API10:2023. The API passes on
// what a service it consumes returned, unchecked. Vigil judges the
// response before it leaves: the CRS response rules, and the spec.
func TestOWASPAPI10UnsafeConsumptionOfAPIs(t *testing.T) {
	// The upstream relays a third party's database error verbatim.
	up := newOWASPUpstream(t, func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/shipping/quote" {
			io.WriteString(w, `{"provider":"acme-freight","error":"You have an error in your SQL syntax; check the manual that corresponds to your MySQL server version for the right syntax to use near '' at line 1"}`)
			return
		}
		io.WriteString(w, `{"provider":"acme-freight","price":4.99}`)
	})
	t.Run("crs_response_leak", func(t *testing.T) {
		h := startGateway(t, baseConfig(up.URL, `protect:
`+owaspWAFTimeout+`
  waf: {enabled: true, paranoia_level: 1, response_body: true}
`), server.Options{})
		r := h.send(h.URL, owaspReq{method: "GET", target: "/shipping/quote?zip=12345"})
		wantBlocked(t, r, http.StatusForbidden, "waf", "959100") // the outbound anomaly score
		f := wantBlocked(t, r, http.StatusForbidden, "waf", "951230")
		if f.Kind != "data_leakage" || f.Variable != "RESPONSE_BODY" {
			t.Errorf("finding %+v, want data_leakage on RESPONSE_BODY", f)
		}
		if strings.Contains(r.body, "SQL syntax") {
			t.Errorf("the leaked error reached the client: %s", r.body)
		}
		if r := h.send(h.URL, owaspReq{method: "GET", target: "/shipping/price?zip=12345"}); r.status != 200 || !strings.Contains(r.body, "4.99") {
			t.Errorf("a clean answer: %d %s", r.status, r.body)
		}
	})
}
