package e2e

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/vigil-sec/vigil/internal/pipeline"
	"github.com/vigil-sec/vigil/internal/server"
	"github.com/vigil-sec/vigil/internal/stage"
)

// echo is an upstream that reports its name and what it received.
func echo(t *testing.T, name string) *httptest.Server {
	s := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(map[string]any{
			"upstream": name, "path": r.URL.Path, "host": r.Host, "headers": r.Header, "body": len(body),
		})
	}))
	t.Cleanup(s.Close)
	return s
}

type echoReply struct {
	Upstream string      `json:"upstream"`
	Path     string      `json:"path"`
	Host     string      `json:"host"`
	Headers  http.Header `json:"headers"`
	Body     int         `json:"body"`
}

func get(t *testing.T, url, host string, hdr map[string]string) (*http.Response, echoReply) {
	t.Helper()
	req, _ := http.NewRequest("GET", url, nil)
	if host != "" {
		req.Host = host
	}
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var e echoReply
	b, _ := io.ReadAll(resp.Body)
	_ = json.Unmarshal(b, &e)
	return resp, e
}

func TestRouting(t *testing.T) {
	a, b, c, d := echo(t, "a"), echo(t, "b"), echo(t, "c"), echo(t, "d")
	h := startGateway(t, fmt.Sprintf(`
listen: {http: 127.0.0.1:0}
admin: 127.0.0.1:0
routes:
  - {name: root, match: {host: "*", path_prefix: /}, upstream: %s}
  - {name: api, match: {host: "*", path_prefix: /api}, upstream: %s}
  - {name: api-exact, match: {host: api.example.com, path_prefix: /api}, upstream: %s}
  - {name: wild, match: {host: "*.example.com", path_prefix: /}, upstream: %s}
  - {name: api-v2, match: {host: "*", path_prefix: /api/v2/}, upstream: %s}
events: {file: {{DIR}}/events.jsonl}
`, a.URL, b.URL, c.URL, d.URL, d.URL), server.Options{})
	cases := []struct{ host, path, want string }{
		{"localhost", "/", "a"},
		{"localhost", "/index.html", "a"},
		{"localhost", "/api", "b"},
		{"localhost", "/api/users", "b"},
		{"localhost", "/apix", "a"}, // prefixes match on segment boundaries
		{"api.example.com", "/api/users", "c"},
		{"API.Example.com:8080", "/api/x", "c"}, // case and port ignored
		{"www.example.com", "/api/users", "b"},  // longer path prefix beats a host wildcard
		{"www.example.com", "/home", "d"},
		{"example.com", "/home", "a"}, // *.example.com needs a subdomain
		{"localhost", "/api/v2/things", "d"},
	}
	for _, tc := range cases {
		t.Run(tc.host+tc.path, func(t *testing.T) {
			resp, e := get(t, h.URL+tc.path, tc.host, nil)
			if resp.StatusCode != 200 || e.Upstream != tc.want {
				t.Fatalf("%s%s went to %q (status %d), want %q", tc.host, tc.path, e.Upstream, resp.StatusCode, tc.want)
			}
			if e.Host != tc.host {
				t.Errorf("upstream saw Host %q, want the client's %q", e.Host, tc.host)
			}
		})
	}
}

func TestNoRoute(t *testing.T) {
	a := echo(t, "a")
	h := startGateway(t, fmt.Sprintf(`
listen: {http: 127.0.0.1:0}
admin: 127.0.0.1:0
routes: [{name: only, match: {host: shop.local, path_prefix: /shop}, upstream: %s}]
events: {file: {{DIR}}/events.jsonl, flush_interval: 10ms}
`, a.URL), server.Options{})
	resp, err := http.Get(h.URL + "/other")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != 404 {
		t.Fatalf("status %d, want 404", resp.StatusCode)
	}
	if e := decodeError(t, resp); e.Error.Code != "no_route" {
		t.Fatalf("code %q", e.Error.Code)
	}
	ev := h.eventFor(resp.Header.Get("Vigil-Txn"))
	if ev.Response.Status != 404 {
		t.Fatalf("event status %d", ev.Response.Status)
	}
}

func TestForwardingHeaders(t *testing.T) {
	a := echo(t, "a")
	for _, tc := range []struct {
		name          string
		trusted       string
		xff           string
		wantXFF       string
		wantClientIP  string
		wantForwarded string
	}{
		{"untrusted peer: forged XFF replaced", "", "6.6.6.6", "127.0.0.1", "127.0.0.1", "for=127.0.0.1;proto=http"},
		{"trusted peer: XFF extended, client from XFF", "trusted_proxies: [127.0.0.1/32]", "203.0.113.9", "203.0.113.9, 127.0.0.1", "203.0.113.9", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := startGateway(t, fmt.Sprintf(`
listen: {http: 127.0.0.1:0, %s}
admin: 127.0.0.1:0
routes: [{name: main, match: {host: "*", path_prefix: /}, upstream: %s}]
events: {file: {{DIR}}/events.jsonl, flush_interval: 10ms}
`, tc.trusted, a.URL), server.Options{})
			tp := "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"
			resp, e := get(t, h.URL+"/x", "", map[string]string{
				"X-Forwarded-For": tc.xff, "Traceparent": tp,
				"Connection": "X-Secret-Hop", "X-Secret-Hop": "1", "Keep-Alive": "timeout=5", "Proxy-Authorization": "Basic Zm9vOmJhcg==",
			})
			if got := e.Headers.Get("X-Forwarded-For"); got != tc.wantXFF {
				t.Errorf("upstream X-Forwarded-For %q, want %q", got, tc.wantXFF)
			}
			if tc.wantForwarded != "" && e.Headers.Get("Forwarded") != tc.wantForwarded {
				t.Errorf("Forwarded %q, want %q", e.Headers.Get("Forwarded"), tc.wantForwarded)
			}
			for _, hop := range []string{"X-Secret-Hop", "Keep-Alive", "Proxy-Authorization"} {
				if e.Headers.Get(hop) != "" {
					t.Errorf("hop-by-hop header %s reached the upstream", hop)
				}
			}
			up := e.Headers.Get("Traceparent")
			if !strings.HasPrefix(up, "00-0af7651916cd43dd8448eb211c80319c-") || up == tp || len(up) != 55 {
				t.Errorf("upstream traceparent %q: want the same trace with a new span", up)
			}
			txn := resp.Header.Get("Vigil-Txn")
			if txn == "" || e.Headers.Get("Vigil-Txn") != txn {
				t.Errorf("Vigil-Txn response %q, upstream saw %q", txn, e.Headers.Get("Vigil-Txn"))
			}
			ev := h.eventFor(txn)
			if ev.TraceID != "0af7651916cd43dd8448eb211c80319c" {
				t.Errorf("event trace_id %q", ev.TraceID)
			}
			if ev.Source.IP != tc.wantClientIP {
				t.Errorf("event source ip %q, want %q", ev.Source.IP, tc.wantClientIP)
			}
		})
	}
}

func TestEventContents(t *testing.T) {
	a := echo(t, "a")
	h := startGateway(t, baseConfig(a.URL, ""), server.Options{})
	const jwt = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJ1c2VyLTE3In0.c2lnbmF0dXJlLXNlY3JldA"
	req, _ := http.NewRequest("POST", h.URL+"/cart/item/add/17?qty=2&api_key=sk_"+"live_51HxYzAbCdEfGhIjKlMnOpQr", strings.NewReader(`{"product_id":42}`))
	req.Header.Set("Authorization", "Bearer "+jwt)
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "shopper/1.0")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	txn := resp.Header.Get("Vigil-Txn")
	if len(txn) != 32 {
		t.Fatalf("Vigil-Txn %q", txn)
	}
	ev := h.eventFor(txn)
	checks := []struct {
		field     string
		got, want any
	}{
		{"placement", ev.Placement, "gateway"},
		{"mode", ev.Mode, "enforce"},
		{"route", ev.Route, "main"},
		{"source.ip", ev.Source.IP, "127.0.0.1"},
		{"destination.upstream", ev.Destination.Upstream, a.URL},
		{"destination.host", ev.Destination.Host, strings.TrimPrefix(h.URL, "http://")},
		{"request.method", ev.Request.Method, "POST"},
		{"request.path", ev.Request.Path, "/cart/item/add/17"},
		{"request.query has qty", strings.HasPrefix(ev.Request.Query, "qty=2&api_key=sha256"), true},
		{"request.bytes", ev.Request.Bytes, int64(17)},
		{"request.auth", ev.Request.Auth, "bearer_jwt"},
		{"request.user_agent", ev.Request.UserAgent, "shopper/1.0"},
		{"response.status", ev.Response.Status, 200},
		{"response.bytes", ev.Response.Bytes, int64(len(body))},
		{"decision", ev.Decision, "allow"},
	}
	for _, c := range checks {
		if c.got != c.want {
			t.Errorf("%s = %v, want %v", c.field, c.got, c.want)
		}
	}
	if len(ev.TraceID) != 32 || ev.Time.IsZero() || time.Since(ev.Time) > time.Minute {
		t.Errorf("trace_id %q time %v", ev.TraceID, ev.Time)
	}
	if ev.Latency.Total <= 0 || ev.Latency.Vigil < 0 || ev.Latency.Vigil > ev.Latency.Total {
		t.Errorf("latency %+v", ev.Latency)
	}
	// Secrets never reach the event stream.
	raw, _ := readRaw(h.events)
	if strings.Contains(raw, jwt) || strings.Contains(raw, "c2lnbmF0dXJl") {
		t.Error("the bearer token reached the events file")
	}
	if strings.Contains(raw, "51HxYzAbCdEf") {
		t.Errorf("the API key in the query reached the events file: %s", ev.Request.Query)
	}
}

// --- monitor vs enforce, fail-open vs fail-closed ---------------------------

// testStage is a configurable stage for pipeline tests.
type testStage struct {
	name     string
	behavior string // panic, error, slow, block, hang
	blocking bool
}

func (s *testStage) Name() string   { return s.name }
func (s *testStage) Blocking() bool { return s.blocking }
func (s *testStage) Request(ctx context.Context, tx *pipeline.Txn) (pipeline.Verdict, error) {
	if !strings.HasPrefix(tx.Req.URL.Path, "/guarded") {
		return pipeline.Continue, nil
	}
	switch s.behavior {
	case "panic":
		panic("stage bug")
	case "error":
		return pipeline.Verdict{}, errors.New("backend unavailable")
	case "slow":
		time.Sleep(400 * time.Millisecond) // 4x the stage timeout: slow however loaded the machine is
	case "slow-block":
		time.Sleep(400 * time.Millisecond)
		return pipeline.BlockWith(http.StatusForbidden, "test", "t-2", "late but decided"), nil
	case "hang":
		<-ctx.Done()
		time.Sleep(time.Second) // ignores its context for a while
	case "block":
		return pipeline.BlockWith(http.StatusForbidden, "test", "t-1", "blocked by test stage"), nil
	}
	return pipeline.Continue, nil
}

func TestMonitorVersusEnforce(t *testing.T) {
	a := echo(t, "a")
	for _, tc := range []struct {
		mode         string
		wantStatus   int
		wantDecision string
		wouldBlock   bool
	}{
		{"enforce", 403, "block", false},
		{"monitor", 200, "allow", true},
	} {
		t.Run(tc.mode, func(t *testing.T) {
			cfg := strings.Replace(baseConfig(a.URL, "protect: {ip_rules: {deny: [127.0.0.0/8]}}"), "mode: enforce", "mode: "+tc.mode, 1)
			h := startGateway(t, cfg, server.Options{})
			resp, err := http.Get(h.URL + "/anything")
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			if resp.StatusCode != tc.wantStatus {
				t.Fatalf("status %d, want %d", resp.StatusCode, tc.wantStatus)
			}
			if tc.wantStatus == 403 {
				if e := decodeError(t, resp); e.Error.Code != "blocked" {
					t.Errorf("code %q", e.Error.Code)
				}
			}
			ev := h.eventFor(resp.Header.Get("Vigil-Txn"))
			if ev.Decision != tc.wantDecision || ev.Mode != tc.mode {
				t.Fatalf("decision %q mode %q", ev.Decision, ev.Mode)
			}
			if len(ev.Findings) != 1 || ev.Findings[0].Stage != "ip_rules" || ev.Findings[0].WouldBlock != tc.wouldBlock {
				t.Fatalf("findings %+v", ev.Findings)
			}
		})
	}
}

func TestStageFailurePolicy(t *testing.T) {
	a := echo(t, "a")
	for _, tc := range []struct {
		behavior string
		blocking bool
		policy   string
		want     int
		kind     string
	}{
		{"panic", false, "fail_open", 200, "panic"},
		{"panic", false, "fail_closed", 503, "panic"},
		{"error", false, "fail_open", 200, "error"},
		{"error", false, "fail_closed", 503, "error"},
		{"slow", false, "fail_open", 200, "timeout"},
		{"slow", false, "fail_closed", 503, "timeout"},
		{"hang", true, "fail_closed", 503, "timeout"},
		{"hang", true, "fail_open", 200, "timeout"},
		// A stage that overruns but decides to block is still obeyed.
		{"slow-block", false, "fail_open", 403, "timeout"},
	} {
		t.Run(tc.behavior+"/"+tc.policy, func(t *testing.T) {
			st := &testStage{name: "probe", behavior: tc.behavior, blocking: tc.blocking}
			h := startGateway(t, baseConfig(a.URL, fmt.Sprintf(`protect:
  on_error: fail_open
  stages: {probe: {on_error: %s, timeout: 100ms}}`, tc.policy)), server.Options{Deps: stage.Deps{Custom: []pipeline.Stage{st}}})
			start := time.Now()
			resp, err := http.Get(h.URL + "/guarded")
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != tc.want {
				t.Fatalf("status %d, want %d", resp.StatusCode, tc.want)
			}
			if tc.behavior == "hang" && time.Since(start) > 800*time.Millisecond { // the stage hangs for 1s past its timeout
				t.Fatalf("a hanging blocking stage held the request for %v", time.Since(start))
			}
			ev := h.eventFor(resp.Header.Get("Vigil-Txn"))
			if len(ev.Findings) < 1 || ev.Findings[0].Kind != "stage_failure" || ev.Findings[0].Stage != "probe" ||
				!strings.HasPrefix(ev.Findings[0].Message, tc.kind) {
				t.Fatalf("findings %+v", ev.Findings)
			}
			if got := h.metric(fmt.Sprintf(`vigil_stage_failures_total{kind=%q,stage="probe"}`, tc.kind)); got != 1 {
				t.Fatalf("vigil_stage_failures_total = %v, want 1", got)
			}
			// Requests the stage does not touch are unaffected.
			resp2, err := http.Get(h.URL + "/open")
			if err != nil {
				t.Fatal(err)
			}
			resp2.Body.Close()
			if resp2.StatusCode != 200 {
				t.Fatalf("untouched request got %d", resp2.StatusCode)
			}
		})
	}
}

func TestRouteStagesAndBlockBody(t *testing.T) {
	a := echo(t, "a")
	st := &testStage{name: "probe", behavior: "block"}
	h := startGateway(t, fmt.Sprintf(`
listen: {http: 127.0.0.1:0}
admin: 127.0.0.1:0
routes:
  - {name: guarded, match: {host: "*", path_prefix: /guarded}, upstream: %s}
  - {name: open, match: {host: "*", path_prefix: /guarded/open}, upstream: %s, stages: [ip_rules]}
events: {file: {{DIR}}/events.jsonl, flush_interval: 10ms}
`, a.URL, a.URL), server.Options{Deps: stage.Deps{Custom: []pipeline.Stage{st}}})
	resp, _ := get(t, h.URL+"/guarded/x", "", nil)
	if resp.StatusCode != 403 {
		t.Fatalf("guarded route: %d", resp.StatusCode)
	}
	resp, _ = get(t, h.URL+"/guarded/open/x", "", nil)
	if resp.StatusCode != 200 {
		t.Fatalf("route without the stage: %d", resp.StatusCode)
	}
}

func readRaw(path string) (string, error) {
	b, err := io.ReadAll(mustOpen(path))
	return string(b), err
}

// TestAdminProfilerToken: with admin.pprof on and an admin token set, the
// profiler answers only with the token; probes and metrics stay open for
// orchestrators and scrapers.
func TestAdminProfilerToken(t *testing.T) {
	up := echo(t, "a")
	cfg := strings.Replace(baseConfig(up.URL, ""), "admin: 127.0.0.1:0", "admin: {addr: 127.0.0.1:0, token: t0k-123, pprof: true}", 1)
	h := startGateway(t, cfg, server.Options{})
	tests := []struct {
		path, auth string
		want       int
	}{
		{"/debug/pprof/", "", http.StatusUnauthorized},
		{"/debug/pprof/", "Bearer wrong", http.StatusUnauthorized},
		{"/debug/pprof/", "Bearer t0k-123", http.StatusOK},
		{"/debug/pprof/symbol", "", http.StatusUnauthorized},
		{"/healthz", "", http.StatusOK},
		{"/readyz", "", http.StatusOK},
		{"/metrics", "", http.StatusOK},
	}
	for _, tc := range tests {
		req, _ := http.NewRequest("GET", h.Admin+tc.path, nil)
		if tc.auth != "" {
			req.Header.Set("Authorization", tc.auth)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != tc.want {
			t.Errorf("GET %s (auth %q): %d, want %d", tc.path, tc.auth, resp.StatusCode, tc.want)
		}
	}
}
