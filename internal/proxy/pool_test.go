package proxy

import (
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/vigil-sec/vigil/internal/config"
	"github.com/vigil-sec/vigil/internal/metrics"
	"github.com/vigil-sec/vigil/internal/pipeline"
	"github.com/vigil-sec/vigil/internal/stage"
)

// testPool builds the pool of the first route of a config snippet (the
// route's keys, indented by four spaces).
func testPool(t testing.TB, route string) (*pool, *metrics.Metrics) {
	t.Helper()
	cfg, err := config.Parse([]byte("listen: {http: 127.0.0.1:0}\nroutes:\n  - name: r\n"+route), "t.yaml")
	if err != nil {
		t.Fatal(err)
	}
	m := metrics.New()
	p, err := newPool(&cfg.Routes[0], m, slog.New(slog.DiscardHandler), func(*url.URL) *httputil.ReverseProxy { return nil })
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(p.close)
	return p, m
}

func targets(urls ...string) string {
	var b strings.Builder
	b.WriteString("    upstreams:\n")
	for _, u := range urls {
		b.WriteString("      - " + u + "\n")
	}
	return b.String()
}

func counts(p *pool, n int, pick func() *target) map[string]int {
	c := map[string]int{}
	for range n {
		t := pick()
		if t == nil {
			c["<nil>"]++
			continue
		}
		c[t.raw]++
	}
	return c
}

func TestRoundRobinWeights(t *testing.T) {
	cases := []struct {
		name    string
		targets []string
		down    string // a target taken out
		n       int
		want    map[string]int
	}{
		{"equal", []string{"http://a", "http://b", "http://c"}, "", 300,
			map[string]int{"http://a": 100, "http://b": 100, "http://c": 100}},
		{"weighted", []string{"{url: http://a, weight: 5}", "http://b", "{url: http://c, weight: 2}"}, "", 800,
			map[string]int{"http://a": 500, "http://b": 100, "http://c": 200}},
		{"gcd", []string{"{url: http://a, weight: 300}", "{url: http://b, weight: 100}"}, "", 400,
			map[string]int{"http://a": 300, "http://b": 100}},
		{"one down shares evenly", []string{"http://a", "http://b", "http://c"}, "http://b", 300,
			map[string]int{"http://a": 150, "http://c": 150}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			p, _ := testPool(t, targets(tc.targets...))
			for _, tg := range p.targets {
				if tg.raw == tc.down {
					tg.down.Store(true)
				}
			}
			got := counts(p, tc.n, func() *target { return p.pick(0, false, 0, true) })
			if fmt.Sprint(got) != fmt.Sprint(tc.want) {
				t.Fatalf("got %v, want %v", got, tc.want)
			}
		})
	}
	t.Run("smooth", func(t *testing.T) {
		p, _ := testPool(t, targets("{url: http://a, weight: 5}", "http://b", "http://c"))
		var seq strings.Builder
		for range 7 {
			seq.WriteString(strings.TrimPrefix(p.pick(0, false, 0, true).raw, "http://"))
		}
		if seq.String() != "aabacaa" {
			t.Fatalf("schedule %s, want nginx's smooth aabacaa", seq.String())
		}
	})
	t.Run("concurrent", func(t *testing.T) {
		p, _ := testPool(t, targets("http://a", "{url: http://b, weight: 3}"))
		var a, b atomic.Int64
		var wg sync.WaitGroup
		for range 8 {
			wg.Go(func() {
				for range 1000 {
					if p.pick(0, false, 0, true).raw == "http://a" {
						a.Add(1)
					} else {
						b.Add(1)
					}
				}
			})
		}
		wg.Wait()
		if a.Load() != 2000 || b.Load() != 6000 {
			t.Fatalf("a %d b %d, want 2000 6000", a.Load(), b.Load())
		}
	})
}

func TestLeastRequestPrefersIdle(t *testing.T) {
	cases := []struct {
		name     string
		targets  []string
		inflight []int64
		check    func(t *testing.T, c map[string]int)
	}{
		{"busiest never beats an idler candidate", []string{"http://a", "http://b", "http://c"}, []int64{10, 5, 0},
			func(t *testing.T, c map[string]int) {
				// Every pair holds b or c: a is never chosen; c wins
				// every pair it is in (2/3 of them).
				if c["http://a"] != 0 || c["http://c"] < 600 || c["http://b"] < 250 {
					t.Fatalf("%v", c)
				}
			}},
		{"idle pair is a tie", []string{"http://a", "http://b"}, []int64{0, 0},
			func(t *testing.T, c map[string]int) {
				if c["http://a"] < 350 || c["http://b"] < 350 {
					t.Fatalf("%v", c)
				}
			}},
		{"weight scales the load", []string{"{url: http://a, weight: 4}", "http://b"}, []int64{6, 2},
			func(t *testing.T, c map[string]int) {
				// a: 6/4 = 1.5 per unit, b: 2/1: a wins every time.
				if c["http://a"] != 1000 {
					t.Fatalf("%v", c)
				}
			}},
		{"ejected skipped", []string{"http://a", "http://b", "http://c"}, []int64{0, 9, 9},
			func(t *testing.T, c map[string]int) {
				if c["http://a"] != 0 || c["http://b"]+c["http://c"] != 1000 {
					t.Fatalf("%v", c)
				}
			}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			p, _ := testPool(t, targets(tc.targets...)+"    balance: {policy: least_request}\n    outlier: {consecutive_failures: 1}\n")
			for i, n := range tc.inflight {
				p.targets[i].inflight.Store(n)
			}
			if strings.HasPrefix(tc.name, "ejected") {
				p.report(p.targets[0], true)
			}
			tc.check(t, counts(p, 1000, func() *target { return p.pick(0, false, 0, true) }))
		})
	}
}

func TestConsistentHash(t *testing.T) {
	urls := []string{"http://10.0.0.1:80", "http://10.0.0.2:80", "http://10.0.0.3:80", "http://10.0.0.4:80", "http://10.0.0.5:80"}
	const hash = "    balance: {policy: consistent_hash, hash_on: \"header:X-User\"}\n"
	p, _ := testPool(t, targets(urls...)+hash)
	const keys = 5000
	home := make([]*target, keys)
	per := map[string]int{}
	for k := range keys {
		home[k] = p.pick(hashString(fmt.Sprint("user-", k)), true, 0, true)
		per[home[k].raw]++
	}
	for _, u := range urls {
		if s := float64(per[u]) / keys; s < 0.12 || s > 0.28 {
			t.Errorf("%s holds %.0f%% of the keys: %v", u, 100*s, per)
		}
	}
	t.Run("stable", func(t *testing.T) {
		for k := range keys {
			for range 3 {
				if got := p.pick(hashString(fmt.Sprint("user-", k)), true, 0, true); got != home[k] {
					t.Fatalf("key %d moved from %s to %s", k, home[k].raw, got.raw)
				}
			}
		}
	})
	t.Run("unhealthy target moves only its keys", func(t *testing.T) {
		gone := p.targets[2]
		gone.down.Store(true)
		defer gone.down.Store(false)
		moved := 0
		for k := range keys {
			got := p.pick(hashString(fmt.Sprint("user-", k)), true, 0, true)
			switch {
			case home[k] == gone && got == gone:
				t.Fatalf("key %d still on the unhealthy target", k)
			case home[k] == gone:
				moved++
			case got != home[k]:
				t.Fatalf("key %d moved from healthy %s to %s", k, home[k].raw, got.raw)
			}
		}
		if moved != per[gone.raw] {
			t.Fatalf("moved %d, want %d", moved, per[gone.raw])
		}
	})
	t.Run("removed from the config moves only its keys", func(t *testing.T) {
		q, _ := testPool(t, targets(urls[0], urls[1], urls[3], urls[4])+hash)
		for k := range keys {
			got := q.pick(hashString(fmt.Sprint("user-", k)), true, 0, true)
			if home[k].raw != urls[2] && got.raw != home[k].raw {
				t.Fatalf("key %d moved from %s to %s", k, home[k].raw, got.raw)
			}
		}
	})
	t.Run("retry goes elsewhere", func(t *testing.T) {
		k := hashString("user-1")
		first := p.pick(k, true, 0, true)
		if next := p.pick(k, true, triedSet(0).with(first), false); next == nil || next == first {
			t.Fatalf("retry picked %v", next)
		}
	})
}

func TestHashKeys(t *testing.T) {
	cases := []struct {
		hashOn string
		header http.Header
		remote string
		want   string // the value hashed, "" for no key
	}{
		{"header:X-User", http.Header{"X-User": {"alice"}}, "", "alice"},
		{"header:x-user", http.Header{"X-User": {"alice"}}, "", "alice"},
		{"header:X-User", http.Header{}, "", ""},
		{"cookie:session", http.Header{"Cookie": {"a=1; session=s3cr3t; b=2"}}, "", "s3cr3t"},
		{"cookie:session", http.Header{"Cookie": {"a=1", `session="q"`}}, "", "q"},
		{"cookie:session", http.Header{"Cookie": {"xsession=1; session="}}, "", ""},
		{"ip", http.Header{}, "192.0.2.7:5555", "192.0.2.7"},
	}
	for _, tc := range cases {
		t.Run(tc.hashOn+" "+tc.want, func(t *testing.T) {
			p, _ := testPool(t, targets("http://a", "http://b")+"    balance: {policy: consistent_hash, hash_on: \""+tc.hashOn+"\"}\n")
			r := &http.Request{Header: tc.header, RemoteAddr: tc.remote}
			k, ok := p.key(r, nil)
			if ok != (tc.want != "") || ok && k != hashString(tc.want) {
				t.Fatalf("key %x %v, want the hash of %q", k, ok, tc.want)
			}
		})
	}
}

func TestOutlierEjection(t *testing.T) {
	p, m := testPool(t, targets("http://a", "http://b", "http://c", "http://d")+
		"    outlier: {consecutive_failures: 3, ejection_time: 60ms, max_ejected_percent: 50}\n")
	a, b, c := p.targets[0], p.targets[1], p.targets[2]
	p.report(a, true)
	p.report(a, true)
	p.report(a, false) // a success resets the count
	p.report(a, true)
	p.report(a, true)
	if !p.usable(a, nanotime()) {
		t.Fatal("ejected before 3 failures in a row")
	}
	p.report(a, true)
	if p.usable(a, nanotime()) || !a.ejected.Load() {
		t.Fatal("not ejected after 3 failures in a row")
	}
	if got := sample(t, m, "vigil_upstream_ejections_total", "http://a"); got != 1 {
		t.Fatalf("ejections counter %v", got)
	}
	for range 100 {
		if p.pick(0, false, 0, true) == a {
			t.Fatal("ejected target picked")
		}
	}
	// 50% of 4: b may go too, c may not.
	for range 3 {
		p.report(b, true)
		p.report(c, true)
	}
	if !b.ejected.Load() || c.ejected.Load() {
		t.Fatalf("max_ejected_percent: b %v c %v", b.ejected.Load(), c.ejected.Load())
	}
	time.Sleep(70 * time.Millisecond)
	if !p.usable(a, nanotime()) || a.ejected.Load() || p.ejected.Load() != 1 {
		t.Fatal("not re-admitted after ejection_time")
	}
	// Failing again at once: the second ejection lasts twice as long.
	for range 3 {
		p.report(a, true)
	}
	if d := time.Duration(a.until.Load() - nanotime()); d < 100*time.Millisecond || d > 120*time.Millisecond {
		t.Fatalf("second ejection lasts %v, want ~120ms", d)
	}
}

func TestPanicMode(t *testing.T) {
	p, m := testPool(t, targets("http://a", "http://b")+"    outlier: {consecutive_failures: 1, max_ejected_percent: 100}\n")
	p.report(p.targets[0], true)
	p.report(p.targets[1], true)
	if p.ejected.Load() != 2 {
		t.Fatalf("ejected %d", p.ejected.Load())
	}
	if tg := p.pick(0, false, 0, false); tg != nil {
		t.Fatalf("a retry picked an ejected target %s", tg.raw)
	}
	got := counts(p, 10, func() *target { return p.pick(0, false, 0, true) })
	if got["http://a"] != 5 || got["http://b"] != 5 {
		t.Fatalf("panic mode picks %v", got)
	}
	if !p.panicking.Load() || sample(t, m, "vigil_upstream_panic_total", "") != 10 {
		t.Fatal("panic mode not recorded")
	}
}

func TestRetryBudget(t *testing.T) {
	p, m := testPool(t, targets("http://a", "http://b")+"    retries: {attempts: 2, budget_percent: 20}\n")
	p.active.Store(20) // 20% of 20 = 4 retries in flight
	for i := range 4 {
		if !p.acquireRetry() {
			t.Fatalf("retry %d refused", i)
		}
	}
	if p.acquireRetry() {
		t.Fatal("retry past the budget")
	}
	p.releaseRetry()
	if !p.acquireRetry() {
		t.Fatal("released retry not available")
	}
	p.active.Store(1) // a quiet route still has minRetryConcurrency
	p.retrying.Store(0)
	for range minRetryConcurrency {
		if !p.acquireRetry() {
			t.Fatal("minimum retry concurrency refused")
		}
	}
	if got := sample(t, m, "vigil_upstream_retries_refused_total", ""); got != 1 {
		t.Fatalf("refused counter %v", got)
	}
}

// healthServer answers its health path with the status in code, and counts
// probes.
func healthServer(t *testing.T) (*httptest.Server, *atomic.Int32, *atomic.Int64) {
	var code atomic.Int32
	var probes atomic.Int64
	code.Store(200)
	s := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/healthz" {
			probes.Add(1)
			if r.Header.Get("User-Agent") != "vigil-health-check" {
				t.Errorf("probe User-Agent %q", r.Header.Get("User-Agent"))
			}
			w.WriteHeader(int(code.Load()))
			return
		}
		_, _ = io.WriteString(w, "ok")
	}))
	t.Cleanup(s.Close)
	return s, &code, &probes
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(3 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func TestHealthChecker(t *testing.T) {
	cases := []struct {
		name   string
		expect string
		bad    int32
		good   int32
	}{
		{"any 2xx", "", 503, 204},
		{"expect_status", "      expect_status: [200, 299]\n", 204, 299},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			s, code, probes := healthServer(t)
			other, _, _ := healthServer(t)
			p, m := testPool(t, targets(s.URL, other.URL)+"    health_check:\n      path: /healthz\n      interval: 20ms\n      timeout: 15ms\n"+
				"      healthy_threshold: 2\n      unhealthy_threshold: 2\n"+tc.expect)
			hc := healthCollectorFor(m)
			hc.add(p)
			p.startHealth(&http.Transport{})
			tg := p.targets[0]
			waitFor(t, "the first probes", func() bool { return probes.Load() >= 2 })
			if tg.down.Load() || gauge(t, m, s.URL) != 1 {
				t.Fatal("healthy target down")
			}
			code.Store(tc.bad)
			waitFor(t, "the target to be marked down", tg.down.Load)
			if gauge(t, m, s.URL) != 0 || gauge(t, m, other.URL) != 1 {
				t.Fatal("gauge does not follow the health check")
			}
			for range 50 {
				if p.pick(0, false, 0, true) == tg {
					t.Fatal("down target picked")
				}
			}
			code.Store(tc.good)
			waitFor(t, "the target to come back", func() bool { return !tg.down.Load() })
			// close stops the checker: no probe after it returns.
			p.close()
			hc.remove(p)
			time.Sleep(20 * time.Millisecond) // a probe cut short may still reach the server
			n := probes.Load()
			time.Sleep(60 * time.Millisecond)
			if probes.Load() != n {
				t.Fatalf("probes after close: %d then %d", n, probes.Load())
			}
		})
	}
}

// gauge reads vigil_upstream_healthy of target on route r.
func gauge(t *testing.T, m *metrics.Metrics, tgt string) float64 {
	t.Helper()
	return sample(t, m, "vigil_upstream_healthy", tgt)
}

// sample reads metric name of route r (and target, when given): -1 when
// absent.
func sample(t *testing.T, m *metrics.Metrics, name, tgt string) float64 {
	t.Helper()
	mfs, err := m.Registry.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		for _, s := range mf.GetMetric() {
			var route, target string
			for _, l := range s.GetLabel() {
				switch l.GetName() {
				case "route":
					route = l.GetValue()
				case "target":
					target = l.GetValue()
				}
			}
			if route == "r" && target == tgt {
				if g := s.GetGauge(); g != nil {
					return g.GetValue()
				}
				return s.GetCounter().GetValue()
			}
		}
	}
	return -1
}

// poolHandler serves route r of a config through a real runtime.
func poolHandler(t *testing.T, route string) (*Handler, *Runtime, *metrics.Metrics) {
	t.Helper()
	cfg, err := config.Parse([]byte("listen: {http: 127.0.0.1:0}\nroutes:\n  - name: r\n"+route), "t.yaml")
	if err != nil {
		t.Fatal(err)
	}
	set, err := stage.New(cfg, stage.Deps{})
	if err != nil {
		t.Fatal(err)
	}
	m := metrics.New()
	rt, err := NewRuntime(cfg, set, m, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(rt.Close)
	return NewHandler(rt, discardEvents{}, m, slog.New(slog.DiscardHandler), "gateway"), rt, m
}

// deadURL is a loopback address nothing listens on.
func deadURL(t *testing.T) string {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	u := "http://" + l.Addr().String()
	l.Close()
	return u
}

func TestRetries(t *testing.T) {
	var hits sync.Map // url -> *atomic.Int64
	count := func(u string) int64 {
		v, _ := hits.LoadOrStore(u, new(atomic.Int64))
		return v.(*atomic.Int64).Load()
	}
	up := func(status int) string {
		var s *httptest.Server
		s = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			v, _ := hits.LoadOrStore(s.URL, new(atomic.Int64))
			v.(*atomic.Int64).Add(1)
			b, _ := io.ReadAll(r.Body)
			w.WriteHeader(status)
			_, _ = fmt.Fprintf(w, "%s %s %d", s.URL, r.Method, len(b))
		}))
		t.Cleanup(s.Close)
		return s.URL
	}
	cases := []struct {
		name     string
		method   string
		body     string
		retries  string
		targets  func() (first, second string) // round robin: first is tried first
		status   int
		hitFirst int64
		hitOther int64
		retried  float64
	}{
		{"GET after a connect failure", "GET", "", "{attempts: 1}", func() (string, string) { return deadURL(t), up(200) }, 200, 0, 1, 1},
		{"GET after a 503", "GET", "", "{attempts: 1}", func() (string, string) { return up(503), up(200) }, 200, 1, 1, 1},
		{"404 is not retried", "GET", "", "{attempts: 1}", func() (string, string) { return up(404), up(200) }, 404, 1, 0, 0},
		{"500 not in on", "GET", "", "{attempts: 1}", func() (string, string) { return up(500), up(200) }, 500, 1, 0, 0},
		{"500 in on", "GET", "", "{attempts: 1, on: ['500']}", func() (string, string) { return up(500), up(200) }, 200, 1, 1, 1},
		{"PUT with a streamed body is not retried", "PUT", "hello", "{attempts: 1}", func() (string, string) { return up(502), up(200) }, 502, 1, 0, 0},
		{"PUT with a buffered body", "PUT", "buffered:hello", "{attempts: 1}", func() (string, string) { return up(502), up(200) }, 200, 1, 1, 1},
		{"DELETE with a buffered body after a connect failure", "DELETE", "buffered:bye", "{attempts: 1}", func() (string, string) { return deadURL(t), up(200) }, 200, 0, 1, 1},
		{"POST is not retried", "POST", "", "{attempts: 1}", func() (string, string) { return up(502), up(200) }, 502, 1, 0, 0},
		{"POST to a dead target is not retried", "POST", "x", "{attempts: 1}", func() (string, string) { return deadURL(t), up(200) }, 502, 0, 0, 0},
		{"all targets tried", "GET", "", "{attempts: 5}", func() (string, string) { return up(503), up(503) }, 503, 1, 1, 1},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			a, b := tc.targets()
			h, rt, m := poolHandler(t, targets(a, b)+"    retries: "+tc.retries+"\n")
			body, buffered := strings.CutPrefix(tc.body, "buffered:")
			r := httptest.NewRequest(tc.method, "http://gw/x", strings.NewReader(body))
			if body == "" {
				r.Body, r.ContentLength = http.NoBody, 0
			}
			w := httptest.NewRecorder()
			if buffered {
				// As the handler does when a stage reads the body.
				tx := pipeline.NewTxn(r, time.Now(), "")
				if err := tx.BufferBody(1<<20, false); err != nil {
					t.Fatal(err)
				}
				rt.routes[0].proxy.ServeHTTP(tx.Writer(w, time.Second), r)
				if tx.Upstream != b {
					t.Fatalf("event upstream %q, want %q", tx.Upstream, b)
				}
			} else {
				h.ServeHTTP(w, r)
			}
			tc.body = body
			if w.Code != tc.status {
				t.Fatalf("status %d, want %d: %s", w.Code, tc.status, w.Body)
			}
			if tc.status == 200 && !strings.HasPrefix(w.Body.String(), b+" "+tc.method+" "+fmt.Sprint(len(tc.body))) {
				t.Fatalf("answer %q, want from %s with the whole body", w.Body, b)
			}
			if count(a) != tc.hitFirst || count(b) != tc.hitOther {
				t.Fatalf("first target saw %d, second %d; want %d, %d", count(a), count(b), tc.hitFirst, tc.hitOther)
			}
			if got := sample(t, m, "vigil_upstream_retries_total", ""); got != tc.retried {
				t.Fatalf("retries counter %v, want %v", got, tc.retried)
			}
		})
	}
}

// TestPoolNoGoroutineLeak builds and closes runtimes with health checkers,
// as reloads do, and checks the checkers are gone.
func TestPoolNoGoroutineLeak(t *testing.T) {
	s, _, probes := healthServer(t)
	route := targets(s.URL) + "    health_check: {path: /healthz, interval: 10ms, timeout: 5ms}\n"
	_, rt, _ := poolHandler(t, route)
	waitFor(t, "a probe", func() bool { return probes.Load() > 0 })
	for range 5 {
		_, next, _ := poolHandler(t, route)
		rt.Close()
		rt = next
	}
	rt.Close()
	time.Sleep(20 * time.Millisecond) // a probe cut short may still reach the server
	n := probes.Load()
	time.Sleep(50 * time.Millisecond)
	if probes.Load() != n {
		t.Fatal("a closed runtime's checker still probes")
	}
}

var sink *target

// BenchmarkPick measures target selection: no allocation, no lock.
func BenchmarkPick(b *testing.B) {
	urls := targets("http://10.0.0.1", "{url: http://10.0.0.2, weight: 3}", "http://10.0.0.3", "http://10.0.0.4")
	for _, bc := range []struct{ name, balance string }{
		{"round_robin", ""},
		{"least_request", "    balance: {policy: least_request}\n"},
		{"consistent_hash", "    balance: {policy: consistent_hash, hash_on: \"header:X-User\"}\n"},
	} {
		b.Run(bc.name, func(b *testing.B) {
			p, _ := testPool(b, urls+bc.balance)
			r := &http.Request{Header: http.Header{"X-User": {"user-42"}}}
			b.ReportAllocs()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					k, ok := p.key(r, nil)
					t := p.pick(k, ok, 0, true)
					t.inflight.Add(1)
					t.inflight.Add(-1)
				}
			})
		})
	}
}

func TestPickAllocs(t *testing.T) {
	for _, balance := range []string{"", "    balance: {policy: least_request}\n", "    balance: {policy: consistent_hash, hash_on: \"cookie:s\"}\n"} {
		p, _ := testPool(t, targets("http://a", "http://b", "http://c")+balance)
		r := &http.Request{Header: http.Header{"Cookie": {"x=1; s=abc"}}}
		if n := testing.AllocsPerRun(1000, func() { k, ok := p.key(r, nil); sink = p.pick(k, ok, 0, true) }); n != 0 {
			t.Errorf("%q: %v allocations per pick", balance, n)
		}
	}
}

// TestHealthCollectorReload: runtimes sharing a registry (a reload) share
// one collector, and the newest pool of a route speaks for its targets.
func TestHealthCollectorReload(t *testing.T) {
	m := metrics.New()
	hc := healthCollectorFor(m)
	if again := healthCollectorFor(m); again != hc {
		t.Fatal("a second runtime registered a second collector")
	}
	old, _ := testPool(t, targets("http://a", "http://b"))
	cur, _ := testPool(t, targets("http://a"))
	old.targets[0].down.Store(true)
	hc.add(old)
	if gauge(t, m, "http://a") != 0 || gauge(t, m, "http://b") != 1 {
		t.Fatal("old pool not exported")
	}
	hc.add(cur) // the reloaded runtime: a is healthy there
	if gauge(t, m, "http://a") != 1 {
		t.Fatal("the newest pool does not speak for its target")
	}
	hc.remove(old) // the old runtime retired: b is gone from the config
	if gauge(t, m, "http://b") != -1 || gauge(t, m, "http://a") != 1 {
		t.Fatal("a retired pool is still exported")
	}
}
