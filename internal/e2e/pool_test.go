package e2e

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/vigil-sec/vigil/internal/server"
)

// poolTarget is an upstream of a pool that says who it is, counts the
// requests it answers by method, and can be killed.
type poolTarget struct {
	name string
	s    *httptest.Server
	hits sync.Map // method -> *atomic.Int64
	code atomic.Int32
}

func newPoolTarget(t *testing.T, name string) *poolTarget {
	pt := &poolTarget{name: name}
	pt.code.Store(200)
	pt.s = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/healthz" {
			return
		}
		_, _ = io.Copy(io.Discard, r.Body)
		v, _ := pt.hits.LoadOrStore(r.Method, new(atomic.Int64))
		v.(*atomic.Int64).Add(1)
		w.WriteHeader(int(pt.code.Load()))
		_, _ = io.WriteString(w, name)
	}))
	t.Cleanup(pt.s.Close)
	return pt
}

func (pt *poolTarget) count(method string) int64 {
	v, _ := pt.hits.LoadOrStore(method, new(atomic.Int64))
	return v.(*atomic.Int64).Load()
}

// kill closes the listener and every connection, as a crashed process
// would: new connections are refused, open ones are cut.
func (pt *poolTarget) kill() {
	pt.s.Listener.Close()
	pt.s.CloseClientConnections()
}

func poolConfig(route string, targets ...*poolTarget) string {
	var b strings.Builder
	for _, pt := range targets {
		fmt.Fprintf(&b, "      - %s\n", pt.s.URL)
	}
	return fmt.Sprintf(`mode: enforce
listen: {http: 127.0.0.1:0}
admin: 127.0.0.1:0
data_dir: {{DIR}}/data
routes:
  - name: pool
    match: {host: "*", path_prefix: /}
    upstreams:
%s%s
events: {file: {{DIR}}/events.jsonl, flush_interval: 10ms}
`, b.String(), route)
}

// outLog records when the gateway first logged a target going out (an
// ejection, or a failed health check), by target.
type outLog struct {
	mu    sync.Mutex
	first map[string]time.Time
}

func (l *outLog) Enabled(context.Context, slog.Level) bool { return true }
func (l *outLog) WithAttrs([]slog.Attr) slog.Handler       { return l }
func (l *outLog) WithGroup(string) slog.Handler            { return l }
func (l *outLog) Handle(_ context.Context, r slog.Record) error {
	if !strings.Contains(r.Message, "ejected after") && !strings.Contains(r.Message, "taken out of the pool") {
		return nil
	}
	r.Attrs(func(a slog.Attr) bool {
		if a.Key == "target" {
			l.mu.Lock()
			if _, ok := l.first[a.Value.String()]; !ok {
				l.first[a.Value.String()] = time.Now()
			}
			l.mu.Unlock()
		}
		return true
	})
	return nil
}

func (l *outLog) at(target string) (time.Time, bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	t, ok := l.first[target]
	return t, ok
}

func TestPoolFailover(t *testing.T) {
	a, b, c := newPoolTarget(t, "a"), newPoolTarget(t, "b"), newPoolTarget(t, "c")
	const interval, unhealthy = 500 * time.Millisecond, 2
	logs := &outLog{first: map[string]time.Time{}}
	h := startGateway(t, poolConfig(fmt.Sprintf(`    health_check: {path: /healthz, interval: %v, timeout: 100ms, unhealthy_threshold: %d, healthy_threshold: 2}
    outlier: {consecutive_failures: 3, ejection_time: 10s}
    retries: {attempts: 2, budget_percent: 100}`, interval, unhealthy), a, b, c), server.Options{Logger: slog.New(logs)})
	healthy := func(pt *poolTarget) float64 {
		return h.metric(fmt.Sprintf(`vigil_upstream_healthy{route="pool",target=%q}`, pt.s.URL))
	}
	for _, pt := range []*poolTarget{a, b, c} {
		if healthy(pt) != 1 {
			t.Fatalf("%s not healthy at start", pt.name)
		}
	}

	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 16}, Timeout: 5 * time.Second}
	defer client.CloseIdleConnections()
	stop := make(chan struct{})
	var ok, failed atomic.Int64
	var mu sync.Mutex
	var failures []string
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			for {
				select {
				case <-stop:
					return
				default:
				}
				resp, err := client.Get(h.URL + "/item")
				if err != nil {
					failed.Add(1)
					mu.Lock()
					failures = append(failures, err.Error())
					mu.Unlock()
					continue
				}
				body, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				if resp.StatusCode != 200 {
					failed.Add(1)
					mu.Lock()
					failures = append(failures, fmt.Sprintf("%d %s", resp.StatusCode, body))
					mu.Unlock()
					continue
				}
				ok.Add(1)
			}
		})
	}
	time.Sleep(400 * time.Millisecond)
	if b.count("GET") == 0 {
		t.Fatal("b took no traffic before it was killed")
	}
	killed := time.Now()
	b.kill()
	// Under continuous load, passive ejection takes the dead target out
	// within one health-check interval (the checker alone would take
	// unhealthy_threshold intervals).
	for healthy(b) != 0 {
		if time.Since(killed) > 5*time.Second {
			t.Fatal("dead target never marked unhealthy")
		}
		time.Sleep(20 * time.Millisecond)
	}
	out, logged := logs.at(b.s.URL)
	if !logged {
		t.Fatal("no log of the dead target going out")
	}
	ejectedAfter := out.Sub(killed)
	if ejectedAfter > interval {
		t.Errorf("dead target out after %v, want within the interval (%v)", ejectedAfter, interval)
	}
	time.Sleep(100 * time.Millisecond) // requests sent to b before it went out are done
	retriesAtEjection := h.metric(`vigil_upstream_retries_total{route="pool"}`)
	servedA, servedC := a.count("GET"), c.count("GET")
	time.Sleep(500 * time.Millisecond)
	close(stop)
	wg.Wait()

	if n := failed.Load(); n != 0 {
		t.Fatalf("%d of %d idempotent requests failed, e.g. %v", n, n+ok.Load(), failures[:min(3, len(failures))])
	}
	if healthy(a) != 1 || healthy(c) != 1 {
		t.Fatal("a live target is marked unhealthy")
	}
	if h.metric(`vigil_upstream_ejections_total{route="pool",target="`+b.s.URL+`"}`) < 1 && healthy(b) != 0 {
		t.Fatal("dead target neither ejected nor down")
	}
	retries := h.metric(`vigil_upstream_retries_total{route="pool"}`)
	if retries < 1 {
		t.Fatal("no request was retried: the kill was not exercised")
	}
	if retries != retriesAtEjection {
		t.Fatalf("retries went on after the ejection (%v then %v): b still picked", retriesAtEjection, retries)
	}
	if a.count("GET") == servedA || c.count("GET") == servedC {
		t.Fatal("the live targets stopped taking traffic")
	}
	t.Logf("%d requests, none failed; %v retries; b out %v after the kill", ok.Load(), retries, ejectedAfter)
}

func TestPoolConsistentHash(t *testing.T) {
	a, b, c := newPoolTarget(t, "a"), newPoolTarget(t, "b"), newPoolTarget(t, "c")
	h := startGateway(t, poolConfig(`    balance: {policy: consistent_hash, hash_on: "header:X-User"}`, a, b, c), server.Options{})
	urls := map[string]string{"a": a.s.URL, "b": b.s.URL, "c": c.s.URL}
	do := func(user string) (string, string) {
		req, _ := http.NewRequest("GET", h.URL+"/cart", nil)
		req.Header.Set("X-User", user)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != 200 {
			t.Fatalf("status %d: %s", resp.StatusCode, body)
		}
		return string(body), resp.Header.Get("Vigil-Txn")
	}
	home, txn := do("alice")
	for i := range 100 {
		if got, _ := do("alice"); got != home {
			t.Fatalf("request %d of alice went to %s, not %s", i, got, home)
		}
	}
	if ev := h.eventFor(txn); ev.Destination.Upstream != urls[home] {
		t.Fatalf("event destination.upstream %q, want %q", ev.Destination.Upstream, urls[home])
	}
	seen := map[string]bool{}
	for i := range 30 {
		got, _ := do(fmt.Sprint("user-", i))
		seen[got] = true
	}
	if len(seen) < 2 {
		t.Fatalf("30 users all hashed to %v", seen)
	}
}

func TestPoolPostNotRetried(t *testing.T) {
	a, b := newPoolTarget(t, "a"), newPoolTarget(t, "b")
	a.code.Store(502)
	b.code.Store(502)
	h := startGateway(t, poolConfig(`    retries: {attempts: 1, on: [connect_failure, 502]}`, a, b), server.Options{})
	resp, err := http.Post(h.URL+"/order", "application/json", strings.NewReader(`{"sku":42}`))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 502 {
		t.Fatalf("POST answered %d, want the upstream's 502", resp.StatusCode)
	}
	if n := a.count("POST") + b.count("POST"); n != 1 {
		t.Fatalf("the upstreams saw the POST %d times, want once", n)
	}
	// The same failure on a GET is retried once, on the other target.
	resp, err = http.Get(h.URL + "/order")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 502 || a.count("GET") != 1 || b.count("GET") != 1 {
		t.Fatalf("GET: status %d, a saw %d, b saw %d; want 502 after one try on each", resp.StatusCode, a.count("GET"), b.count("GET"))
	}
	if got := h.metric(`vigil_upstream_retries_total{route="pool"}`); got != 1 {
		t.Fatalf("retries counter %v, want 1", got)
	}
}
