package ratelimit

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/vigil-sec/vigil/internal/config"
	"github.com/vigil-sec/vigil/internal/event"
	"github.com/vigil-sec/vigil/internal/pipeline"
)

// harness is a stage on a clock the test moves.
type harness struct {
	t   *testing.T
	s   *Stage
	now time.Time
}

func newHarness(t *testing.T, cfgs ...config.RateLimit) *harness {
	t.Helper()
	st, err := New(cfgs)
	if err != nil {
		t.Fatal(err)
	}
	h := &harness{t: t, s: st.(*Stage), now: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}
	h.s.now = func() time.Time { return h.now }
	t.Cleanup(func() { h.s.Close() })
	return h
}

type req struct {
	method, target, ip string
	header             map[string]string
	id                 *event.Identity
}

func (h *harness) do(r req) (pipeline.Verdict, *pipeline.Txn) {
	h.t.Helper()
	if r.method == "" {
		r.method = "GET"
	}
	if r.ip == "" {
		r.ip = "192.0.2.1"
	}
	hr := httptest.NewRequest(r.method, r.target, nil)
	for k, v := range r.header {
		hr.Header.Set(k, v)
	}
	tx := pipeline.NewTxn(hr, h.now, "")
	tx.ClientIPText = r.ip
	tx.Identity = r.id
	v, err := h.s.Request(context.Background(), tx)
	if err != nil {
		h.t.Fatal(err)
	}
	return v, tx
}

func (h *harness) allowed(r req) bool {
	h.t.Helper()
	v, _ := h.do(r)
	return v.Action == pipeline.Allow
}

// The older keys (path_prefix, method, requests, per, burst) keep working.
func TestLegacyForm(t *testing.T) {
	h := newHarness(t,
		config.RateLimit{Name: "login", PathPrefix: "/login", Method: "POST", Key: "ip", Requests: 3, Per: time.Minute},
		config.RateLimit{Name: "api-key", PathPrefix: "/api", Key: "header:X-Api-Key", Requests: 2, Per: time.Second, Burst: 1},
	)
	login := req{method: "POST", target: "/login", ip: "1.1.1.1"}
	for i := range 3 {
		if !h.allowed(login) {
			t.Fatalf("login %d blocked", i)
		}
	}
	v, _ := h.do(login)
	if v.Action != pipeline.Block || v.HTTPStatus() != 429 || v.RuleID != "login" || v.Kind != "rate_limited" || v.RetryAfter != 20*time.Second {
		t.Fatalf("4th login: %+v", v)
	}
	if !h.allowed(req{method: "POST", target: "/login", ip: "2.2.2.2"}) {
		t.Fatal("another address shares the bucket")
	}
	if !h.allowed(req{method: "GET", target: "/login", ip: "1.1.1.1"}) {
		t.Fatal("GET counted by a POST-only limit")
	}
	h.now = h.now.Add(20 * time.Second)
	if !h.allowed(login) {
		t.Fatal("token not refilled after 20s")
	}
	// Per header value, with burst on top of requests: 3 in a row.
	k1 := req{target: "/api/x", header: map[string]string{"X-Api-Key": "k1"}}
	for i := range 3 {
		if !h.allowed(k1) {
			t.Fatalf("api call %d blocked", i)
		}
	}
	if h.allowed(k1) {
		t.Fatal("api key k1 not limited")
	}
	if !h.allowed(req{target: "/api/x", header: map[string]string{"X-Api-Key": "k2"}}) {
		t.Fatal("api key k2 limited by k1's bucket")
	}
}

// TestLoginExample is the configuration: 5/m per address on
// POST /login, with the RateLimit fields and Retry-After on the 6th.
func TestLoginExample(t *testing.T) {
	h := newHarness(t, config.RateLimit{Name: "login", Match: config.RateLimitMatch{Endpoint: "POST /login"}, Key: "ip", Rate: "5/m", Burst: 5})
	login := req{method: "POST", target: "/login", ip: "203.0.113.9"}
	for i := range 5 {
		if !h.allowed(login) {
			t.Fatalf("login %d blocked", i+1)
		}
	}
	h.now = h.now.Add(500 * time.Millisecond)
	v, _ := h.do(login)
	if v.HTTPStatus() != 429 || v.RuleID != "login" || v.Kind != "rate_limited" || v.RetryAfter != 12*time.Second {
		t.Fatalf("6th login: %+v", v)
	}
	if got := v.Header["Ratelimit-Policy"]; len(got) != 1 || got[0] != `"login";q=5;w=60` {
		t.Fatalf("RateLimit-Policy %q", got)
	}
	if got := v.Header["Ratelimit"]; len(got) != 1 || got[0] != `"login";r=0;t=12` {
		t.Fatalf("RateLimit %q", got)
	}
	if !h.allowed(req{method: "GET", target: "/login", ip: "203.0.113.9"}) {
		t.Fatal("GET /login counted by POST /login")
	}
	if !h.allowed(req{method: "POST", target: "/login", ip: "203.0.113.10"}) {
		t.Fatal("another address limited")
	}
}

func TestMatch(t *testing.T) {
	cases := []struct {
		name  string
		match config.RateLimitMatch
		req   req
		want  bool
	}{
		{"endpoint", config.RateLimitMatch{Endpoint: "POST /login"}, req{method: "POST", target: "/login"}, true},
		{"endpoint other method", config.RateLimitMatch{Endpoint: "POST /login"}, req{method: "GET", target: "/login"}, false},
		{"endpoint sub-path", config.RateLimitMatch{Endpoint: "POST /login"}, req{method: "POST", target: "/login/x"}, false},
		{"endpoint parameter", config.RateLimitMatch{Endpoint: "POST /cart/item/add/{parameter}"}, req{method: "POST", target: "/cart/item/add/42"}, true},
		{"endpoint parameter missing", config.RateLimitMatch{Endpoint: "POST /cart/item/add/{parameter}"}, req{method: "POST", target: "/cart/item/add"}, false},
		{"endpoint wildcard", config.RateLimitMatch{Endpoint: "/admin/*"}, req{method: "DELETE", target: "/admin/users/1"}, true},
		{"endpoint wildcard sibling", config.RateLimitMatch{Endpoint: "/admin/*"}, req{target: "/administrator"}, false},
		{"prefix", config.RateLimitMatch{PathPrefix: "/api/"}, req{target: "/api/v1/x"}, true},
		{"prefix miss", config.RateLimitMatch{PathPrefix: "/api/"}, req{target: "/app"}, false},
		{"methods", config.RateLimitMatch{Methods: []string{"POST", "put"}}, req{method: "PUT", target: "/x"}, true},
		{"methods miss", config.RateLimitMatch{Methods: []string{"POST"}}, req{method: "GET", target: "/x"}, false},
		{"host", config.RateLimitMatch{Host: "shop.example"}, req{target: "http://shop.example:8080/x"}, true},
		{"host miss", config.RateLimitMatch{Host: "shop.example"}, req{target: "http://api.example/x"}, false},
		{"host wildcard", config.RateLimitMatch{Host: "*.example"}, req{target: "http://api.example/x"}, true},
		{"host wildcard apex", config.RateLimitMatch{Host: "*.example"}, req{target: "http://example/x"}, false},
		{"all of them", config.RateLimitMatch{Endpoint: "POST /checkout", Host: "shop.example", Methods: []string{"POST"}, PathPrefix: "/check"},
			req{method: "POST", target: "http://shop.example/checkout"}, true},
		{"everything", config.RateLimitMatch{}, req{target: "/anything"}, true},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			h := newHarness(t, config.RateLimit{Name: "m", Match: c.match, Rate: "1/h"})
			h.do(c.req)
			if got := !h.allowed(c.req); got != c.want {
				t.Fatalf("second request limited = %v, want %v", got, c.want)
			}
		})
	}
}

// TestKeys: which requests share a bucket, per key.
func TestKeys(t *testing.T) {
	bearer := func(tok string) map[string]string { return map[string]string{"Authorization": "Bearer " + tok} }
	cases := []struct {
		name    string
		key     string
		missing string
		first   req
		same    []req // share first's bucket
		other   []req // do not
		skipped []req // not counted at all
	}{
		{name: "ip", key: "ip", first: req{ip: "10.0.0.1"},
			same: []req{{ip: "10.0.0.1", header: map[string]string{"X-Api-Key": "a"}}}, other: []req{{ip: "10.0.0.2"}}},
		{name: "header", key: "header:x-api-key", first: req{header: map[string]string{"X-Api-Key": "a"}},
			same:    []req{{ip: "10.9.9.9", header: map[string]string{"X-Api-Key": "a"}}},
			other:   []req{{header: map[string]string{"X-Api-Key": "b"}}},
			skipped: []req{{}, {header: map[string]string{"X-Api-Key": ""}}}},
		{name: "header missing shared", key: "header:X-Api-Key", missing: "shared", first: req{ip: "10.0.0.1"},
			same: []req{{ip: "10.0.0.2"}}, other: []req{{header: map[string]string{"X-Api-Key": "a"}}}},
		{name: "header missing ip", key: "header:X-Api-Key", missing: "ip", first: req{ip: "10.0.0.1"},
			same:  []req{{ip: "10.0.0.1"}},
			other: []req{{ip: "10.0.0.2"}, {ip: "10.0.0.1", header: map[string]string{"X-Api-Key": "10.0.0.1"}}}},
		{name: "sub from identity", key: "sub", first: req{id: &event.Identity{Sub: "alice"}},
			same:    []req{{ip: "10.1.1.1", id: &event.Identity{Sub: "alice"}}},
			other:   []req{{id: &event.Identity{Sub: "bob"}}, {header: bearer("alice")}},
			skipped: []req{{}, {header: map[string]string{"Authorization": "Basic YTpi"}}}},
		{name: "sub from bearer token", key: "sub", first: req{header: bearer("tok-1")},
			same:  []req{{ip: "10.1.1.1", header: bearer("tok-1")}, {header: map[string]string{"Authorization": "bearer   tok-1"}}},
			other: []req{{header: bearer("tok-2")}, {id: &event.Identity{Sub: "tok-1"}}}},
		{name: "client_id", key: "client_id", first: req{id: &event.Identity{ClientID: "app-1"}},
			same: []req{{id: &event.Identity{ClientID: "app-1", Sub: "x"}}}, other: []req{{id: &event.Identity{ClientID: "app-2"}}},
			skipped: []req{{header: bearer("t")}}},
		{name: "endpoint without template", key: "endpoint", first: req{target: "/a"},
			same: []req{{ip: "10.2.2.2", target: "/a"}}, other: []req{{target: "/b"}, {method: "POST", target: "/a"}}},
		{name: "ip+header", key: "ip+header:X-Device", first: req{ip: "10.0.0.1", header: map[string]string{"X-Device": "d1"}},
			same:    []req{{ip: "10.0.0.1", header: map[string]string{"X-Device": "d1"}}},
			other:   []req{{ip: "10.0.0.2", header: map[string]string{"X-Device": "d1"}}, {ip: "10.0.0.1", header: map[string]string{"X-Device": "d2"}}},
			skipped: []req{{ip: "10.0.0.1"}}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			for _, r := range c.same {
				h := newHarness(t, config.RateLimit{Name: "k", Key: c.key, Missing: c.missing, Rate: "1/h"})
				h.do(fill(c.first))
				if h.allowed(fill(r)) {
					t.Errorf("%+v does not share the bucket of %+v", r, c.first)
				}
			}
			for _, r := range c.other {
				h := newHarness(t, config.RateLimit{Name: "k", Key: c.key, Missing: c.missing, Rate: "1/h"})
				h.do(fill(c.first))
				if !h.allowed(fill(r)) {
					t.Errorf("%+v shares the bucket of %+v", r, c.first)
				}
			}
			for _, r := range c.skipped {
				h := newHarness(t, config.RateLimit{Name: "k", Key: c.key, Missing: c.missing, Rate: "1/h"})
				for range 3 {
					if !h.allowed(fill(r)) {
						t.Errorf("%+v has no key value and was counted", r)
					}
				}
			}
		})
	}
}

func fill(r req) req {
	if r.target == "" {
		r.target = "/x"
	}
	return r
}

// One bucket for the endpoint overall: every caller of the template.
func TestEndpointKeyIsOneBucket(t *testing.T) {
	h := newHarness(t, config.RateLimit{Name: "add", Match: config.RateLimitMatch{Endpoint: "POST /cart/item/add/{parameter}"},
		Key: "endpoint", Rate: "2/m"})
	if !h.allowed(req{method: "POST", target: "/cart/item/add/1", ip: "10.0.0.1"}) ||
		!h.allowed(req{method: "POST", target: "/cart/item/add/2", ip: "10.0.0.2"}) {
		t.Fatal("first two calls blocked")
	}
	if h.allowed(req{method: "POST", target: "/cart/item/add/3", ip: "10.0.0.3"}) {
		t.Fatal("a third caller of the endpoint got through a 2/m endpoint-wide limit")
	}
}

func TestLimitsInOrder(t *testing.T) {
	h := newHarness(t,
		config.RateLimit{Name: "per-ip", Rate: "100/s"},
		config.RateLimit{Name: "reset", Match: config.RateLimitMatch{Endpoint: "POST /password/reset"}, Key: "ip", Rate: "3/h"},
	)
	reset := req{method: "POST", target: "/password/reset"}
	for range 3 {
		h.do(reset)
	}
	v, _ := h.do(reset)
	if v.RuleID != "reset" || v.RetryAfter != 20*time.Minute || v.Header["Ratelimit"][0] != `"reset";r=0;t=1200` ||
		v.Header["Ratelimit-Policy"][0] != `"reset";q=3;w=3600` {
		t.Fatalf("4th reset: %+v", v)
	}
}

func TestPolicyHeader(t *testing.T) {
	cases := []struct {
		cfg  config.RateLimit
		want string
	}{
		{config.RateLimit{Name: "a", Rate: "100/10s"}, `"a";q=100;w=10`},
		{config.RateLimit{Name: "b", Rate: "1/500ms"}, `"b";q=2;w=1`},
		{config.RateLimit{Name: "c", Requests: 5, Per: time.Minute, Burst: 5}, `"c";q=5;w=60`},
		{config.RateLimit{Name: `we"ird\ né`, Rate: "1/s"}, `"we\"ird\\ n__";q=1;w=1`},
		{config.RateLimit{Rate: "1/s"}, `"rate_limits[0]";q=1;w=1`},
	}
	for _, c := range cases {
		h := newHarness(t, c.cfg)
		var v pipeline.Verdict
		for range 200 {
			if v, _ = h.do(req{target: "/"}); v.Action != pipeline.Allow {
				break
			}
		}
		if got := v.Header["Ratelimit-Policy"]; len(got) != 1 || got[0] != c.want {
			t.Errorf("%+v: RateLimit-Policy %q, want %q", c.cfg, got, c.want)
		}
	}
}

func TestBearerToken(t *testing.T) {
	cases := []struct {
		in   string
		tok  string
		want bool
	}{
		{"Bearer abc.def-ghi_~+/=", "abc.def-ghi_~+/=", true},
		{"bearer  x", "x", true},
		{"Bearer ", "", false},
		{"Basic YTpi", "", false},
		{"Bearer a b", "", false},
		{"Bearerabc", "", false},
		{"", "", false},
	}
	for _, c := range cases {
		tok, ok := BearerToken([]string{c.in})
		if tok != c.tok || ok != c.want {
			t.Errorf("BearerToken(%q) = %q, %v", c.in, tok, ok)
		}
	}
}

func FuzzBearerToken(f *testing.F) {
	for _, s := range []string{"Bearer abc", "bearer   x.y.z", "Basic Zm9v", "Bearer \x00", "BEARER a=b"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		tok, ok := BearerToken([]string{s})
		if !ok {
			return
		}
		if tok == "" || strings.ContainsAny(tok, " \t\r\n") || !strings.HasSuffix(s, tok) {
			t.Fatalf("BearerToken(%q) = %q", s, tok)
		}
	})
}

// FuzzKey: whatever the headers, the key of a request is deterministic and
// the stage neither fails nor panics.
func FuzzKey(f *testing.F) {
	f.Add("Bearer t", "dev-1", "alice")
	f.Add("", "", "")
	f.Add("Bearer \xff", "\x1f", "\x00bearer\x00t")
	st, _ := New([]config.RateLimit{{Name: "f", Key: "sub+header:X-Device", Missing: "shared", Rate: "1000000/s"}})
	l := st.(*Stage).limits[0]
	f.Fuzz(func(t *testing.T, auth, device, sub string) {
		r := httptest.NewRequest("GET", "/", nil)
		r.Header["Authorization"] = []string{auth}
		r.Header["X-Device"] = []string{device}
		tx := pipeline.NewTxn(r, time.Now(), "")
		if sub != "" {
			tx.Identity = &event.Identity{Sub: sub}
		}
		k1, ok1 := l.key(tx)
		k2, ok2 := l.key(tx)
		if k1 != k2 || ok1 != ok2 {
			t.Fatalf("key not deterministic: %q %q", k1, k2)
		}
		if ok1 && auth != "" && sub == "" && strings.Contains(k1, auth) && !strings.HasPrefix(k1, "\x00bearer\x00") {
			t.Fatalf("token in key %q outside its namespace", k1)
		}
		if _, err := st.Request(context.Background(), tx); err != nil {
			t.Fatal(err)
		}
		tx.Release()
	})
}

func TestMonitorStillCounts(t *testing.T) {
	// Monitor mode is the chain's: the stage says "block", the chain
	// records would_block and lets the request go on.
	h := newHarness(t, config.RateLimit{Name: "login", Rate: "1/m"})
	chain := pipeline.NewChain([]pipeline.Link{{Stage: h.s, Monitor: true}}, nil)
	for i := range 2 {
		tx := pipeline.NewTxn(httptest.NewRequest("POST", "/login", nil), h.now, "")
		tx.ClientIPText = "192.0.2.7"
		if v := chain.Run(context.Background(), tx); v.Action != pipeline.Allow {
			t.Fatalf("monitor blocked request %d", i+1)
		}
		if i == 1 {
			if len(tx.Findings) != 1 {
				t.Fatalf("findings %+v", tx.Findings)
			}
			f := tx.Findings[0]
			if !f.WouldBlock || f.Layer != "ratelimit" || f.RuleID != "login" || f.Kind != "rate_limited" || f.Action != "block" {
				t.Fatalf("finding %+v", f)
			}
		}
	}
}

func BenchmarkRequestLocal(b *testing.B) {
	cases := []struct {
		name string
		cfg  config.RateLimit
		hdr  http.Header
	}{
		{"ip", config.RateLimit{Name: "all", Key: "ip", Rate: "1000000000/s"}, nil},
		{"endpoint template", config.RateLimit{Name: "login", Match: config.RateLimitMatch{Endpoint: "POST /cart/item/add/{parameter}"}, Key: "ip", Rate: "1000000000/s"}, nil},
		{"header", config.RateLimit{Name: "key", Key: "header:X-Api-Key", Rate: "1000000000/s"}, http.Header{"X-Api-Key": {"k-123"}}},
		{"ip+header", config.RateLimit{Name: "dev", Key: "ip+header:X-Device", Rate: "1000000000/s"}, http.Header{"X-Device": {"d-1"}}},
	}
	for _, c := range cases {
		b.Run(c.name, func(b *testing.B) {
			st, _ := New([]config.RateLimit{c.cfg})
			r := httptest.NewRequest("POST", "/cart/item/add/42", nil)
			for k, v := range c.hdr {
				r.Header[k] = v
			}
			tx := pipeline.NewTxn(r, time.Now(), "")
			tx.ClientIPText = "192.0.2.1"
			ctx := context.Background()
			b.ReportAllocs()
			for b.Loop() {
				if v, _ := st.Request(ctx, tx); v.Action != pipeline.Allow {
					b.Fatal("blocked")
				}
			}
		})
	}
}
