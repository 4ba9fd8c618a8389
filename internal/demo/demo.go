// Package demo runs `vigil demo`: the demo shop on loopback, Vigil in front
// of it, and a traffic generator playing shoppers and a few attacks, with a
// live summary. Everything it writes lives in one temporary directory that
// is removed when it stops.
package demo

import (
	"context"
	"crypto/rand"
	_ "embed"
	"encoding/hex"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/vigil-sec/vigil/internal/allinone"
	"github.com/vigil-sec/vigil/internal/config"
	"github.com/vigil-sec/vigil/internal/demo/shop"
	"github.com/vigil-sec/vigil/internal/demo/traffic"
	"github.com/vigil-sec/vigil/internal/discovery"
	"github.com/vigil-sec/vigil/internal/event"
	"github.com/vigil-sec/vigil/internal/risk"
)

// shopSpec is the OpenAPI description of the demo shop's public API, which
// the gateway enforces and discovery compares traffic with.
//
//go:embed shop-openapi.yaml
var shopSpec []byte

// Options configure a demo run.
type Options struct {
	// Listen and Admin are the gateway's addresses (default 127.0.0.1:0).
	Listen, Admin string
	// Duration stops the demo by itself (0: until Ctrl-C).
	Duration   time.Duration
	Shoppers   int
	AttackRate float64
	Seed       int64
	// Every is the summary interval.
	Every  time.Duration
	Out    io.Writer
	Logger *slog.Logger
	// KeepDir keeps the temporary directory (events file) at exit.
	KeepDir bool
	// Token is the admin token of the API and the dashboard ("": a new
	// random one); ReadToken the dashboard's read-only token ("": none).
	Token, ReadToken string
	// Ready, when set, is called with the gateway's URLs once serving.
	Ready func(gatewayURL, adminURL string)
}

// Result is what a finished demo saw.
type Result struct {
	Traffic   traffic.Stats
	Endpoints []discovery.Endpoint
	// Attacks is, for each kind of attack sent, what the gateway's events
	// say stopped it.
	Attacks []AttackReport
	// Shoppers counts the shoppers' requests that got an answer, and
	// ShoppersRefused those Vigil refused, by "layer rule".
	Shoppers        int
	ShoppersRefused map[string]int
	// Risk is the residual connectivity risk of what the shoppers called.
	Risk []risk.Score
	// MeshCalls are the order service's calls to the cart over mutual
	// TLS, InterceptedCalls its calls to the payment provider that the
	// egress listener intercepted.
	MeshCalls, InterceptedCalls int
	Dir                         string
}

// Run runs the demo until ctx ends or Duration passes.
func Run(ctx context.Context, o Options) (*Result, error) {
	if o.Out == nil {
		o.Out = io.Discard
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Listen == "" {
		o.Listen = "127.0.0.1:0"
	}
	if o.Admin == "" {
		o.Admin = "127.0.0.1:0"
	}
	if o.Every <= 0 {
		o.Every = 2 * time.Second
	}
	dir, err := os.MkdirTemp("", "vigil-demo-")
	if err != nil {
		return nil, err
	}
	if !o.KeepDir {
		defer os.RemoveAll(dir)
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()

	s, err := shop.Start(ctx, shop.Options{Logger: o.Logger})
	if err != nil {
		return nil, fmt.Errorf("demo shop: %w", err)
	}
	defer s.Close()

	specFile := dir + "/shop-openapi.yaml"
	if err := os.WriteFile(specFile, shopSpec, 0o600); err != nil {
		return nil, err
	}
	jwksFile := dir + "/users-jwks.json"
	if err := os.WriteFile(jwksFile, s.JWKS(), 0o600); err != nil {
		return nil, err
	}
	cfg, err := config.Parse([]byte(gatewayConfig(o, dir, specFile, jwksFile, s.Routes())), "demo.yaml")
	if err != nil {
		return nil, fmt.Errorf("demo config: %w", err)
	}
	attacks := newAttackLog()
	graph := risk.NewAggregator()
	// vigil up in front of the shop: the gateway, the control plane and
	// the dashboard, on an embedded store and bus in the temporary
	// directory.
	token := o.Token
	if token == "" {
		token = newToken()
	}
	cfg.Admin.ReadToken = o.ReadToken
	stack, err := allinone.Start(ctx, cfg, allinone.Options{Token: token, Logger: o.Logger, Sinks: []event.Sink{attacks, graph},
		Discovery: discovery.ServiceOptions{Settle: 2 * time.Second}})
	if err != nil {
		return nil, err
	}
	dp := stack.DataPlane
	served := make(chan error, 1)
	go func() { served <- stack.Serve(ctx) }()
	// The order service reaches the cart and the payment provider through
	// sidecars: mutual TLS east-west, interception on the way out. Their
	// events reach the control plane over the bus, as real sidecars' do.
	m, err := startMesh(ctx, dir, s, o.Logger, stack.Bus)
	if err != nil {
		cancel()
		<-served
		return nil, fmt.Errorf("demo sidecars: %w", err)
	}
	gw := "http://" + dp.G.Addr("http")
	admin := "http://" + dp.G.Addr("admin")
	fmt.Fprintf(o.Out, "Vigil demo\n  shop behind Vigil:  %s/\n  dashboard:          %s/ui/login#token=%s\n  admin (metrics):    %s/metrics\n  events:             %s\n",
		gw, admin, token, admin, cfg.Events.File)
	fmt.Fprintf(o.Out, "  services:           ")
	var shown []string
	for _, r := range s.Routes() {
		svc := r.Name + " " + strings.TrimPrefix(r.Upstream, "http://")
		if slices.Contains(shown, svc) {
			continue // one service behind several routes (users: /login and /users/)
		}
		if len(shown) > 0 {
			fmt.Fprint(o.Out, ", ")
		}
		shown = append(shown, svc)
		fmt.Fprint(o.Out, svc)
	}
	fmt.Fprintln(o.Out)
	if o.Duration > 0 {
		fmt.Fprintf(o.Out, "Playing shoppers and attacks for %s (Ctrl-C stops)...\n\n", o.Duration)
	} else {
		fmt.Fprintf(o.Out, "Playing shoppers and attacks until Ctrl-C...\n\n")
	}
	if o.Ready != nil {
		o.Ready(gw, admin)
	}

	last := time.Now()
	stats, err := traffic.Run(ctx, traffic.Options{BaseURL: gw, Shoppers: o.Shoppers, Duration: o.Duration,
		AttackRate: o.AttackRate, Seed: o.Seed, TickInterval: o.Every, Logger: o.Logger, ClientAddresses: true,
		OnRequest: attacks.record},
		func(st traffic.Stats) {
			attacks.resolve(time.Now(), 3*time.Second, false)
			if time.Since(last) < o.Every/2 {
				return
			}
			last = time.Now()
			fmt.Fprintf(o.Out, "[%s] %d requests (%.0f/s), %d orders, attacks %d sent / %d blocked, %d endpoints discovered\n",
				st.Elapsed.Round(time.Second), st.Requests, st.RequestsPerSecond(), st.Orders, st.Attacks, st.AttacksBlocked,
				dp.Discovery.Engine.Len())
		})
	if err != nil {
		return nil, err
	}
	// Let discovery drain its queue, then stop the gateway.
	time.Sleep(300 * time.Millisecond)
	dp.Discovery.Engine.Evaluate(time.Now().Add(time.Hour))
	res := &Result{Traffic: stats, Endpoints: dp.Discovery.Engine.Endpoints(), Dir: dir}
	cancel()
	if err := <-served; err != nil {
		o.Logger.Warn("gateway stopped with an error", "err", err)
	}
	// The gateway has stopped: every event reached the attack log.
	attacks.resolve(time.Now(), 0, true)
	res.Attacks = attacks.Reports()
	fmt.Fprintf(o.Out, "\n%s", stats.TrafficSummary())
	res.Shoppers, res.ShoppersRefused = attacks.shopperRefusals()
	attacks.print(o.Out, res.Attacks)
	printInventory(o.Out, res.Endpoints)
	m.report(o.Out)
	res.MeshCalls, res.InterceptedCalls = m.calls()
	for _, ev := range m.snapshot() {
		graph.Add(&ev)
	}
	res.Risk = risk.AssessAll(graph.Drain(), inventoryOf(res.Endpoints))
	printRisk(o.Out, res.Risk)
	return res, nil
}

// newToken is the demo's admin token, for the dashboard's sign-in link
// and the API.
func newToken() string {
	b := make([]byte, 24)
	_, _ = rand.Read(b) // never fails (crypto/rand)
	return "vgl_" + hex.EncodeToString(b)
}

// inventoryOf summarizes discovered endpoints per host for the risk score.
func inventoryOf(eps []discovery.Endpoint) func(string) risk.Inventory {
	return func(host string) risk.Inventory {
		var inv risk.Inventory
		classes := map[string]bool{}
		h, _, err := net.SplitHostPort(host)
		if err != nil {
			h = host
		}
		for _, ep := range eps {
			if ep.Host != h && ep.Host != host {
				continue
			}
			inv.Endpoints++
			if !ep.Protected {
				inv.Unprotected++
			}
			for _, c := range ep.Sensitive {
				classes[c] = true
			}
		}
		for c := range classes {
			inv.Sensitive = append(inv.Sensitive, c)
		}
		slices.Sort(inv.Sensitive)
		return inv
	}
}

func printRisk(w io.Writer, scores []risk.Score) {
	fmt.Fprintln(w, "\nResidual connectivity risk (GET /api/v1/risk under vigil up):")
	for _, s := range scores {
		fmt.Fprintf(w, "  %s: %d (%s), %d requests from %s\n", s.Workload, s.Score, s.Level, s.Requests, strings.Join(s.Callers, ", "))
		for _, r := range s.Reasons {
			fmt.Fprintf(w, "    +%-4g %s\n", r.Points, r.Detail)
		}
	}
}

func gatewayConfig(o Options, dir, spec, jwks string, routes []shop.Route) string {
	var b strings.Builder
	// The traffic generator plays a load balancer in front (X-Forwarded-For
	// from 127.0.0.1), so each shopper and the attacker have an address.
	// The shop's services read at most 1 MB (shop.MaxBodyBytes): Vigil
	// refuses larger bodies before they reach them.
	fmt.Fprintf(&b, "mode: enforce\nlisten: {http: %q, trusted_proxies: [127.0.0.1], limits: {max_body_bytes: 1MB, max_inspect_bytes: 1MB}}\nadmin: %q\ndata_dir: %q\n",
		o.Listen, o.Admin, dir+"/data")
	b.WriteString("routes:\n")
	for _, r := range routes {
		fmt.Fprintf(&b, "  - {name: %s, match: {host: \"*\", path_prefix: %q}, upstream: %q}\n", r.Name+strings.ReplaceAll(r.PathPrefix, "/", "-"), r.PathPrefix, r.Upstream)
	}
	fmt.Fprintf(&b, "events: {file: %q}\n", dir+"/events.jsonl")
	// Every hop signs its own audit record (docs/audit.md), the sidecars
	// with their own keys: a checkout's lineage shows who handled it.
	b.WriteString("audit: {sign_hops: true}\n")
	// The layers in front of the shop: the WAF (OWASP CRS, paranoia 1),
	// the shop's OpenAPI spec enforced (undeclared properties, wrong
	// types, undocumented endpoints), a brute-force limit on login, a
	// denied address range, bot scoring and SSRF checks.
	fmt.Fprintf(&b, `discovery: {sample_rate: 0.5, specs: [%[1]q]}
protect:
  # The shop, the gateway and the traffic share one machine: give the WAF
  # room before its stage fails open (the default stage_timeout is 50ms).
  stages: {waf: {timeout: 1s}}
  rate_limits:
    # Ten logins in a row per address, then one a second: shoppers who log
    # in every few seconds pass, a brute force is cut after ten guesses.
    - {name: login, match: {endpoint: "POST /login"}, key: ip, rate: 60/m, burst: 10}
  ip_rules:
    - {name: known-bad-range, action: deny, cidrs: [192.0.2.0/24]}
  waf:
    enabled: true
    paranoia_level: 1
    inbound_anomaly_threshold: 5
    directives: |          # the demo's clients call the gateway by its loopback IP address
      SecRuleRemoveById 920350
  openapi: {specs: [%[1]q]}
  bots: {enabled: true}
  ssrf: {enabled: true}
# The users service's tokens are verified at the gateway (its HS256 key
# from a JWKS file), and every customer object is its owner's alone: the
# cart service itself hands any cart to any caller (BOLA), the gateway
# does not. Anonymous calls are left to the services, which answer 401.
identity:
  jwt:
    - issuer: %[2]q
      jwks_file: %[3]q
      audiences: [%[4]q]
      algorithms: [HS256]
policies:
  - name: own-profile
    match: {endpoint: "GET /users/{id}"}
    deny_if: 'has(token.sub) && token.sub != "user-" + path.id'
  - name: own-cart
    match: {endpoint: "/cart/{action}/{id}"}
    deny_if: 'has(token.sub) && token.sub != "user-" + path.id'
  - name: own-cart-items
    match: {endpoint: "POST /cart/item/add/{id}"}
    deny_if: 'has(token.sub) && token.sub != "user-" + path.id'
  - name: own-orders
    match: {endpoint: "POST /order/add/{id}"}
    deny_if: 'has(token.sub) && token.sub != "user-" + path.id'
`, spec, shop.TokenIssuer, jwks, shop.TokenAudience)
	return b.String()
}

func printInventory(w io.Writer, eps []discovery.Endpoint) {
	var probes int
	for _, ep := range eps {
		if ep.Hits < 2 {
			probes++
		}
	}
	fmt.Fprintf(w, "\nDiscovered endpoints (%d", len(eps)-probes)
	if probes > 0 {
		fmt.Fprintf(w, "; %d seen once, not shown", probes)
	}
	fmt.Fprintln(w, "):")
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "  METHOD\tENDPOINT\tHITS\tSENSITIVE")
	for _, ep := range eps {
		if ep.Hits < 2 {
			continue // one-off attack probes
		}
		sens := strings.Join(ep.Sensitive, ",")
		if sens == "" {
			sens = "-"
		}
		fmt.Fprintf(tw, "  %s\t%s\t%d\t%s\n", ep.Method, ep.Path, ep.Hits, sens)
	}
	tw.Flush()
}
