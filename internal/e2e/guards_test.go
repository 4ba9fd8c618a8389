package e2e

import (
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/vigil-sec/vigil/internal/event"
	"github.com/vigil-sec/vigil/internal/server"
)

// TestGuardsSSRF: URLs to internal destinations in a query parameter or a
// JSON body field are refused (enforce) or recorded (monitor), through a
// real listener; benign callbacks pass.
func TestGuardsSSRF(t *testing.T) {
	up := newOWASPUpstream(t, nil)
	enforce := startGateway(t, baseConfig(up.URL, "protect:\n  ssrf: {enabled: true}\n"), server.Options{})
	meta := "/fetch?callback=" + url.QueryEscape("http://169.254.169.254/latest/meta-data/")

	t.Run("enforce query", func(t *testing.T) {
		before := up.count("/fetch")
		r := enforce.send(enforce.URL, owaspReq{method: "GET", target: meta})
		f := wantBlocked(t, r, http.StatusForbidden, "ssrf", "ssrf:metadata")
		if f.Kind != "ssrf" || f.Stage != "ssrf" || !strings.Contains(f.Message, "callback") || !strings.Contains(f.Message, "169.254.169.254") ||
			!strings.HasSuffix(f.Variable, "callback") || f.Data != "169.254.169.254" {
			t.Errorf("finding %+v", f)
		}
		if up.count("/fetch") != before {
			t.Error("the upstream was called")
		}
	})
	t.Run("enforce JSON body", func(t *testing.T) {
		r := enforce.send(enforce.URL, owaspReq{method: "POST", target: "/hooks", body: `{"name":"ci","webhook":{"url":"http://[::ffff:127.0.0.1]/"}}`})
		f := wantBlocked(t, r, http.StatusForbidden, "ssrf", "ssrf:loopback")
		if !strings.Contains(f.Message, "webhook.url") {
			t.Errorf("message %q does not name webhook.url", f.Message)
		}
	})
	t.Run("evasions", func(t *testing.T) {
		for _, target := range []string{"http://2130706433/", "http://0x7f.1/", "http://0177.0.0.1/", "http://good.com@127.0.0.1/",
			`http://good.com\@10.0.0.1/`, "http://127.0.0.1.nip.io/", "gopher://127.0.0.1:6379/_INFO", "file:///etc/passwd",
			"http://metadata.google.internal/computeMetadata/v1/", "http://[fd00:ec2::254]/", "http://100.100.100.200/"} {
			r := enforce.send(enforce.URL, owaspReq{method: "GET", target: "/fetch?u=" + url.QueryEscape(target)})
			if r.status != http.StatusForbidden {
				t.Errorf("%s: status %d, want 403", target, r.status)
			}
		}
	})
	t.Run("benign", func(t *testing.T) {
		for _, rq := range []owaspReq{
			{method: "GET", target: "/fetch?callback=" + url.QueryEscape("https://example.com/cb") + "&q=red+socks&page=2"},
			{method: "POST", target: "/hooks", body: `{"name":"ci","webhook":{"url":"https://hooks.example.com/x"},"note":"call http://127.0.0.1 locally"}`},
		} {
			r := enforce.send(enforce.URL, rq)
			if r.status != http.StatusOK || r.ev.Decision != event.DecisionAllow {
				t.Errorf("%s %s: status %d decision %s findings %+v", rq.method, rq.target, r.status, r.ev.Decision, r.ev.Findings)
			}
			if _, ok := findingOf(r.ev, "ssrf", ""); ok {
				t.Errorf("%s: ssrf finding on a benign request: %+v", rq.target, r.ev.Findings)
			}
		}
		if !strings.Contains(up.last().Body, "hooks.example.com") {
			t.Errorf("the upstream did not get the body: %q", up.last().Body)
		}
	})
	t.Run("monitor", func(t *testing.T) {
		for name, protect := range map[string]string{
			"guard mode": "protect:\n  ssrf: {enabled: true, mode: monitor}\n",
			"stage mode": "protect:\n  stages: {ssrf: {mode: monitor}}\n  ssrf: {enabled: true}\n",
		} {
			h := startGateway(t, baseConfig(up.URL, protect), server.Options{})
			before := up.count("/fetch")
			r := h.send(h.URL, owaspReq{method: "GET", target: meta})
			if r.status != http.StatusOK || r.ev.Decision != event.DecisionAllow {
				t.Fatalf("%s: status %d decision %s", name, r.status, r.ev.Decision)
			}
			f, ok := findingOf(r.ev, "ssrf", "ssrf")
			if !ok || !f.WouldBlock || f.RuleID != "ssrf:metadata" || f.Action != "block" {
				t.Errorf("%s: findings %+v", name, r.ev.Findings)
			}
			if up.count("/fetch") != before+1 {
				t.Errorf("%s: the upstream did not get the request", name)
			}
		}
	})
}

// TestGuardsGraphQL: deep, aliased, costly, batched and introspection
// queries are refused before the GraphQL server sees them.
func TestGuardsGraphQL(t *testing.T) {
	up := newOWASPUpstream(t, nil)
	h := startGateway(t, baseConfig(up.URL, `protect:
  graphql: {enabled: true, max_depth: 5, max_aliases: 5, max_cost: 1000, max_batch: 3, introspection: block}
`), server.Options{})
	q := func(query string) string {
		b, _ := json.Marshal(map[string]string{"query": query})
		return string(b)
	}
	deep := `{ shop { products { reviews { author { orders { items { product { name } } } } } } } }`
	cases := []struct {
		name   string
		rq     owaspReq
		status int
		kind   string
	}{
		{"benign", owaspReq{method: "POST", target: "/graphql", body: q(`{ products(first: 20) { id name price } }`)}, 200, ""},
		{"deep", owaspReq{method: "POST", target: "/graphql", body: q(deep)}, 400, "graphql_depth"},
		{"deep GET", owaspReq{method: "GET", target: "/graphql?query=" + url.QueryEscape(deep)}, 400, "graphql_depth"},
		{"deep fragment", owaspReq{method: "POST", target: "/graphql", body: q(`{ shop { ...P } } fragment P on Shop { products { reviews { author { orders { id } } } } }`)}, 400, "graphql_depth"},
		{"aliases", owaspReq{method: "POST", target: "/graphql", body: q(`{ a: me { id } b: me { id } c: me { id } d: me { id } e: me { id } f: me { id } }`)}, 400, "graphql_aliases"},
		{"page size in args", owaspReq{method: "POST", target: "/graphql", body: q(`{ products(first: 10000) { id } }`)}, 400, "graphql_cost"},
		{"batch", owaspReq{method: "POST", target: "/graphql", body: "[" + strings.Repeat(q(`{ me { id } }`)+",", 3) + q(`{ me { id } }`) + "]"}, 400, "graphql_batch"},
		{"introspection", owaspReq{method: "POST", target: "/graphql", body: q(`query IntrospectionQuery { __schema { queryType { name } types { name } } }`)}, 403, "graphql_introspection"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			before := up.count("/graphql")
			r := h.send(h.URL, tc.rq)
			if tc.kind == "" {
				if r.status != 200 || up.count("/graphql") != before+1 {
					t.Fatalf("status %d findings %+v", r.status, r.ev.Findings)
				}
				return
			}
			f := wantBlocked(t, r, tc.status, "graphql", tc.kind)
			if f.Kind != tc.kind {
				t.Errorf("kind %q, want %q", f.Kind, tc.kind)
			}
			if up.count("/graphql") != before {
				t.Error("the GraphQL server was called")
			}
			var body struct {
				Errors []struct {
					Message string `json:"message"`
				} `json:"errors"`
			}
			if err := json.Unmarshal([]byte(r.body), &body); err != nil || len(body.Errors) != 1 || body.Errors[0].Message == "" {
				t.Errorf("body %q is not a GraphQL error document", r.body)
			}
			var e errorBody
			if err := json.Unmarshal([]byte(r.body), &e); err != nil || e.Error.TxnID != r.header.Get("Vigil-Txn") || e.Error.Code != tc.kind {
				t.Errorf("body %q lacks Vigil's error with the txn id", r.body)
			}
		})
	}
	t.Run("monitor", func(t *testing.T) {
		m := startGateway(t, baseConfig(up.URL, "protect:\n  graphql: {enabled: true, mode: monitor}\n"), server.Options{})
		r := m.send(m.URL, owaspReq{method: "POST", target: "/graphql", body: q(`{ __schema { types { name } } }`)})
		f, ok := findingOf(r.ev, "graphql", "graphql_introspection")
		if r.status != 200 || !ok || !f.WouldBlock {
			t.Fatalf("status %d findings %+v", r.status, r.ev.Findings)
		}
	})
}

// TestGuardsPageSize: an oversized page size is refused, or clamped so
// the upstream sees the maximum.
func TestGuardsPageSize(t *testing.T) {
	up := newOWASPUpstream(t, nil)
	t.Run("block", func(t *testing.T) {
		h := startGateway(t, baseConfig(up.URL, "protect:\n  limits: {page_size: {max: 100}}\n"), server.Options{})
		r := h.send(h.URL, owaspReq{method: "GET", target: "/products?limit=100000"})
		f := wantBlocked(t, r, http.StatusBadRequest, "limits", "page_size:limit")
		if f.Kind != "page_size" {
			t.Errorf("finding %+v", f)
		}
		if r := h.send(h.URL, owaspReq{method: "GET", target: "/products?limit=100"}); r.status != 200 {
			t.Errorf("limit=100: status %d", r.status)
		}
	})
	t.Run("clamp", func(t *testing.T) {
		h := startGateway(t, baseConfig(up.URL, "protect:\n  limits: {page_size: {max: 100, action: clamp}}\n"), server.Options{})
		r := h.send(h.URL, owaspReq{method: "GET", target: "/products?category=socks&limit=100000"})
		if r.status != 200 || r.ev.Decision != event.DecisionAllow {
			t.Fatalf("status %d decision %s", r.status, r.ev.Decision)
		}
		if got := up.last().RawQuery; got != "category=socks&limit=100" {
			t.Errorf("upstream saw %q, want category=socks&limit=100", got)
		}
		f, ok := findingOf(r.ev, "limits", "page_size")
		if !ok || f.Action != "clamp" || f.Data != "100000" || f.WouldBlock {
			t.Errorf("findings %+v", r.ev.Findings)
		}
	})
	t.Run("monitor", func(t *testing.T) {
		h := startGateway(t, baseConfig(up.URL, "protect:\n  limits: {mode: monitor, page_size: {max: 100}}\n"), server.Options{})
		r := h.send(h.URL, owaspReq{method: "GET", target: "/products?per_page=5000"})
		f, ok := findingOf(r.ev, "limits", "page_size")
		if r.status != 200 || !ok || !f.WouldBlock || up.last().RawQuery != "per_page=5000" {
			t.Errorf("status %d findings %+v upstream %q", r.status, r.ev.Findings, up.last().RawQuery)
		}
	})
}
