package traffic

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"regexp"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/vigil-sec/vigil/internal/demo/shop"
)

// seen is what the front proxy recorded for one request.
type seen struct {
	method, requestURI, path, scenario string
	status                             int
}

// frontProxy is a minimal loopback gateway: it routes by shop.Routes, like
// Vigil's gateway would, and records every request with its status.
type frontProxy struct {
	mu   sync.Mutex
	reqs []seen
	srv  *httptest.Server
}

func startFront(t *testing.T, s *shop.Shop) *frontProxy {
	t.Helper()
	fp := &frontProxy{}
	routes := s.Routes()
	proxies := make([]*httputil.ReverseProxy, len(routes))
	for i, r := range routes {
		u, err := url.Parse(r.Upstream)
		if err != nil {
			t.Fatal(err)
		}
		proxies[i] = httputil.NewSingleHostReverseProxy(u)
	}
	fp.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rec := &statusWriter{ResponseWriter: w, status: 200}
		for i, rt := range routes {
			if strings.HasPrefix(r.URL.Path, rt.PathPrefix) {
				proxies[i].ServeHTTP(rec, r)
				break
			}
		}
		fp.mu.Lock()
		fp.reqs = append(fp.reqs, seen{r.Method, r.RequestURI, r.URL.Path, r.Header.Get("X-Demo-Scenario"), rec.status})
		fp.mu.Unlock()
	}))
	t.Cleanup(fp.srv.Close)
	return fp
}

func (fp *frontProxy) list() []seen {
	fp.mu.Lock()
	defer fp.mu.Unlock()
	return slices.Clone(fp.reqs)
}

type statusWriter struct {
	http.ResponseWriter
	status int
}

func (w *statusWriter) WriteHeader(code int) {
	w.status = code
	w.ResponseWriter.WriteHeader(code)
}

func startShop(t *testing.T) *shop.Shop {
	t.Helper()
	s, err := shop.Start(t.Context(), shop.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// specEndpoints is the SPEC's demo endpoint set, as the server sees it.
func specEndpoints() map[string]*regexp.Regexp {
	return map[string]*regexp.Regexp{
		"GET /cart/clear/{parameter}":     regexp.MustCompile(`^/cart/clear/\d+$`),
		"POST /cart/item/add/{parameter}": regexp.MustCompile(`^/cart/item/add/\d+$`),
		"GET /cart/items/{parameter}":     regexp.MustCompile(`^/cart/items/\d+$`),
		"GET /cart/total/{parameter}":     regexp.MustCompile(`^/cart/total/\d+$`),
		"POST /login":                     regexp.MustCompile(`^/login$`),
		"POST /order/add/{parameter}":     regexp.MustCompile(`^/order/add/\d+$`),
		"GET /products":                   regexp.MustCompile(`^/products$`),
		"GET /products/{parameter}":       regexp.MustCompile(`^/products/\d+$`),
		"GET /users/{parameter}":          regexp.MustCompile(`^/users/\d+$`),
	}
}

// TestRunAgainstShop plays shoppers and attacks through a loopback proxy in
// front of the real shop, and checks what the server side saw.
func TestRunAgainstShop(t *testing.T) {
	s := startShop(t)
	fp := startFront(t, s)
	// The run stops, through ctx, as soon as it has done everything checked
	// below (usually within one or two seconds); the deadline is for a
	// heavily loaded machine.
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	var ticks atomic.Int64
	done := func(st Stats) bool {
		for ep := range specEndpoints() {
			if st.ByEndpoint[ep] == 0 {
				return false
			}
		}
		for _, k := range attackScenarios() {
			if st.ByScenario[k] == 0 {
				return false
			}
		}
		return st.Orders > 0
	}
	start := time.Now()
	st, err := Run(ctx, Options{
		BaseURL: fp.srv.URL, Shoppers: 4, Duration: 20 * time.Second, AttackRate: 20, Seed: 1,
		ThinkTime: 3 * time.Millisecond, TickInterval: 100 * time.Millisecond, TagHeader: "X-Demo-Scenario",
	}, func(st Stats) {
		ticks.Add(1)
		if done(st) {
			cancel()
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	if took := time.Since(start); took > 19*time.Second {
		t.Fatalf("Run took %s: it did not stop when ctx was cancelled, or never did everything", took)
	}
	t.Logf("\n%s", st.Summary())

	// Server side: every SPEC endpoint answered with a 2xx at least once.
	reqs := fp.list()
	for ep, re := range specEndpoints() {
		method, _, _ := strings.Cut(ep, " ")
		ok := slices.ContainsFunc(reqs, func(r seen) bool {
			return r.method == method && re.MatchString(r.path) && r.status/100 == 2 && r.scenario != "" && !isAttack(r.scenario)
		})
		if !ok {
			t.Errorf("no successful %s reached the shop", ep)
		}
		if st.ByEndpoint[ep] == 0 {
			t.Errorf("Stats.ByEndpoint[%q] = 0", ep)
		}
	}
	// The checkout flow went all the way to the payment provider.
	// (An order cut short by the end of the run may be charged but not
	// counted.)
	if st.Orders == 0 || int64(len(s.Charges())) < st.Orders || int64(len(s.Charges())) > st.Orders+4 {
		t.Errorf("orders %d, charges %d", st.Orders, len(s.Charges()))
	}
	// Attacks: every kind sent, none judged blocked by a shop without Vigil.
	for _, k := range attackScenarios() {
		if st.ByScenario[k] == 0 {
			t.Errorf("no %s attack sent", k)
		}
	}
	if st.AttacksBlocked != 0 {
		t.Errorf("AttacksBlocked = %d with no gateway: %v", st.AttacksBlocked, st.BlockedByScenario)
	}
	if !slices.ContainsFunc(reqs, func(r seen) bool {
		return strings.Contains(r.requestURI, "..") || strings.Contains(r.requestURI, "%2e%2e")
	}) {
		t.Error("the path traversal did not reach the server raw")
	}
	if !slices.ContainsFunc(reqs, func(r seen) bool {
		return r.scenario == AttackSQLi && (strings.Contains(r.requestURI, "OR+1%3D1") || strings.Contains(r.requestURI, "UNION") ||
			strings.Contains(r.requestURI, "DROP") || r.method == http.MethodPost && r.path == "/login")
	}) {
		t.Error("no SQL injection reached the server")
	}
	// The server also sees the request hidden in each smuggling attempt, and
	// the requests in flight when the run ended (at most one per shopper and
	// one for the attacker), which the generator does not count.
	if n := int64(len(reqs)); n < st.Requests || n > st.Requests+st.ByScenario[AttackSmuggling]+5 || st.Errors != 0 {
		t.Errorf("generator counted %d requests (%d errors), the server saw %d", st.Requests, st.Errors, len(reqs))
	}
	if want := int64(st.Elapsed/(100*time.Millisecond)) / 2; ticks.Load() < want {
		t.Errorf("onTick called %d times in %s at a 100ms interval", ticks.Load(), st.Elapsed)
	}
}

func isAttack(scenario string) bool { return slices.Contains(attackScenarios(), scenario) }

// TestBlockedCounting runs attacks only against a server that blocks them
// the way a gateway would.
func TestBlockedCounting(t *testing.T) {
	gw := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		switch {
		case slices.Contains(r.TransferEncoding, "chunked"):
			w.WriteHeader(http.StatusBadRequest)
		case r.Header.Get("X-Scenario") == AttackBruteForce:
			w.WriteHeader(http.StatusTooManyRequests)
		case isAttack(r.Header.Get("X-Scenario")), r.URL.Path == "/admin": // the smuggled request
			w.WriteHeader(http.StatusForbidden)
		default:
			t.Errorf("unexpected request %s %s", r.Method, r.RequestURI)
		}
	}))
	t.Cleanup(gw.Close)
	var blocked atomic.Int64
	st, err := Run(t.Context(), Options{
		BaseURL: gw.URL, Shoppers: -1, Duration: time.Second, AttackRate: 30, Seed: 3, TagHeader: "X-Scenario",
		OnRequest: func(r Record) {
			if r.Blocked {
				blocked.Add(1)
			}
		},
	}, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("\n%s", st.Summary())
	if st.Attacks < int64(len(attackScenarios())) || st.AttacksBlocked != st.Attacks || blocked.Load() != st.Attacks {
		t.Fatalf("attacks %d, blocked %d, OnRequest saw %d blocked", st.Attacks, st.AttacksBlocked, blocked.Load())
	}
	// A burst stops where the run's time ends, so its length is not
	// checked; every one of its requests must have met the limit.
	if st.ByScenario[AttackBruteForce] == 0 || st.ByStatus[429] != st.ByScenario[AttackBruteForce] {
		t.Fatalf("brute force: %d requests, %d answered 429", st.ByScenario[AttackBruteForce], st.ByStatus[429])
	}
	if st.ByScenario[AttackSmuggling] == 0 || st.BlockedByScenario[AttackSmuggling] != st.ByScenario[AttackSmuggling] {
		t.Fatalf("smuggling: %d sent, %d blocked", st.ByScenario[AttackSmuggling], st.BlockedByScenario[AttackSmuggling])
	}
	if !strings.Contains(st.Summary(), "100%") {
		t.Fatalf("summary does not show 100%% blocked:\n%s", st.Summary())
	}
}

// TestCancel checks that Run returns promptly when ctx is cancelled, calls
// onTick no more after that, and leaves no goroutine behind.
func TestCancel(t *testing.T) {
	before := runtime.NumGoroutine()
	s, err := shop.Start(t.Context(), shop.Options{})
	if err != nil {
		t.Fatal(err)
	}
	fp := startFront(t, s)
	ctx, cancel := context.WithCancel(t.Context())
	var returned atomic.Bool
	var lateTicks atomic.Int64
	time.AfterFunc(400*time.Millisecond, cancel)
	start := time.Now()
	st, err := Run(ctx, Options{BaseURL: fp.srv.URL, Shoppers: 8, AttackRate: 5, Seed: 2, TickInterval: 20 * time.Millisecond}, func(Stats) {
		if returned.Load() {
			lateTicks.Add(1)
		}
	})
	returned.Store(true)
	took := time.Since(start)
	if err != nil {
		t.Fatal(err)
	}
	if took > 3*time.Second {
		t.Fatalf("Run returned %s after start, cancel was at 400ms", took)
	}
	if st.Requests == 0 || st.Errors != 0 {
		t.Fatalf("requests %d, errors %d", st.Requests, st.Errors)
	}
	time.Sleep(50 * time.Millisecond)
	if n := lateTicks.Load(); n != 0 {
		t.Fatalf("onTick called %d times after Run returned", n)
	}
	// Stop everything the test started; whatever remains was leaked by Run.
	fp.srv.Close()
	s.Close()
	http.DefaultTransport.(*http.Transport).CloseIdleConnections() // the front proxy's
	deadline := time.Now().Add(5 * time.Second)
	for runtime.NumGoroutine() > before && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if n := runtime.NumGoroutine(); n > before {
		buf := make([]byte, 1<<16)
		t.Fatalf("%d goroutines before Run, %d after:\n%s", before, n, buf[:runtime.Stack(buf, true)])
	}
}

// TestDeterministic checks that a seed fixes the sequence of requests.
func TestDeterministic(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		if r.URL.Path == "/login" {
			io.WriteString(w, `{"token":"t","user_id":17}`)
		}
	}))
	t.Cleanup(srv.Close)
	// Each test case has one sending goroutine, so OnRequest sees the
	// requests in the order they were sent.
	run := func(opts Options) []string {
		var mu sync.Mutex
		var got []string
		opts.BaseURL, opts.Duration = srv.URL, 400*time.Millisecond
		opts.OnRequest = func(r Record) {
			mu.Lock()
			defer mu.Unlock()
			got = append(got, r.Method+" "+r.Target)
		}
		if _, err := Run(t.Context(), opts, nil); err != nil {
			t.Fatal(err)
		}
		mu.Lock()
		defer mu.Unlock()
		return got
	}
	tests := []struct {
		name string
		opts Options
	}{
		{"one shopper", Options{Shoppers: 1, AttackRate: -1, ThinkTime: -1}},
		{"attacker", Options{Shoppers: -1, AttackRate: 200}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.opts.Seed = 7
			a, b := run(tt.opts), run(tt.opts)
			tt.opts.Seed = 8
			c := run(tt.opts)
			n := min(len(a), len(b), len(c))
			if n < 10 {
				t.Fatalf("too few requests to compare: %d %d %d", len(a), len(b), len(c))
			}
			if !slices.Equal(a[:n], b[:n]) {
				t.Fatalf("same seed, different requests:\n%q\n%q", a[:n], b[:n])
			}
			if slices.Equal(a[:n], c[:n]) {
				t.Fatalf("seeds 7 and 8 sent the same %d requests", n)
			}
		})
	}
}

func TestOptionsErrors(t *testing.T) {
	for _, base := range []string{"", "ftp://example.com", "http://", "://x", "localhost:8080"} {
		if _, err := Run(t.Context(), Options{BaseURL: base}, nil); err == nil {
			t.Errorf("BaseURL %q: no error", base)
		}
	}
}

func TestSummary(t *testing.T) {
	st := Stats{
		Elapsed: 10 * time.Second, Requests: 1234, Errors: 2, Orders: 12,
		ByStatus:          map[int]int64{200: 1100, 201: 40, 403: 30, 401: 64},
		ByScenario:        map[string]int64{ScenarioBrowse: 900, AttackSQLi: 4, AttackBruteForce: 30},
		Attacks:           34,
		AttacksBlocked:    19,
		BlockedByScenario: map[string]int64{AttackSQLi: 4, AttackBruteForce: 15},
	}
	want := []string{
		"requests  1234 in 10s (123.4/s), 2 errors, 12 orders paid",
		"status    200:1100 201:40 401:64 403:30",
		"attacks   34 sent, 19 blocked (56%)",
		"sqli 4/4, brute_force 15/30 (blocked/sent)",
	}
	got := st.Summary()
	for _, w := range want {
		if !strings.Contains(got, w) {
			t.Errorf("summary lacks %q:\n%s", w, got)
		}
	}
	if (Stats{}).Summary() == "" || (Stats{}).RequestsPerSecond() != 0 {
		t.Error("zero Stats")
	}
}
