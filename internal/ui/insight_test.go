package ui

import (
	"context"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"golang.org/x/net/html"

	"github.com/vigil-sec/vigil/internal/audit"
	"github.com/vigil-sec/vigil/internal/event"
	"github.com/vigil-sec/vigil/internal/risk"
	"github.com/vigil-sec/vigil/internal/store"
)

// doc is a parsed page.
type doc struct{ root *html.Node }

func parse(t *testing.T, body string) doc {
	t.Helper()
	n, err := html.Parse(strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	return doc{n}
}

func attrOf(n *html.Node, k string) string {
	for _, a := range n.Attr {
		if a.Key == k {
			return a.Val
		}
	}
	return ""
}

func hasClass(n *html.Node, c string) bool {
	return slices.Contains(strings.Fields(attrOf(n, "class")), c)
}

// all returns the elements under n (n included) that match.
func all(n *html.Node, match func(*html.Node) bool) []*html.Node {
	var out []*html.Node
	var walk func(*html.Node)
	walk = func(n *html.Node) {
		if n.Type == html.ElementNode && match(n) {
			out = append(out, n)
		}
		for c := n.FirstChild; c != nil; c = c.NextSibling {
			walk(c)
		}
	}
	walk(n)
	return out
}

func (d doc) byID(t *testing.T, id string) *html.Node {
	t.Helper()
	ns := all(d.root, func(n *html.Node) bool { return attrOf(n, "id") == id })
	if len(ns) != 1 {
		t.Fatalf("%d elements with id %q", len(ns), id)
	}
	return ns[0]
}

func byClass(n *html.Node, tag, class string) []*html.Node {
	return all(n, func(n *html.Node) bool { return (tag == "" || n.Data == tag) && hasClass(n, class) })
}

func text(n *html.Node) string {
	var b strings.Builder
	var walk func(*html.Node)
	walk = func(n *html.Node) {
		if n.Type == html.TextNode {
			b.WriteString(n.Data + " ")
		}
		for c := n.FirstChild; c != nil; c = c.NextSibling {
			walk(c)
		}
	}
	walk(n)
	return strings.Join(strings.Fields(b.String()), " ")
}

// fakeGraph is a GraphSource over fixed edges.
type fakeGraph struct{ edges []risk.Edge }

func (g fakeGraph) Connections(context.Context, store.ConnectionFilter) (store.Page[risk.Edge], error) {
	return store.Page[risk.Edge]{Items: g.edges}, nil
}

func (g fakeGraph) Risk(context.Context) ([]risk.Score, error) {
	return risk.AssessAll(g.edges, func(string) risk.Inventory {
		return risk.Inventory{Endpoints: 3, Unprotected: 1, Sensitive: []string{"pan"}}
	}), nil
}

var demoEdges = []risk.Edge{
	{ID: "e1", Source: "external", Destination: "shop.demo.local", Requests: 200, TLS13: 200, External: 200, TLSVersion: "1.3", Group: "X25519MLKEM768"},
	{ID: "e2", Source: "spiffe://demo.local/order", Destination: "cart.demo.local", Requests: 20, Authenticated: 20, MTLS: 20, TLS13: 20, TLSVersion: "1.3", Group: "X25519"},
	{ID: "e3", Source: "spiffe://demo.local/order", Destination: "payments.demo.local", Requests: 7, Intercepted: 7, LegacyTLS: 7, TLSVersion: "1.2", Group: "P-256"},
}

// insightFixture is a signed-in admin on a dashboard whose store holds the
// demo's story: a checkout that called the payment provider, attacks
// blocked, a bot challenged, an alert; with an audit log and a graph.
type insightFixture struct {
	*fixture
	c   *http.Client
	log *audit.Log
	now time.Time
}

func newInsight(t *testing.T, mod func(*Options)) *insightFixture {
	key, _, err := audit.GenerateKey("vigil-test")
	if err != nil {
		t.Fatal(err)
	}
	var lg *audit.Log
	f := newFixture(t, func(o *Options) {
		lg, err = audit.New(o.Store, key, "")
		if err != nil {
			t.Fatal(err)
		}
		o.Audit, o.Graph = lg, fakeGraph{demoEdges}
		o.Health = func() Health {
			return Health{DataPlanes: 2, BusConnected: true, EventLag: 1500 * time.Millisecond, DroppedEvents: 3}
		}
		if mod != nil {
			mod(o)
		}
	})
	x := &insightFixture{fixture: f, c: f.client(), log: lg, now: f.clock.Now()}
	evs := demoEvents(x.now)
	if _, err := f.store.InsertEvents(context.Background(), evs); err != nil {
		t.Fatal(err)
	}
	if _, err := lg.AppendEvents(context.Background(), evs); err != nil {
		t.Fatal(err)
	}
	f.signIn(x.c, adminToken)
	return x
}

func demoEvents(now time.Time) []event.Event {
	at := func(ago time.Duration) time.Time { return now.Add(-ago).UTC() }
	ev := func(id string, ago time.Duration, ip, method, path, endpoint, decision string, fs ...event.Finding) event.Event {
		return event.Event{TxnID: id, TraceID: "trace-" + id, Time: at(ago), Placement: "gateway", Mode: "enforce",
			Source: event.Source{IP: ip}, Destination: event.Destination{Host: "shop.demo.local", Upstream: "http://127.0.0.1:8081"},
			TLS:     &event.TLS{Version: "1.3", Cipher: "TLS_AES_128_GCM_SHA256", Group: "X25519MLKEM768"},
			Request: event.Request{Method: method, Path: path, Endpoint: endpoint}, Response: event.Response{Status: 200},
			Decision: decision, Findings: fs}
	}
	checkout := ev("checkout-1", 2*time.Minute, "192.0.2.10", "POST", "/orders", "/orders", "allow")
	checkout.Identity = &event.Identity{Sub: "alice", ClientID: "socks-web", TokenID: "sha256:1111222233334444"}
	pay := event.Event{TxnID: "pay-1", ParentTxnID: "checkout-1", TraceID: "trace-checkout-1", Time: at(2*time.Minute - 50*time.Millisecond),
		Placement: "sidecar", Mode: "enforce",
		Source:      event.Source{IP: "127.0.0.1", Workload: "spiffe://demo.local/order"},
		Destination: event.Destination{Host: "payments.demo.local", Upstream: "https://payments.demo.local:9443", TLS: &event.TLS{Version: "1.2", Cipher: "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256", Group: "P-256"}},
		TLS:         &event.TLS{Version: "1.3", Cipher: "TLS_AES_128_GCM_SHA256", Group: "X25519", Intercepted: true},
		Request:     event.Request{Method: "POST", Path: "/v1/charges", Endpoint: "/v1/charges", Auth: "bearer", TokenID: "sha256:9f86d081884c7d65"},
		Response:    event.Response{Status: 201}, Decision: "allow"}
	sqli := event.Finding{Stage: "waf", Layer: "waf", RuleID: "942100", Kind: "sqli", Severity: "critical", Action: "block", Message: "SQL Injection Attack Detected via libinjection"}
	xss := event.Finding{Stage: "waf", Layer: "waf", RuleID: "941100", Kind: "xss", Severity: "critical", Action: "block", Message: "<script>alert(1)</script>"}
	bola := event.Finding{Stage: "authz", Layer: "authz", RuleID: "own-cart", Kind: "bola", Action: "block"}
	bot := event.Finding{Stage: "bot", Layer: "bot", RuleID: "bot-score", Kind: "bot", Action: "challenge"}
	a1 := ev("attack-1", 5*time.Minute, "203.0.113.7", "GET", "/catalogue", "/catalogue", "block", sqli)
	a2 := ev("attack-2", 4*time.Minute, "203.0.113.7", "GET", "/catalogue", "/catalogue", "block", xss)
	a3 := ev("bola-1", 3*time.Minute, "198.51.100.4", "GET", "/carts/99", "/carts/{parameter}", "block", bola)
	a3.Identity = &event.Identity{Sub: "mallory", TokenID: "sha256:aaaabbbbccccdddd"}
	b1 := ev("bot-1", 90*time.Second, "198.51.100.9", "GET", "/catalogue", "/catalogue", "challenge", bot)
	old := ev("old-1", 3*time.Hour, "203.0.113.7", "GET", "/login", "/login", "block", sqli)
	alert := event.Event{Type: "alert", TxnID: "alert-tls-1", Time: at(time.Minute), Placement: "control", Decision: "allow",
		Alert: &event.Alert{Kind: "legacy_tls", Host: "payments.demo.local", Detail: "spiffe://demo.local/order → payments.demo.local: the upstream answered over TLS 1.2"}}
	return []event.Event{checkout, pay, a1, a2, a3, b1, old, alert}
}

func (x *insightFixture) page(t *testing.T, path string, status int) doc {
	t.Helper()
	r := x.get(x.c, path)
	if r.StatusCode != status {
		t.Fatalf("GET %s: status %d, want %d:\n%s", path, r.StatusCode, status, r.body)
	}
	return parse(t, r.body)
}

func TestOverviewPage(t *testing.T) {
	x := newInsight(t, nil)
	d := x.page(t, "/ui/", http.StatusOK)
	ov := d.byID(t, "overview")
	for _, id := range []string{"rps", "decisions", "top-endpoints", "top-offenders", "alerts", "health"} {
		if len(all(ov, func(n *html.Node) bool { return attrOf(n, "id") == id })) != 1 {
			t.Errorf("#overview has no #%s", id)
		}
	}
	if got := text(d.byID(t, "rps")); !strings.Contains(got, "6 requests in the last hour") {
		t.Errorf("#rps = %q (the 3 h old event is outside the hour, the alert is no request)", got)
	}
	decs := map[string]string{}
	for _, tr := range byClass(d.byID(t, "decisions"), "tr", "decision") {
		decs[attrOf(tr, "data-decision")] = text(tr)
	}
	if !strings.HasPrefix(decs["block"], "block 3 50.0%") || !strings.HasPrefix(decs["allow"], "allow 2") || len(decs) != 3 {
		t.Errorf("decisions = %v", decs)
	}
	off := byClass(d.byID(t, "top-offenders"), "tr", "offender")
	if len(off) != 3 || !strings.HasPrefix(text(off[0]), "203.0.113.7 none 2 2") {
		t.Errorf("offenders: %d rows, first %q", len(off), text(off[0]))
	}
	top := byClass(d.byID(t, "top-endpoints"), "tr", "top-endpoint")
	if len(top) == 0 || !strings.Contains(text(top[0]), "/catalogue 3 3") {
		t.Errorf("top endpoint = %q, want /catalogue with 3 requests, 3 refused", text(top[0]))
	}
	alerts := byClass(d.byID(t, "alerts"), "tr", "alert-row")
	if len(alerts) != 1 || !strings.Contains(text(alerts[0]), "legacy_tls") {
		t.Errorf("alerts = %d rows", len(alerts))
	}
	if h := text(d.byID(t, "health")); !strings.Contains(h, "2 connected") || !strings.Contains(h, "1.5s") || !strings.Contains(h, "Dropped events 3") {
		t.Errorf("#health = %q", h)
	}
	if len(all(d.byID(t, "overview"), func(n *html.Node) bool { return n.Data == "svg" && attrOf(n, "id") == "rps-chart" })) != 1 {
		t.Error("no requests/s chart")
	}
	// The live fragment: the same panels, no layout; 401 without a session.
	r := x.get(x.c, "/ui/overview/live")
	if r.StatusCode != http.StatusOK || strings.Contains(r.body, "<html") || !strings.Contains(r.body, `id="top-offenders"`) {
		t.Errorf("live fragment: %d\n%s", r.StatusCode, r.body)
	}
	// New traffic shows in the next poll.
	late := demoEvents(x.now)[2]
	late.TxnID, late.Source.IP, late.Time = "late-1", "192.0.2.99", x.now.Add(-time.Second)
	if _, err := x.store.InsertEvents(context.Background(), []event.Event{late}); err != nil {
		t.Fatal(err)
	}
	if r := x.get(x.c, "/ui/overview/live"); !strings.Contains(r.body, "192.0.2.99") || !strings.Contains(r.body, "7 requests in the last hour") {
		t.Errorf("the live fragment does not show the new request:\n%s", r.body)
	}
	if r := x.get(x.client(), "/ui/overview/live"); r.StatusCode != http.StatusUnauthorized {
		t.Errorf("live fragment without a session: %d", r.StatusCode)
	}
}

// findingTxns lists the data-txn of the findings table's rows.
func findingTxns(t *testing.T, d doc) []string {
	t.Helper()
	var ids []string
	for _, tr := range byClass(d.byID(t, "findings"), "tr", "finding") {
		ids = append(ids, attrOf(tr, "data-txn"))
		links := byClass(tr, "a", "finding-event")
		if len(links) != 1 || attrOf(links[0], "href") != "/ui/events/"+attrOf(tr, "data-txn") {
			t.Errorf("row %s: event link %v", attrOf(tr, "data-txn"), links)
		}
	}
	return ids
}

func TestFindingsPage(t *testing.T) {
	x := newInsight(t, nil)
	tests := []struct {
		query string
		want  []string
	}{
		{"", []string{"bot-1", "bola-1", "attack-2", "attack-1"}},
		{"since=24h", []string{"bot-1", "bola-1", "attack-2", "attack-1", "old-1"}},
		{"stage=waf", []string{"attack-2", "attack-1"}},
		{"rule_id=942100&since=7d", []string{"attack-1", "old-1"}},
		{"source=203.0.113.7", []string{"attack-2", "attack-1"}},
		{"identity=mallory", []string{"bola-1"}},
		{"endpoint=%2Fcarts%2F%7Bparameter%7D", []string{"bola-1"}},
		{"decision=challenge", []string{"bot-1"}},
		{"since=2m", []string{"bot-1"}},
		{"since=" + url.QueryEscape(time.Now().Add(-200*time.Second).UTC().Format(time.RFC3339)), []string{"bot-1", "bola-1"}},
		{"stage=waf&source=198.51.100.9", nil},
	}
	for _, tc := range tests {
		t.Run(tc.query, func(t *testing.T) {
			d := x.page(t, "/ui/findings?"+tc.query, http.StatusOK)
			if got := findingTxns(t, d); !slices.Equal(got, tc.want) {
				t.Errorf("rows %v, want %v", got, tc.want)
			}
			chart := d.byID(t, "findings-chart")
			if len(all(chart, func(n *html.Node) bool { return n.Data == "svg" })) != 1 {
				t.Error("#findings-chart holds no svg")
			}
			d.byID(t, "findings-filter")
		})
	}
	// One line per layer and decision.
	d := x.page(t, "/ui/findings", http.StatusOK)
	var series []string
	for _, g := range byClass(d.byID(t, "findings-chart"), "g", "series") {
		series = append(series, attrOf(g, "data-series"))
	}
	if want := []string{"authz · block", "bot · challenge", "waf · block"}; !slices.Equal(series, want) {
		t.Errorf("chart series %v, want %v", series, want)
	}
	// The findings all began in the last minutes: the chart zooms in on
	// them in 10 s buckets, the total still counts the whole window.
	if title := text(all(d.byID(t, "findings-chart"), func(n *html.Node) bool { return n.Data == "title" })[0]); !strings.Contains(title, "per 10 s") {
		t.Errorf("chart title %q, want 10 s buckets", title)
	}
	if c := text(d.byID(t, "findings-count")); c != "4" {
		t.Errorf("#findings-count = %q", c)
	}
	// Filters keep their values; a hostile message is text.
	d = x.page(t, "/ui/findings?stage=waf&decision=block", http.StatusOK)
	if v := attrOf(d.byID(t, "f-stage"), "value"); v != "waf" {
		t.Errorf("stage input = %q", v)
	}
	if r := x.get(x.c, "/ui/findings"); strings.Contains(r.body, "<script>alert(1)") {
		t.Error("a finding's message is not escaped")
	}
	// Paging: older findings behind a cursor.
	evs := make([]event.Event, 0, 60)
	for i := range 60 {
		e := demoEvents(x.now)[2]
		e.TxnID = "page-" + string(rune('a'+i/26)) + string(rune('a'+i%26))
		e.Time = x.now.Add(-time.Duration(10+i) * time.Second)
		evs = append(evs, e)
	}
	if _, err := x.store.InsertEvents(context.Background(), evs); err != nil {
		t.Fatal(err)
	}
	d = x.page(t, "/ui/findings?source=203.0.113.7", http.StatusOK)
	first := findingTxns(t, d)
	next := d.byID(t, "next-page")
	d = x.page(t, attrOf(next, "href"), http.StatusOK)
	second := findingTxns(t, d)
	if len(first) != findingsPerPage || len(second) != 62-findingsPerPage || slices.Contains(second, first[len(first)-1]) {
		t.Errorf("pages of %d and %d findings", len(first), len(second))
	}
}

func TestFindingsBadParams(t *testing.T) {
	x := newInsight(t, nil)
	for _, tc := range []struct{ query, param string }{
		{"decision=maybe", "decision"},
		{"since=forever", "since"},
		{"since=90d", "since"},
		{"since=-1h", "since"},
		{"stage=" + url.QueryEscape("waf\x01"), "stage"},
		{"rule_id=" + strings.Repeat("x", 300), "rule_id"},
		{"cursor=garbage", "cursor"},
	} {
		r := x.get(x.c, "/ui/findings?"+tc.query)
		if r.StatusCode != http.StatusBadRequest || !strings.Contains(r.body, `id="bad-request"`) || !strings.Contains(r.body, "&#34;"+tc.param+"&#34;") {
			t.Errorf("%s: status %d, want 400 naming %q:\n%s", tc.query, r.StatusCode, tc.param, r.body)
		}
	}
}

func TestEventPage(t *testing.T) {
	x := newInsight(t, nil)
	d := x.page(t, "/ui/events/pay-1", http.StatusOK)
	ev := d.byID(t, "event")
	for id, want := range map[string]string{
		"event-method":       "POST",
		"event-path":         "/v1/charges",
		"event-destination":  "payments.demo.local",
		"event-source":       "spiffe://demo.local/order",
		"event-placement":    "sidecar",
		"event-token":        "sha256:9f86d081884c7d65 (not verified by Vigil",
		"event-intercepted":  "yes: the sidecar terminated the caller's TLS",
		"event-tls-upstream": "TLS 1.2 · P-256",
		"event-tls-client":   "TLS 1.3 · X25519",
		"event-parent":       "checkout-1",
	} {
		n := all(ev, func(n *html.Node) bool { return attrOf(n, "id") == id })
		if len(n) != 1 || !strings.Contains(text(n[0]), want) {
			t.Errorf("#%s lacks %q", id, want)
		}
	}
	if w := text(d.byID(t, "event-tls-upstream")); !strings.Contains(w, "weak: TLS 1.2") {
		t.Errorf("the upstream's TLS 1.2 is not marked: %q", w)
	}
	if s := text(d.byID(t, "event-summary")); !strings.Contains(s, "intercepted by the sidecar") || !strings.Contains(s, "upstream answered over TLS 1.2") {
		t.Errorf("summary = %q", s)
	}
	if href := attrOf(d.byID(t, "event-lineage"), "href"); href != "/ui/audit/lineage/pay-1" {
		t.Errorf("lineage link = %q", href)
	}
	if j := text(d.byID(t, "event-json")); !strings.Contains(j, `"txn_id": "pay-1"`) {
		t.Errorf("event-json = %q", j)
	}
	d = x.page(t, "/ui/events/checkout-1", http.StatusOK)
	if got := text(d.byID(t, "event-identity")); !strings.Contains(got, "alice") || !strings.Contains(got, "sha256:1111222233334444 (verified") {
		t.Errorf("identity = %q", got)
	}
	d = x.page(t, "/ui/events/attack-2", http.StatusOK)
	if rows := byClass(d.byID(t, "event-findings"), "tr", "event-finding"); len(rows) != 1 || !strings.Contains(text(rows[0]), "941100") {
		t.Errorf("findings rows %d", len(rows))
	}
	for _, p := range []string{"/ui/events/nope", "/ui/events/" + url.PathEscape("a\"<b>")} {
		if r := x.get(x.c, p); r.StatusCode != http.StatusNotFound || !strings.Contains(r.body, `id="not-found"`) {
			t.Errorf("%s: %d", p, r.StatusCode)
		}
	}
	if r := x.get(x.c, "/ui/events/"+strings.Repeat("x", 300)); r.StatusCode != http.StatusBadRequest {
		t.Errorf("a 300-byte txn id: %d", r.StatusCode)
	}
}

func TestRiskPage(t *testing.T) {
	x := newInsight(t, nil)
	d := x.page(t, "/ui/risk", http.StatusOK)
	g := d.byID(t, "graph")
	if g.Data != "svg" {
		t.Fatalf("#graph is a %s", g.Data)
	}
	edges := map[string]*html.Node{}
	for _, e := range byClass(g, "g", "edge") {
		edges[attrOf(e, "data-source")+" → "+attrOf(e, "data-destination")] = e
	}
	if len(edges) != len(demoEdges) {
		t.Fatalf("%d g.edge, want %d", len(edges), len(demoEdges))
	}
	pay := edges["spiffe://demo.local/order → payments.demo.local"]
	if !hasClass(pay, "edge-weak") || !strings.Contains(text(pay), "TLS 1.2 · P-256 intercepted · 7 req") ||
		!strings.Contains(text(pay), "mTLS no; intercepted yes") {
		t.Errorf("payment edge: %q", text(pay))
	}
	if cart := edges["spiffe://demo.local/order → cart.demo.local"]; hasClass(cart, "edge-weak") || !strings.Contains(text(cart), "mTLS yes") {
		t.Errorf("cart edge: %q", text(cart))
	}
	if rows := byClass(d.byID(t, "edges"), "tr", "edge-row"); len(rows) != 3 {
		t.Errorf("%d edge rows", len(rows))
	}
	risks := byClass(d.byID(t, "risk"), "tr", "risk")
	if len(risks) != 3 {
		t.Fatalf("%d risk rows", len(risks))
	}
	for _, tr := range risks {
		if n, err := strconv.Atoi(attrOf(tr, "data-score")); err != nil || n <= 0 || n > 100 || !strings.Contains(text(tr), " "+attrOf(tr, "data-score")+" ") {
			t.Errorf("%s: score %q", attrOf(tr, "data-workload"), attrOf(tr, "data-score"))
		}
		if len(byClass(tr, "li", "reason")) == 0 {
			t.Errorf("%s: no reasons", attrOf(tr, "data-workload"))
		}
	}
	if r := x.get(x.c, "/ui/connections"); r.StatusCode != http.StatusSeeOther || r.Header.Get("Location") != "/ui/risk" {
		t.Errorf("/ui/connections: %d %s", r.StatusCode, r.Header.Get("Location"))
	}
	y := newInsight(t, func(o *Options) { o.Graph = nil })
	d = y.page(t, "/ui/risk", http.StatusOK)
	d.byID(t, "no-graph")
	d.byID(t, "graph")
}

func TestAuditPage(t *testing.T) {
	x := newInsight(t, nil)
	d := x.page(t, "/ui/audit", http.StatusOK)
	if s := text(d.byID(t, "verify-status")); !strings.HasPrefix(s, "verified") {
		t.Errorf("#verify-status = %q", s)
	}
	if cp := text(d.byID(t, "checkpoint")); !strings.HasPrefix(cp, audit.DefaultOrigin) || !strings.Contains(cp, "— vigil-test") {
		t.Errorf("#checkpoint = %q", cp)
	}
	d.byID(t, "lineage-search")
	form := d.byID(t, "checkpoint-now")
	csrf := ""
	for _, in := range all(form, func(n *html.Node) bool { return attrOf(n, "name") == "csrf" }) {
		csrf = attrOf(in, "value")
	}
	// More entries, then a checkpoint now: the latest covers them.
	more := demoEvents(x.now)[:2]
	more[0].TxnID, more[1].TxnID = "later-1", "later-2"
	if _, err := x.log.AppendEvents(context.Background(), more); err != nil {
		t.Fatal(err)
	}
	before, _ := x.log.Latest(context.Background())
	if r := x.do(x.c, "POST", "/ui/audit/checkpoint", url.Values{}, nil); r.StatusCode != http.StatusForbidden || !strings.Contains(r.body, `id="csrf-error"`) {
		t.Errorf("POST without csrf: %d", r.StatusCode)
	}
	r := x.do(x.c, "POST", "/ui/audit/checkpoint", url.Values{"csrf": {csrf}}, nil)
	if r.StatusCode != http.StatusSeeOther {
		t.Fatalf("POST checkpoint: %d\n%s", r.StatusCode, r.body)
	}
	after, _ := x.log.Latest(context.Background())
	if after.Size != before.Size+2 {
		t.Errorf("checkpoint size %d after %d", after.Size, before.Size)
	}
	d = x.page(t, r.Header.Get("Location"), http.StatusOK)
	d.byID(t, "checkpoint-written")
	if !strings.HasPrefix(text(d.byID(t, "verify-status")), "verified") {
		t.Error("the new checkpoint does not verify")
	}
	// A read-only session sees no form and cannot post.
	ro := x.client()
	roCSRF := x.signIn(ro, readToken)
	if rd := x.get(ro, "/ui/audit"); strings.Contains(rd.body, `id="checkpoint-now"`) {
		t.Error("read-only session is offered the checkpoint form")
	}
	if r := x.do(ro, "POST", "/ui/audit/checkpoint", url.Values{"csrf": {roCSRF}}, nil); r.StatusCode != http.StatusForbidden || !strings.Contains(r.body, `id="forbidden"`) {
		t.Errorf("read-only POST: %d", r.StatusCode)
	}
	// A checkpoint signed by another key fails.
	other, _, _ := audit.GenerateKey("intruder")
	forged, err := audit.New(x.store, other, "")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := forged.AppendEvents(context.Background(), []event.Event{{TxnID: "forged-1", Time: x.now, Decision: "allow"}}); err != nil {
		t.Fatal(err)
	}
	if _, err := forged.Checkpoint(context.Background()); err != nil {
		t.Fatal(err)
	}
	d = x.page(t, "/ui/audit", http.StatusOK)
	if s := text(d.byID(t, "verify-status")); !strings.HasPrefix(s, "FAILED") {
		t.Errorf("a checkpoint by another key: %q", s)
	}
}

func TestLineagePage(t *testing.T) {
	x := newInsight(t, nil)
	d := x.page(t, "/ui/audit/lineage/checkout-1", http.StatusOK)
	hops := byClass(d.byID(t, "lineage"), "li", "hop")
	if len(hops) != 2 {
		t.Fatalf("%d hops, want the checkout and its payment call", len(hops))
	}
	want := []struct{ placement, endpoint, identity string }{
		{"gateway", "POST shop.demo.local/orders", "alice (token sha256:1111222233334444)"},
		{"sidecar", "POST payments.demo.local/v1/charges", ""},
	}
	for i, h := range hops {
		get := func(c string) string {
			ns := byClass(h, "", c)
			if len(ns) != 1 {
				t.Fatalf("hop %d: %d .%s", i, len(ns), c)
			}
			return text(ns[0])
		}
		if !strings.HasPrefix(get("hop-placement"), want[i].placement) || !strings.HasPrefix(get("hop-endpoint"), want[i].endpoint) {
			t.Errorf("hop %d: %s / %s", i, get("hop-placement"), get("hop-endpoint"))
		}
		if want[i].identity != "" && get("hop-identity") != want[i].identity {
			t.Errorf("hop %d identity = %q", i, get("hop-identity"))
		}
		if !strings.HasPrefix(get("hop-verified"), "verified") || get("hop-decision") != "allow" || !strings.Contains(get("hop-signer"), x.log.Key().ID) {
			t.Errorf("hop %d: verified %q, decision %q, signer %q", i, get("hop-verified"), get("hop-decision"), get("hop-signer"))
		}
	}
	if cur := byClass(d.byID(t, "lineage"), "li", "hop-current"); len(cur) != 1 || attrOf(cur[0], "data-txn") != "checkout-1" {
		t.Errorf("the asked-for transaction is not marked: %d", len(cur))
	}
	if r := x.get(x.c, "/ui/audit/lineage/unknown"); r.StatusCode != http.StatusNotFound || !strings.Contains(r.body, `id="not-found"`) {
		t.Errorf("unknown txn: %d", r.StatusCode)
	}
	r := x.get(x.c, "/ui/audit/lineage?txn_id="+url.QueryEscape("pay 1/x"))
	if r.StatusCode != http.StatusSeeOther || r.Header.Get("Location") != "/ui/audit/lineage/pay%201%2Fx" {
		t.Errorf("search: %d %q", r.StatusCode, r.Header.Get("Location"))
	}
	if r := x.get(x.c, "/ui/audit/lineage?txn_id="); r.StatusCode != http.StatusBadRequest {
		t.Errorf("empty search: %d", r.StatusCode)
	}
	y := newInsight(t, func(o *Options) { o.Audit = nil })
	y.page(t, "/ui/audit", http.StatusOK).byID(t, "no-audit")
	if r := y.get(y.c, "/ui/audit/lineage/checkout-1"); r.StatusCode != http.StatusNotFound {
		t.Errorf("lineage without an audit log: %d", r.StatusCode)
	}
}

// TestInsightPagesReadOnly: a read-only session reads every page.
func TestInsightPagesReadOnly(t *testing.T) {
	x := newInsight(t, nil)
	ro := x.client()
	x.signIn(ro, readToken)
	for _, p := range []string{"/ui/", "/ui/overview/live", "/ui/findings", "/ui/events/pay-1", "/ui/risk", "/ui/audit", "/ui/audit/lineage/checkout-1"} {
		if r := x.get(ro, p); r.StatusCode != http.StatusOK || (p != "/ui/overview/live" && !strings.Contains(r.body, `<span id="role" class="role role-read-only">read-only</span>`)) {
			t.Errorf("read-only GET %s: %d", p, r.StatusCode)
		}
	}
}
