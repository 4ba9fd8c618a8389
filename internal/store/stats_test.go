package store_test

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"path/filepath"
	"reflect"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/vigil-sec/vigil/internal/event"
	"github.com/vigil-sec/vigil/internal/store"
	"github.com/vigil-sec/vigil/internal/store/storetest"
)

func TestStatsSQLite(t *testing.T) { runStats(t, storetest.SQLite) }

func TestStatsPostgres(t *testing.T) {
	storetest.Postgres(t) // skips (or fails under CI=true) when unreachable
	runStats(t, storetest.Postgres)
}

func runStats(t *testing.T, newDB storetest.NewDB) {
	tests := []struct {
		name string
		fn   func(t *testing.T, s store.Store)
	}{
		{"Overview", testOverview},
		{"ListFindingsFilters", testListFindings},
		{"ListFindingsPaging", testFindingsPaging},
		{"FindingSeries", testFindingSeries},
		{"GetEvent", testGetEvent},
		{"PruneTrimsReadModels", testPruneReadModels},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dsn, dir := newDB(t)
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			s, err := store.Open(ctx, dsn, dir)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { s.Close() })
			tc.fn(t, s)
		})
	}
}

// statsBase is a whole minute, so the tests know which minute each event
// falls in.
var statsBase = time.Now().Add(-30 * time.Minute).Truncate(time.Minute).UTC()

// tx is a transaction event at statsBase+offset.
func tx(id string, offset time.Duration, decision, endpoint, ip, sub string, findings ...event.Finding) event.Event {
	ev := event.Event{TxnID: id, Time: statsBase.Add(offset), Placement: "gateway", Mode: "enforce",
		Source: event.Source{IP: ip}, Destination: event.Destination{Host: "shop.example"},
		Request:  event.Request{Method: "GET", Path: endpoint, Endpoint: endpoint},
		Decision: decision, Findings: findings}
	if sub != "" {
		ev.Identity = &event.Identity{Sub: sub, TokenID: "sha256:0123456789abcdef"}
	}
	return ev
}

var (
	sqli = event.Finding{Stage: "waf", Layer: "waf", RuleID: "942100", Kind: "sqli", Severity: "critical", Action: "block", Message: "SQL injection"}
	rate = event.Finding{Stage: "ratelimit", Layer: "ratelimit", Kind: "rate_limited", Action: "block"}
	bot  = event.Finding{Stage: "bot", Layer: "bot", RuleID: "bot-ua", Kind: "bad_bot", Action: "challenge"}
)

func statsEvents() []event.Event {
	evs := []event.Event{
		tx("a1", 10*time.Second, "allow", "/products", "10.0.0.1", "alice"),
		tx("a2", 20*time.Second, "allow", "/products", "10.0.0.1", "alice"),
		tx("a3", 70*time.Second, "allow", "/cart", "10.0.0.2", "bob"),
		tx("b1", 75*time.Second, "block", "/login", "203.0.113.9", "", sqli),
		tx("b2", 80*time.Second, "block", "/login", "203.0.113.9", "", sqli, rate),
		tx("b3", 130*time.Second, "block", "/products", "198.51.100.7", "mallory", rate),
		tx("c1", 135*time.Second, "challenge", "/products", "198.51.100.7", "mallory", bot),
		// Outside the windows the tests ask for.
		tx("old", -2*time.Hour, "block", "/login", "192.0.2.1", "", sqli),
	}
	alert := event.Event{Type: "alert", TxnID: "alert-1", Time: statsBase.Add(time.Second), Decision: "allow",
		Alert: &event.Alert{Kind: "new_endpoint", Host: "shop.example", Method: "GET", Endpoint: "/cart"}}
	return append(evs, alert)
}

func insert(t *testing.T, s store.Store, evs []event.Event) {
	t.Helper()
	if _, err := s.InsertEvents(context.Background(), evs); err != nil {
		t.Fatal(err)
	}
}

func testOverview(t *testing.T, s store.Store) {
	ctx := context.Background()
	evs := statsEvents()
	insert(t, s, append(evs, evs[0], evs[3])) // a repeat within the batch counts once
	insert(t, s, statsEvents()[:4])           // a redelivery counts nothing
	if got := findingIDs(t, s, store.FindingFilter{RuleID: "942100"}); len(got) != 3 {
		t.Errorf("findings of 942100 after repeats: %v", got)
	}
	o, err := s.Overview(ctx, store.OverviewFilter{Since: statsBase.Add(-time.Minute), Until: statsBase.Add(10 * time.Minute)})
	if err != nil {
		t.Fatal(err)
	}
	wantDec := []store.DecisionCount{{Decision: "allow", Requests: 3}, {Decision: "block", Requests: 3}, {Decision: "challenge", Requests: 1}}
	if !reflect.DeepEqual(o.Decisions, wantDec) {
		t.Errorf("decisions = %+v, want %+v", o.Decisions, wantDec)
	}
	if o.Requests() != 7 {
		t.Errorf("requests = %d, want 7 (alerts and the old event are not counted)", o.Requests())
	}
	wantMin := []store.MinuteCount{
		{Start: statsBase, Decision: "allow", Requests: 2},
		{Start: statsBase.Add(time.Minute), Decision: "allow", Requests: 1},
		{Start: statsBase.Add(time.Minute), Decision: "block", Requests: 2},
		{Start: statsBase.Add(2 * time.Minute), Decision: "block", Requests: 1},
		{Start: statsBase.Add(2 * time.Minute), Decision: "challenge", Requests: 1},
	}
	if !reflect.DeepEqual(o.Minutes, wantMin) {
		t.Errorf("minutes = %+v, want %+v", o.Minutes, wantMin)
	}
	wantEp := []store.EndpointCount{
		{Host: "shop.example", Method: "GET", Endpoint: "/products", Requests: 4, Refused: 2},
		{Host: "shop.example", Method: "GET", Endpoint: "/login", Requests: 2, Refused: 2},
		{Host: "shop.example", Method: "GET", Endpoint: "/cart", Requests: 1, Refused: 0},
	}
	if !reflect.DeepEqual(o.TopEndpoints, wantEp) {
		t.Errorf("top endpoints = %+v, want %+v", o.TopEndpoints, wantEp)
	}
	wantOff := []store.Offender{
		{SourceIP: "198.51.100.7", Identity: "mallory", Refused: 2, Blocked: 1},
		{SourceIP: "203.0.113.9", Identity: "", Refused: 2, Blocked: 2},
	}
	if !reflect.DeepEqual(o.TopOffenders, wantOff) {
		t.Errorf("top offenders = %+v, want %+v", o.TopOffenders, wantOff)
	}
	top1, err := s.Overview(ctx, store.OverviewFilter{Since: statsBase.Add(-time.Minute), Until: statsBase.Add(10 * time.Minute), Top: 1})
	if err != nil {
		t.Fatal(err)
	}
	if len(top1.TopEndpoints) != 1 || len(top1.TopOffenders) != 1 {
		t.Errorf("Top 1: %d endpoints, %d offenders", len(top1.TopEndpoints), len(top1.TopOffenders))
	}
	if _, err := s.Overview(ctx, store.OverviewFilter{Since: statsBase, Until: statsBase}); err == nil {
		t.Error("an empty window is not an error")
	}
	empty, err := s.Overview(ctx, store.OverviewFilter{Since: statsBase.Add(time.Hour), Until: statsBase.Add(2 * time.Hour)})
	if err != nil || empty.Requests() != 0 || empty.Minutes == nil || empty.TopOffenders == nil {
		t.Errorf("later window: %+v, %v", empty, err)
	}
}

func findingIDs(t *testing.T, s store.Store, f store.FindingFilter) []string {
	t.Helper()
	p, err := s.ListFindings(context.Background(), f)
	if err != nil {
		t.Fatalf("ListFindings(%+v): %v", f, err)
	}
	ids := []string{}
	for _, r := range p.Items {
		ids = append(ids, r.TxnID+"/"+r.Stage)
	}
	return ids
}

func testListFindings(t *testing.T, s store.Store) {
	insert(t, s, statsEvents())
	since := statsBase.Add(-time.Minute)
	tests := []struct {
		name string
		f    store.FindingFilter
		want []string
	}{
		{"window", store.FindingFilter{Since: since}, []string{"c1/bot", "b3/ratelimit", "b2/ratelimit", "b2/waf", "b1/waf"}},
		{"everything", store.FindingFilter{}, []string{"c1/bot", "b3/ratelimit", "b2/ratelimit", "b2/waf", "b1/waf", "old/waf"}},
		{"stage", store.FindingFilter{Since: since, Stage: "waf"}, []string{"b2/waf", "b1/waf"}},
		{"rule", store.FindingFilter{Since: since, RuleID: "bot-ua"}, []string{"c1/bot"}},
		{"source", store.FindingFilter{Since: since, Source: "198.51.100.7"}, []string{"c1/bot", "b3/ratelimit"}},
		{"identity", store.FindingFilter{Since: since, Identity: "mallory", Decision: "block"}, []string{"b3/ratelimit"}},
		{"endpoint", store.FindingFilter{Since: since, Endpoint: "/login"}, []string{"b2/ratelimit", "b2/waf", "b1/waf"}},
		{"decision", store.FindingFilter{Since: since, Decision: "challenge"}, []string{"c1/bot"}},
		{"until", store.FindingFilter{Since: since, Until: statsBase.Add(80 * time.Second)}, []string{"b1/waf"}},
		{"no match", store.FindingFilter{Since: since, RuleID: "nope"}, []string{}},
		{"unstorable", store.FindingFilter{Source: "a\x00b"}, []string{}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := findingIDs(t, s, tc.f); !reflect.DeepEqual(got, tc.want) {
				t.Errorf("got %v, want %v", got, tc.want)
			}
		})
	}
	p, err := s.ListFindings(context.Background(), store.FindingFilter{RuleID: "942100", Limit: 1})
	if err != nil || len(p.Items) != 1 {
		t.Fatal(p, err)
	}
	r := p.Items[0]
	want := store.FindingRow{TxnID: "b2", Time: statsBase.Add(80 * time.Second), Stage: "waf", Layer: "waf", RuleID: "942100",
		Kind: "sqli", Severity: "critical", Action: "block", Message: "SQL injection", Decision: "block",
		Host: "shop.example", Method: "GET", Endpoint: "/login", SourceIP: "203.0.113.9"}
	if !reflect.DeepEqual(r, want) {
		t.Errorf("row = %+v, want %+v", r, want)
	}
}

func testFindingsPaging(t *testing.T, s store.Store) {
	var evs []event.Event
	for i := range 25 {
		evs = append(evs, tx(fmt.Sprintf("p%02d", i), time.Duration(i/2)*time.Second, "block", "/login", "203.0.113.9", "", sqli))
	}
	insert(t, s, evs)
	var got []string
	f := store.FindingFilter{Stage: "waf", Limit: 4}
	for range 20 {
		p, err := s.ListFindings(context.Background(), f)
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range p.Items {
			got = append(got, r.TxnID)
		}
		if p.NextCursor == "" {
			break
		}
		f.Cursor = p.NextCursor
	}
	if len(got) != 25 {
		t.Fatalf("paged %d findings, want 25: %v", len(got), got)
	}
	seen := map[string]bool{}
	for _, id := range got {
		if seen[id] {
			t.Fatalf("%s listed twice", id)
		}
		seen[id] = true
	}
	if _, err := s.ListFindings(context.Background(), store.FindingFilter{Cursor: "bm90LWEtY3Vyc29y"}); !errors.Is(err, store.ErrBadCursor) {
		t.Errorf("bad cursor: %v", err)
	}
	ev, err := s.ListEvents(context.Background(), store.EventFilter{Limit: 1})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.ListFindings(context.Background(), store.FindingFilter{Cursor: ev.NextCursor}); !errors.Is(err, store.ErrBadCursor) {
		t.Errorf("an events cursor: %v", err)
	}
}

func testFindingSeries(t *testing.T, s store.Store) {
	insert(t, s, statsEvents())
	f := store.FindingFilter{Since: statsBase, Until: statsBase.Add(3 * time.Minute)}
	got, err := s.FindingSeries(context.Background(), f, time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	want := []store.FindingCount{
		{Start: statsBase.Add(time.Minute), Stage: "ratelimit", Decision: "block", Findings: 1},
		{Start: statsBase.Add(time.Minute), Stage: "waf", Decision: "block", Findings: 2},
		{Start: statsBase.Add(2 * time.Minute), Stage: "bot", Decision: "challenge", Findings: 1},
		{Start: statsBase.Add(2 * time.Minute), Stage: "ratelimit", Decision: "block", Findings: 1},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("series = %+v\nwant %+v", got, want)
	}
	// The rollup (whole minutes) and the findings table (30 s buckets)
	// count the same.
	total := func(cs []store.FindingCount) (n int64) {
		for _, c := range cs {
			n += c.Findings
		}
		return n
	}
	fine, err := s.FindingSeries(context.Background(), f, 30*time.Second)
	if err != nil || total(fine) != 5 || total(got) != 5 || len(fine) != 4 {
		t.Errorf("30 s series %+v (%v): %d findings, the minute one %d", fine, err, total(fine), total(got))
	}
	byRule, err := s.FindingSeries(context.Background(), store.FindingFilter{Since: f.Since, Until: f.Until, RuleID: "942100"}, time.Minute)
	if err != nil || len(byRule) != 1 || byRule[0].Findings != 2 || byRule[0].Stage != "waf" {
		t.Errorf("rule series %+v, %v", byRule, err)
	}
	f.Stage = "waf"
	got, err = s.FindingSeries(context.Background(), f, time.Minute)
	if err != nil || len(got) != 1 || got[0].Findings != 2 {
		t.Errorf("waf series = %+v, %v", got, err)
	}
	bad := []struct {
		name string
		f    store.FindingFilter
		step time.Duration
	}{
		{"no window", store.FindingFilter{}, time.Minute},
		{"tiny step", f, time.Millisecond},
		{"too many buckets", store.FindingFilter{Since: statsBase.Add(-24 * 30 * time.Hour), Until: statsBase}, time.Second},
	}
	for _, tc := range bad {
		if _, err := s.FindingSeries(context.Background(), tc.f, tc.step); err == nil {
			t.Errorf("%s: no error", tc.name)
		}
	}
}

func testGetEvent(t *testing.T, s store.Store) {
	evs := statsEvents()
	insert(t, s, evs)
	got, err := s.GetEvent(context.Background(), "b2")
	if err != nil {
		t.Fatal(err)
	}
	if got.TxnID != "b2" || len(got.Findings) != 2 || got.Source.IP != "203.0.113.9" || !got.Time.Equal(evs[4].Time) {
		t.Errorf("GetEvent(b2) = %+v", got)
	}
	for _, id := range []string{"missing", "", "a\x00b"} {
		if _, err := s.GetEvent(context.Background(), id); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("GetEvent(%q) = %v, want ErrNotFound", id, err)
		}
	}
}

func testPruneReadModels(t *testing.T, s store.Store) {
	ctx := context.Background()
	insert(t, s, statsEvents())
	// Events older than an hour go, and their findings and minutes with them.
	if _, err := s.Prune(ctx, time.Since(statsBase)+time.Minute/2, 0); err != nil {
		t.Fatal(err)
	}
	if got := findingIDs(t, s, store.FindingFilter{RuleID: "942100"}); !reflect.DeepEqual(got, []string{"b2/waf", "b1/waf"}) {
		t.Errorf("after pruning by age: %v", got)
	}
	o, err := s.Overview(ctx, store.OverviewFilter{Since: statsBase.Add(-3 * time.Hour)})
	if err != nil || o.Requests() != 7 {
		t.Errorf("after pruning by age: %d requests, %v", o.Requests(), err)
	}
	if _, err := s.Prune(ctx, 0, 1); err != nil {
		t.Fatal(err)
	}
	if got := findingIDs(t, s, store.FindingFilter{}); !reflect.DeepEqual(got, []string{"c1/bot"}) {
		t.Errorf("after pruning to one event: %v", got)
	}
}

// TestStatsBackfill: a database that had events before migration 0006
// gets its read models filled from them when it is opened.
func TestStatsBackfill(t *testing.T) {
	for _, b := range []struct {
		name  string
		newDB storetest.NewDB
		exec  func(t *testing.T, dsn, dir string, stmts ...string)
	}{
		{"sqlite", storetest.SQLite, func(t *testing.T, _, dir string, stmts ...string) {
			db, err := sql.Open("sqlite", filepath.Join(dir, "vigil.db"))
			if err != nil {
				t.Fatal(err)
			}
			defer db.Close()
			for _, q := range stmts {
				if _, err := db.Exec(q); err != nil {
					t.Fatal(q, err)
				}
			}
		}},
		{"postgres", storetest.Postgres, func(t *testing.T, dsn, _ string, stmts ...string) {
			c, err := pgx.Connect(context.Background(), dsn)
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close(context.Background())
			for _, q := range stmts {
				if _, err := c.Exec(context.Background(), q); err != nil {
					t.Fatal(q, err)
				}
			}
		}},
	} {
		t.Run(b.name, func(t *testing.T) {
			dsn, dir := b.newDB(t)
			ctx := context.Background()
			s, err := store.Open(ctx, dsn, dir)
			if err != nil {
				t.Fatal(err)
			}
			insert(t, s, statsEvents())
			window := store.OverviewFilter{Since: statsBase.Add(-3 * time.Hour), Until: statsBase.Add(time.Hour)}
			wantO, err := s.Overview(ctx, window)
			if err != nil {
				t.Fatal(err)
			}
			wantF := findingIDs(t, s, store.FindingFilter{})
			s.Close()
			// Back to the schema before 0006, events kept.
			b.exec(t, dsn, dir, "DROP TABLE findings", "DROP TABLE traffic_minutes", "DROP TABLE finding_minutes", "DELETE FROM schema_migrations WHERE version = 6")
			s, err = store.Open(ctx, dsn, dir)
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			gotO, err := s.Overview(ctx, window)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(gotO, wantO) || gotO.Requests() != 8 {
				t.Errorf("backfilled overview %+v\nwant %+v", gotO, wantO)
			}
			if got := findingIDs(t, s, store.FindingFilter{}); !reflect.DeepEqual(got, wantF) {
				t.Errorf("backfilled findings %v, want %v", got, wantF)
			}
			p, err := s.ListFindings(ctx, store.FindingFilter{RuleID: "942100", Limit: 1})
			if err != nil || len(p.Items) != 1 || p.Items[0].SourceIP != "203.0.113.9" || p.Items[0].Message != "SQL injection" || p.Items[0].Method != "GET" {
				t.Errorf("backfilled row %+v, %v", p.Items, err)
			}
		})
	}
}
