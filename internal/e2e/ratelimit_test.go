package e2e

import (
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/vigil-sec/vigil/internal/event"
	"github.com/vigil-sec/vigil/internal/ratelimit/redistest"
	"github.com/vigil-sec/vigil/internal/server"
)

// rlRedisPrefix returns a key prefix of this test's own on the local Redis
// (deleted afterwards); the test is skipped when no Redis answers at
// 127.0.0.1:6379, and fails under CI.
func rlRedisPrefix(t *testing.T) string {
	t.Helper()
	_, prefix := redistest.Prefix(t, "vigil-e2e")
	return prefix
}

// rlConfig is a gateway that trusts the loopback peer's X-Forwarded-For
// (so a test can be many clients) with the login limit.
func rlConfig(upstream, protect string) string {
	return withListen(baseConfig(upstream, "protect:\n"+protect+`  rate_limits:
    - name: login
      match: {endpoint: "POST /login"}
      key: ip
      rate: 5/m
      burst: 5
`), "trusted_proxies: [127.0.0.1/32]")
}

type rlResult struct {
	status int
	header http.Header
	code   string
	txn    string
}

func rlSend(t *testing.T, base, method, path, client string) rlResult {
	t.Helper()
	req, _ := http.NewRequest(method, base+path, strings.NewReader("user=jane&password=x"))
	req.Header.Set("X-Forwarded-For", client)
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	r := rlResult{status: resp.StatusCode, header: resp.Header, txn: resp.Header.Get("Vigil-Txn")}
	if resp.StatusCode >= 400 {
		r.code = decodeError(t, resp).Error.Code
	} else {
		_, _ = io.Copy(io.Discard, resp.Body)
	}
	return r
}

func rlFinding(ev event.Event, kind string) *event.Finding {
	for i := range ev.Findings {
		if ev.Findings[i].Kind == kind {
			return &ev.Findings[i]
		}
	}
	return nil
}

// check429 asserts what a limited client is told: 429 rate_limited, a
// Retry-After in whole seconds, and the RateLimit fields that agree with it.
func check429(t *testing.T, r rlResult) {
	t.Helper()
	if r.status != http.StatusTooManyRequests || r.code != "rate_limited" {
		t.Fatalf("status %d code %q, want 429 rate_limited", r.status, r.code)
	}
	ra, err := strconv.Atoi(r.header.Get("Retry-After"))
	if err != nil || ra < 1 || ra > 12 {
		t.Fatalf("Retry-After %q, want 1..12 seconds (a token every 12s)", r.header.Get("Retry-After"))
	}
	if got := r.header.Get("RateLimit-Policy"); got != `"login";q=5;w=60` {
		t.Fatalf("RateLimit-Policy %q", got)
	}
	if got, want := r.header.Get("RateLimit"), fmt.Sprintf(`"login";r=0;t=%d`, ra); got != want {
		t.Fatalf("RateLimit %q, want %q", got, want)
	}
}

// TestRateLimitSharedAcrossGateways: two gateways on the same Redis hold
// one 5/m budget per client address for POST /login: the 6th login fails,
// whichever gateway it reaches.
func TestRateLimitSharedAcrossGateways(t *testing.T) {
	prefix := rlRedisPrefix(t)
	up := newRecorder(t)
	cfg := rlConfig(up.URL, "  redis: {url: \""+redistest.URL+"\", prefix: \""+prefix+"\"}\n")
	a := startGateway(t, cfg, server.Options{})
	b := startGateway(t, cfg, server.Options{})
	gws := []*gw{a, b}

	const client = "203.0.113.10"
	for i := range 5 {
		if r := rlSend(t, gws[i%2].URL, "POST", "/login", client); r.status != 200 {
			t.Fatalf("login %d through gateway %d: %d %s", i+1, i%2, r.status, r.code)
		}
	}
	for i, g := range gws {
		r := rlSend(t, g.URL, "POST", "/login", client)
		check429(t, r)
		ev := g.eventFor(r.txn)
		f := rlFinding(ev, "rate_limited")
		if f == nil || f.Layer != "ratelimit" || f.RuleID != "login" || f.Action != "block" || f.WouldBlock || ev.Decision != "block" {
			t.Fatalf("gateway %d event: decision %s findings %+v", i, ev.Decision, ev.Findings)
		}
	}
	if uris, _ := up.seen(); len(uris) != 5 {
		t.Fatalf("the upstream received %d logins, want the 5 allowed: %q", len(uris), uris)
	}
	// Other clients have their own budget, on either gateway.
	for i, g := range gws {
		if r := rlSend(t, g.URL, "POST", "/login", "203.0.113."+strconv.Itoa(20+i)); r.status != 200 {
			t.Fatalf("another client through gateway %d: %d", i, r.status)
		}
	}
	// The limit is on POST /login only.
	for _, target := range []struct{ method, path string }{{"GET", "/login"}, {"POST", "/login/help"}, {"POST", "/logout"}} {
		if r := rlSend(t, a.URL, target.method, target.path, client); r.status != 200 {
			t.Fatalf("%s %s from the limited client: %d", target.method, target.path, r.status)
		}
	}
}

// TestRateLimitLocalIsPerGateway: without Redis each gateway counts alone
// (the contrast that makes the shared test mean something).
func TestRateLimitLocalIsPerGateway(t *testing.T) {
	up := newRecorder(t)
	cfg := rlConfig(up.URL, "")
	a := startGateway(t, cfg, server.Options{})
	b := startGateway(t, cfg, server.Options{})
	for i := range 5 {
		if r := rlSend(t, a.URL, "POST", "/login", "203.0.113.30"); r.status != 200 {
			t.Fatalf("login %d: %d", i+1, r.status)
		}
	}
	check429(t, rlSend(t, a.URL, "POST", "/login", "203.0.113.30"))
	if r := rlSend(t, b.URL, "POST", "/login", "203.0.113.30"); r.status != 200 {
		t.Fatalf("the other gateway, with its own buckets: %d", r.status)
	}
}

// TestRateLimitMonitor: in monitor mode the 6th login goes through and the
// event says it would have been blocked.
func TestRateLimitMonitor(t *testing.T) {
	up := newRecorder(t)
	h := startGateway(t, rlConfig(up.URL, "  stages: {rate_limit: {mode: monitor}}\n"), server.Options{})
	for range 5 {
		rlSend(t, h.URL, "POST", "/login", "203.0.113.40")
	}
	r := rlSend(t, h.URL, "POST", "/login", "203.0.113.40")
	if r.status != 200 || r.header.Get("Retry-After") != "" {
		t.Fatalf("monitor: status %d, Retry-After %q", r.status, r.header.Get("Retry-After"))
	}
	ev := h.eventFor(r.txn)
	f := rlFinding(ev, "rate_limited")
	if f == nil || !f.WouldBlock || f.Layer != "ratelimit" || f.RuleID != "login" || ev.Decision != "allow" {
		t.Fatalf("event: decision %s findings %+v", ev.Decision, ev.Findings)
	}
}

// TestRateLimitRedisDown: with Redis unreachable, fail_open lets logins
// through with a finding, fail_closed answers 503; neither waits on the
// dead Redis for every request.
func TestRateLimitRedisDown(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	dead := ln.Addr().String()
	ln.Close()
	cases := []struct {
		policy string
		status int
		code   string
		action string
	}{
		{"fail_open", 200, "", "log"},
		{"fail_closed", 503, "unavailable", "block"},
	}
	for _, tc := range cases {
		t.Run(tc.policy, func(t *testing.T) {
			up := newRecorder(t)
			h := startGateway(t, rlConfig(up.URL, "  redis: {url: \"redis://"+dead+"/0\", on_error: "+tc.policy+"}\n"), server.Options{})
			start := time.Now()
			const n = 20
			for i := range n {
				r := rlSend(t, h.URL, "POST", "/login", "203.0.113.50")
				if r.status != tc.status || r.code != tc.code {
					t.Fatalf("request %d: %d %q, want %d %q", i+1, r.status, r.code, tc.status, tc.code)
				}
				if i == n-1 {
					ev := h.eventFor(r.txn)
					f := rlFinding(ev, "store_unavailable")
					if f == nil || f.Layer != "ratelimit" || f.RuleID != "login" || f.Action != tc.action ||
						!strings.Contains(f.Message, "on_error: "+tc.policy) {
						t.Fatalf("event: decision %s findings %+v", ev.Decision, ev.Findings)
					}
					if rlFinding(ev, "stage_failure") != nil {
						t.Fatalf("the store's failure became a stage failure: %+v", ev.Findings)
					}
				}
			}
			if d := time.Since(start); d > 2*time.Second {
				t.Fatalf("%d requests took %s against a dead Redis", n, d)
			}
			// Other routes and methods never touch the store.
			if r := rlSend(t, h.URL, "GET", "/login", "203.0.113.50"); r.status != 200 {
				t.Fatalf("GET /login: %d", r.status)
			}
		})
	}
}
