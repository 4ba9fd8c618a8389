package ui_test

import (
	"context"
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/vigil-sec/vigil/internal/discovery"
	"github.com/vigil-sec/vigil/internal/event"
	"github.com/vigil-sec/vigil/internal/store"
	"github.com/vigil-sec/vigil/internal/store/storetest"
	"github.com/vigil-sec/vigil/internal/ui"
)

// The store the page benchmarks run against: the acceptance's 10,000
// endpoints and 1,000,000 events.
const (
	benchEndpoints = 10_000
	benchEvents    = 1_000_000
	benchHosts     = 20
	// benchSeed names the seed's shape; change it when seedBench changes,
	// so that cached databases are seeded again (a change to the store's
	// migrations does that by itself: seedName).
	benchSeed  = "ui-pages-v1"
	benchToken = "vgl_bench_admin"
	// benchPGDatabase is the PostgreSQL database the seed is kept in.
	benchPGDatabase = "vigil_uibench"
)

// benchFindings are the seeded blocks' findings, in rotation.
var benchFindings = [...]event.Finding{
	{Stage: "waf", Layer: "waf", RuleID: "942100", Kind: "sqli", Severity: "critical", Action: "block", Message: "SQL Injection Attack Detected via libinjection"},
	{Stage: "waf", Layer: "waf", RuleID: "941100", Kind: "xss", Severity: "critical", Action: "block", Message: "XSS Attack Detected via libinjection"},
	{Stage: "waf", Layer: "waf", RuleID: "930120", Kind: "lfi", Severity: "critical", Action: "block", Message: "OS File Access Attempt"},
	{Stage: "openapi", Layer: "openapi", RuleID: "undocumented_endpoint", Kind: "undocumented", Severity: "warning", Action: "block"},
	{Stage: "authz", Layer: "authz", RuleID: "own-cart", Kind: "bola", Severity: "high", Action: "block"},
}

func benchHost(e int) string { return fmt.Sprintf("api-%02d.bench.example", e%benchHosts) }
func benchPath(e int) string { return fmt.Sprintf("/v1/res%04d/{parameter}", e) }
func benchMethod(e int) string {
	return [...]string{"GET", "POST", "PUT", "DELETE", "GET"}[e%5]
}

// BenchmarkPages measures each dashboard page (a full GET through the
// handler, signed in) against a store with 10,000 endpoints and
// 1,000,000 events, on SQLite and on the local PostgreSQL. The seeded
// databases are kept (SQLite under the user cache dir, PostgreSQL in the
// database vigil_uibench) and reused while they hold the seed.
//
//	go test -run '^$' -bench BenchmarkPages -benchtime 20x ./internal/ui
func BenchmarkPages(b *testing.B) {
	ep := store.EndpointID(benchHost(42), benchMethod(42), benchPath(42))
	benchPagesOn(b, []benchPage{
		{"overview", "/ui/"},
		{"inventory", "/ui/inventory"},
		{"inventory_filtered", "/ui/inventory?q=res004"},
		{"inventory_by_hits", "/ui/inventory?sort=hits&dir=desc"},
		{"endpoint", "/ui/endpoints/" + ep},
		{"findings", "/ui/findings"},
		{"findings_by_rule", "/ui/findings?rule_id=930120"},
		{"event", "/ui/events/" + benchTxn(123_457)},
	})
}

// benchPage is one page a benchmark GETs: a sub-benchmark name and a path.
type benchPage struct{ name, path string }

// benchPagesOn runs a sub-benchmark per page on each backend (sqlite,
// postgres), against the cached seeded store, through ui.New(...).Register
// on an httptest server, signed in as admin.
func benchPagesOn(b *testing.B, pages []benchPage) {
	for _, backend := range []struct {
		name string
		open func(b *testing.B) store.Store
	}{
		{"sqlite", openBenchSQLite},
		{"postgres", openBenchPostgres},
	} {
		b.Run(backend.name, func(b *testing.B) {
			st := backend.open(b)
			seeded := seedBench(b, st)
			srv := httptest.NewServer(benchMux(b, st, seeded))
			defer srv.Close()
			c := signIn(b, srv.URL)
			for _, p := range pages {
				b.Run(p.name, func(b *testing.B) {
					b.ReportAllocs()
					get(b, c, srv.URL+p.path) // warm, and the page exists
					for b.Loop() {
						get(b, c, srv.URL+p.path)
					}
				})
			}
		})
	}
}

func benchMux(b *testing.B, st store.Store, now time.Time) *http.ServeMux {
	s, err := ui.New(ui.Options{Store: st, Token: benchToken, Logger: slog.New(slog.DiscardHandler),
		Now: func() time.Time { return now }})
	if err != nil {
		b.Fatal(err)
	}
	mux := http.NewServeMux()
	s.Register(mux)
	return mux
}

// signIn posts the admin token through the login form and returns a
// client holding the session cookie.
func signIn(b *testing.B, base string) *http.Client {
	jar, _ := cookiejar.New(nil)
	c := &http.Client{Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	r, err := c.Get(base + "/ui/login")
	if err != nil {
		b.Fatal(err)
	}
	r.Body.Close()
	u, _ := url.Parse(base + "/ui/login")
	var csrf string
	for _, ck := range jar.Cookies(u) {
		if ck.Name == "vigil_csrf" {
			csrf = ck.Value // the double-submit token is the cookie's value
		}
	}
	r, err = c.PostForm(base+"/ui/login", url.Values{"token": {benchToken}, "csrf": {csrf}})
	if err != nil {
		b.Fatal(err)
	}
	r.Body.Close()
	if r.StatusCode != http.StatusSeeOther {
		b.Fatalf("sign-in: %s", r.Status)
	}
	return c
}

func get(b *testing.B, c *http.Client, u string) {
	r, err := c.Get(u)
	if err != nil {
		b.Fatal(err)
	}
	n, _ := io.Copy(io.Discard, r.Body)
	r.Body.Close()
	if r.StatusCode != http.StatusOK || n == 0 {
		b.Fatalf("GET %s: %s, %d bytes", u, r.Status, n)
	}
}

func benchTxn(i int) string { return fmt.Sprintf("%s-%07d", benchSeed, i) }

// seedName names the cached databases: benchSeed and a digest of the
// store's migrations, so that a schema change (a new index, a read model
// InsertEvents fills) seeds again rather than measuring a store the
// current code would not have built.
func seedName(b *testing.B) string {
	files, err := filepath.Glob("../store/migrations/*/*.sql")
	if err != nil || len(files) == 0 {
		b.Fatalf("store migrations not found: %v", err)
	}
	h := sha256.New()
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			b.Fatal(err)
		}
		fmt.Fprintf(h, "%s %d\n", f, len(data))
		h.Write(data)
	}
	return fmt.Sprintf("%s-%x", benchSeed, h.Sum(nil)[:4])
}

// openBenchSQLite opens the cached SQLite file of this seed (under
// os.UserCacheDir()/vigil-bench), removing those of other seeds. A
// missing or incomplete one is seeded in a file of its own and renamed
// into place when complete, so that concurrent or interrupted runs never
// leave a half-seeded cache.
func openBenchSQLite(b *testing.B) store.Store {
	dir, err := os.UserCacheDir()
	if err != nil {
		dir = os.TempDir()
	}
	dir = filepath.Join(dir, "vigil-bench")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		b.Fatal(err)
	}
	name := seedName(b)
	stale, _ := filepath.Glob(filepath.Join(dir, "ui-pages-*"))
	for _, f := range stale {
		if !strings.HasPrefix(filepath.Base(f), name+".db") {
			os.Remove(f)
		}
	}
	open := func(file string) store.Store {
		st, err := store.Open(context.Background(), "sqlite://"+file, dir)
		if err != nil {
			b.Fatal(err)
		}
		return st
	}
	final := filepath.Join(dir, name+".db")
	if _, err := os.Stat(final); err == nil {
		st := open(final)
		if _, ok := seedOf(st); ok {
			b.Cleanup(func() { st.Close() })
			return st
		}
		st.Close()
		for _, f := range []string{final, final + "-wal", final + "-shm"} {
			os.Remove(f)
		}
	}
	tmp := fmt.Sprintf("%s.seeding-%d", final, os.Getpid())
	st := open(tmp)
	seedBench(b, st)
	if err := st.Close(); err != nil {
		b.Fatal(err)
	}
	if err := os.Rename(tmp, final); err != nil {
		b.Fatal(err)
	}
	st = open(final)
	b.Cleanup(func() { st.Close() })
	return st
}

// openBenchPostgres opens this seed's schema in the database
// vigil_uibench on the test server (VIGIL_TEST_POSTGRES, default
// storetest.DefaultPostgres), creating the database when missing and
// dropping the schemas of other seeds; skips without a server. A missing
// or incomplete schema is seeded under a name of its own and renamed
// into place when complete.
func openBenchPostgres(b *testing.B) store.Store {
	base := os.Getenv("VIGIL_TEST_POSTGRES")
	if base == "" {
		base = storetest.DefaultPostgres
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	conn, err := pgx.Connect(ctx, base)
	if err != nil {
		b.Skipf("postgres unreachable: %v", err)
	}
	var exists bool
	err = conn.QueryRow(ctx, "SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1)", benchPGDatabase).Scan(&exists)
	if err == nil && !exists {
		_, err = conn.Exec(ctx, "CREATE DATABASE "+benchPGDatabase)
	}
	conn.Close(ctx)
	if err != nil {
		b.Fatalf("database %s: %v", benchPGDatabase, err)
	}
	u, err := url.Parse(base)
	if err != nil {
		b.Fatal(err)
	}
	u.Path = "/" + benchPGDatabase
	schema := strings.ReplaceAll(seedName(b), "-", "_")
	if conn, err = pgx.Connect(ctx, u.String()); err != nil {
		b.Fatal(err)
	}
	defer conn.Close(ctx)
	exec := func(q string) {
		if _, err := conn.Exec(ctx, q); err != nil {
			b.Fatal(err)
		}
	}
	rows, err := conn.Query(ctx, "SELECT nspname FROM pg_namespace WHERE nspname LIKE 'ui\\_pages\\_%' AND nspname NOT LIKE $1 || '%'", schema)
	if err != nil {
		b.Fatal(err)
	}
	stale, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		b.Fatal(err)
	}
	for _, sc := range stale {
		exec("DROP SCHEMA " + sc + " CASCADE")
	}
	open := func(sc string) store.Store {
		q := u.Query()
		q.Set("search_path", sc)
		v := *u
		v.RawQuery = q.Encode()
		st, err := store.Open(context.Background(), v.String(), b.TempDir())
		if err != nil {
			b.Fatal(err)
		}
		return st
	}
	if err := conn.QueryRow(ctx, "SELECT EXISTS (SELECT 1 FROM pg_namespace WHERE nspname = $1)", schema).Scan(&exists); err != nil {
		b.Fatal(err)
	}
	if exists {
		st := open(schema)
		if _, ok := seedOf(st); ok {
			b.Cleanup(func() { st.Close() })
			return st
		}
		st.Close()
		exec("DROP SCHEMA " + schema + " CASCADE")
	}
	tmp := fmt.Sprintf("%s_seeding_%d", schema, os.Getpid())
	exec("DROP SCHEMA IF EXISTS " + tmp + " CASCADE")
	exec("CREATE SCHEMA " + tmp)
	st := open(tmp)
	seedBench(b, st)
	st.Close()
	exec("ALTER SCHEMA " + tmp + " RENAME TO " + schema)
	// Planner statistics, as autovacuum would gather them in a while: a
	// freshly bulk-loaded schema has none, and the pages' plans vary.
	exec("ANALYZE")
	st = open(schema)
	b.Cleanup(func() { st.Close() })
	return st
}

// seedKey is the setting a finished seed writes: its name and the time
// the events lead up to, which the dashboard's clock is set to, so that
// the pages' time windows hold the same events whenever the bench runs.
const seedKey = "bench/" + benchSeed

// seedOf returns the seed's "now" when st holds the whole seed.
func seedOf(st store.Store) (time.Time, bool) {
	ctx := context.Background()
	var now time.Time
	v, _, err := st.GetSetting(ctx, seedKey)
	if err != nil || now.UnmarshalText(v) != nil {
		return now, false
	}
	n, err := st.CountEvents(ctx)
	return now, err == nil && n == benchEvents
}

// seedBench fills st with the benchmark's endpoints and events unless it
// already holds them, and returns the seed's "now".
func seedBench(b *testing.B, st store.Store) time.Time {
	ctx := context.Background()
	if now, ok := seedOf(st); ok {
		return now
	}
	if n, err := st.CountEvents(ctx); err != nil || n != 0 {
		b.Fatalf("the bench store holds %d events but not the seed (%v)", n, err)
	}
	start := time.Now()
	now := start.UTC().Truncate(time.Second)
	seedBenchEndpoints(b, st, now)
	// Events over the day before now, newest first; a sixth are blocks
	// with a finding (storetest.Events' decisions), a tenth alerts.
	const batch = 2000
	step := 24 * time.Hour / benchEvents
	for i := 0; i < benchEvents; i += batch {
		evs := storetest.Events("seed", batch, now)
		for j := range evs {
			k := i + j
			e := k * 7919 % benchEndpoints // spread over the inventory, hot and cold
			if k%3 == 0 {
				e = k / 3 % 50 // a few hot endpoints
			}
			ev := &evs[j]
			ev.TxnID = benchTxn(k)
			ev.TraceID = fmt.Sprintf("%032x", k)
			ev.Time = now.Add(-time.Duration(k) * step)
			ev.Destination.Host = benchHost(e)
			ev.Request.Method = benchMethod(e)
			ev.Request.Endpoint = benchPath(e)
			ev.Request.Path = strings.Replace(benchPath(e), "{parameter}", fmt.Sprint(k%1000), 1)
			if ev.Alert != nil {
				ev.Alert.Host, ev.Alert.Method, ev.Alert.Endpoint = ev.Destination.Host, ev.Request.Method, ev.Request.Endpoint
			}
			if len(ev.Findings) > 0 {
				ev.Findings = []event.Finding{benchFindings[k/6%len(benchFindings)]}
			}
			if ev.Decision == event.DecisionChallenge {
				ev.Findings = []event.Finding{{Stage: "bot", Layer: "bot", RuleID: "bot-score", Kind: "bot", Severity: "warning", Action: "challenge"}}
			}
		}
		if _, err := st.InsertEvents(ctx, evs); err != nil {
			b.Fatal(err)
		}
	}
	v, _ := now.MarshalText()
	if _, err := st.PutSetting(ctx, seedKey, v); err != nil {
		b.Fatal(err)
	}
	b.Logf("seeded %d endpoints and %d events in %s", benchEndpoints, benchEvents, time.Since(start).Round(time.Second))
	return now
}

// seedBenchEndpoints upserts the benchmark's 10,000 inventory rows.
func seedBenchEndpoints(b *testing.B, st store.Store, now time.Time) {
	eps := make([]store.Endpoint, 0, 500)
	for e := range benchEndpoints {
		eps = append(eps, benchEndpoint(e, now))
		if len(eps) == cap(eps) || e == benchEndpoints-1 {
			if err := st.UpsertEndpoints(context.Background(), eps); err != nil {
				b.Fatal(err)
			}
			eps = eps[:0]
		}
	}
}

// benchEndpoint is inventory row e, with the detail discovery keeps
// (parameters, schemas, sensitive fields) as the endpoint page shows it.
func benchEndpoint(e int, now time.Time) store.Endpoint {
	host, method, path := benchHost(e), benchMethod(e), benchPath(e)
	status := [...]string{"documented", "documented", "shadow", "zombie", ""}[e%5]
	var sensitive []string
	if e%4 == 0 {
		sensitive = []string{"email", "name"}
	}
	d := discovery.Endpoint{ID: store.EndpointID(host, method, path), Host: host, Method: method, Path: path, Kind: "rest",
		Hits: int64(1 + e%997*13), FirstSeen: now.Add(-48 * time.Hour), LastSeen: now.Add(-time.Duration(e) * time.Second),
		Protected: e%3 != 0, Status: status, Sensitive: sensitive,
		StatusCodes: map[int]int64{200: int64(e%997*12 + 1), 404: int64(e % 13)}, LatencyMS: discovery.Latency{Avg: 3.2, Max: 41},
		Auth:        map[string]int64{"bearer_jwt": int64(e % 997 * 13)},
		QueryParams: []discovery.Param{{Name: "limit", Seen: 40, Schema: map[string]any{"type": "integer"}}, {Name: "cursor", Seen: 12, Schema: map[string]any{"type": "string"}}},
		PathParams:  []discovery.PathParam{{Position: 2, Name: "{parameter}", Kind: "integer", Examples: []string{"17", "42", "993"}}},
		RequestSchema: map[string]any{"type": "object", "properties": map[string]any{
			"email": map[string]any{"type": "string", "format": "email"}, "qty": map[string]any{"type": "integer"}}},
		ResponseSchemas: map[string]any{"200": map[string]any{"type": "object", "properties": map[string]any{
			"id": map[string]any{"type": "integer"}, "name": map[string]any{"type": "string"}, "items": map[string]any{"type": "array"}}}},
	}
	if sensitive != nil {
		d.SensitiveFields = map[string][]string{"request.body.$.email": {"email"}, "response.body.$.name": {"name"}}
	}
	detail, _ := json.Marshal(d)
	return store.Endpoint{Host: host, Method: method, Path: path, Hits: d.Hits, FirstSeen: d.FirstSeen, LastSeen: d.LastSeen,
		Protected: d.Protected, Status: status, Sensitive: sensitive, Detail: detail}
}
