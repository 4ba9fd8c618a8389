package storetest

import (
	"errors"
	"fmt"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/vigil-sec/vigil/internal/authz/consent"
	"github.com/vigil-sec/vigil/internal/risk"
	"github.com/vigil-sec/vigil/internal/store"
)

// edgeT0 is the reference time of the connection cases: nanoseconds set,
// in a zone other than UTC, so a round trip that drops either shows.
var edgeT0 = time.Date(2026, 5, 2, 9, 30, 0, 123456789, time.FixedZone("EEST", 3*3600))

func testConnections(t *testing.T, newDB NewDB) {
	t.Run("RoundTrip", func(t *testing.T) { testConnectionRoundTrip(t, newDB) })
	t.Run("MergeAcrossReplicas", func(t *testing.T) { testConnectionMerge(t, newDB) })
	t.Run("ConcurrentReplicas", func(t *testing.T) { testConnectionConcurrent(t, newDB) })
	t.Run("ListFilters", func(t *testing.T) { testConnectionFilters(t, newDB) })
	t.Run("Paging", func(t *testing.T) { testConnectionPaging(t, newDB) })
	t.Run("LargeBatch", func(t *testing.T) { testConnectionLargeBatch(t, newDB) })
	t.Run("BadCursor", func(t *testing.T) { testConnectionBadCursor(t, newDB) })
	t.Run("Rejects", func(t *testing.T) { testConnectionRejects(t, newDB) })
}

// edgeUTC is e as the store hands it back: ID filled, times in UTC.
func edgeUTC(e risk.Edge) risk.Edge {
	if e.ID == "" {
		e.ID = risk.EdgeID(e.Source, e.Destination)
	}
	e.FirstSeen, e.LastSeen = e.FirstSeen.UTC(), e.LastSeen.UTC()
	return e
}

// sameEdge reports whether got is want as stored: equal fields, times
// equal to the nanosecond and in UTC.
func sameEdge(got, want risk.Edge) bool {
	return reflect.DeepEqual(got, edgeUTC(want)) && got.FirstSeen.Location() == time.UTC && got.LastSeen.Location() == time.UTC
}

func mustUpsertConnections(t *testing.T, s store.Store, es ...risk.Edge) {
	t.Helper()
	if err := s.UpsertConnections(ctxT(t), es); err != nil {
		t.Fatalf("UpsertConnections(%d edges): %v", len(es), err)
	}
}

// listConnections pages through every edge matching f and returns them in
// the order received.
func listConnections(t *testing.T, s store.Store, f store.ConnectionFilter) []risk.Edge {
	t.Helper()
	var out []risk.Edge
	for pages := 0; ; pages++ {
		if pages > 1000 {
			t.Fatal("connection paging does not end")
		}
		p, err := s.ListConnections(ctxT(t), f)
		if err != nil {
			t.Fatalf("ListConnections(%+v): %v", f, err)
		}
		if f.Limit > 0 && len(p.Items) > f.Limit {
			t.Fatalf("ListConnections(limit %d) returned %d items", f.Limit, len(p.Items))
		}
		out = append(out, p.Items...)
		if p.NextCursor == "" {
			return out
		}
		if len(p.Items) == 0 {
			t.Fatal("empty connection page with a next cursor")
		}
		f.Cursor = p.NextCursor
	}
}

func getConnection(t *testing.T, s store.Store, source, destination string) risk.Edge {
	t.Helper()
	p, err := s.ListConnections(ctxT(t), store.ConnectionFilter{Source: source, Destination: destination})
	if err != nil {
		t.Fatalf("ListConnections(%s -> %s): %v", source, destination, err)
	}
	if len(p.Items) != 1 {
		t.Fatalf("ListConnections(%s -> %s): %d edges, want 1", source, destination, len(p.Items))
	}
	return p.Items[0]
}

func edgeIDs(es []risk.Edge) []string {
	ids := make([]string, len(es))
	for i, e := range es {
		ids[i] = e.ID
	}
	return ids
}

func testConnectionRoundTrip(t *testing.T, newDB NewDB) {
	s := fresh(t, newDB)
	all := []risk.Edge{
		{Source: "spiffe://shop/ns/prod/sa/web", Destination: "spiffe://shop/ns/prod/sa/billing",
			Requests: 1000, Authenticated: 900, MTLS: 800, TLS13: 700, LegacyTLS: 200, Plaintext: 100, Refused: 7,
			Intercepted: 3, External: 11, TLSVersion: "TLS 1.3", Cipher: "TLS_AES_128_GCM_SHA256", Group: "X25519MLKEM768",
			FirstSeen: edgeT0, LastSeen: edgeT0.Add(36*time.Hour + 1)},
		// The ID given, as risk.Aggregator sets it.
		{ID: risk.EdgeID(risk.External, "shop.example"), Source: risk.External, Destination: "shop.example",
			Requests: 1 << 40, Plaintext: 1 << 40, External: 1 << 40, FirstSeen: time.Unix(0, 1).UTC(), LastSeen: time.Unix(1<<33, 999999999)},
		{Source: "zoë", Destination: "dienst-ä", Requests: 1, LegacyTLS: 1, TLSVersion: "TLS 1.2",
			Cipher: "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256", Group: "P-256", FirstSeen: edgeT0, LastSeen: edgeT0},
	}
	mustUpsertConnections(t, s, all...)
	got := listConnections(t, s, store.ConnectionFilter{})
	want := slices.Clone(all)
	for i := range want {
		want[i] = edgeUTC(want[i])
	}
	slices.SortFunc(want, func(a, b risk.Edge) int { return strings.Compare(a.ID, b.ID) })
	if len(got) != len(want) {
		t.Fatalf("ListConnections: %d edges, want %d: %+v", len(got), len(want), got)
	}
	for i := range want {
		if !sameEdge(got[i], want[i]) {
			t.Errorf("edge changed in the store:\n got %+v\nwant %+v", got[i], want[i])
		}
	}
	// Missing times take the other one, or now.
	before := time.Now()
	mustUpsertConnections(t, s,
		risk.Edge{Source: "a", Destination: "only-last", Requests: 1, LastSeen: edgeT0},
		risk.Edge{Source: "a", Destination: "only-first", Requests: 1, FirstSeen: edgeT0},
		risk.Edge{Source: "a", Destination: "none", Requests: 1})
	after := time.Now()
	for _, d := range []string{"only-last", "only-first"} {
		if e := getConnection(t, s, "a", d); !e.FirstSeen.Equal(edgeT0) || !e.LastSeen.Equal(edgeT0) {
			t.Errorf("%s: first/last seen %v / %v, want both %v", d, e.FirstSeen, e.LastSeen, edgeT0)
		}
	}
	if e := getConnection(t, s, "a", "none"); e.FirstSeen.Before(before) || e.LastSeen.After(after) || !e.FirstSeen.Equal(e.LastSeen) {
		t.Errorf("no times: first/last seen %v / %v, want the time of the upsert", e.FirstSeen, e.LastSeen)
	}
	if err := s.UpsertConnections(ctxT(t), nil); err != nil {
		t.Errorf("UpsertConnections(nil): %v", err)
	}
}

// testConnectionMerge applies deltas through two replicas in turn and
// checks both see what risk.Edge.Merge makes of them, and the stated
// rules besides.
func testConnectionMerge(t *testing.T, newDB NewDB) {
	dsn, dir := newDB(t)
	a, b := open(t, dsn, dir), open(t, dsn, dir)
	const src, dst = "spiffe://shop/sa/web", "spiffe://shop/sa/orders"
	t0 := edgeT0
	steps := []struct {
		name    string
		replica store.Store
		d       risk.Edge
		check   func(e risk.Edge) string
	}{
		{"first sight", a,
			risk.Edge{Requests: 10, Authenticated: 9, MTLS: 8, TLS13: 7, LegacyTLS: 3, Refused: 2, Intercepted: 1, External: 4,
				TLSVersion: "TLS 1.3", Cipher: "TLS_AES_128_GCM_SHA256", Group: "X25519", FirstSeen: t0.Add(time.Minute), LastSeen: t0.Add(2 * time.Minute)},
			nil},
		{"same edge again on the other replica: counters add, first min, last max, newer TLS facts replace", b,
			risk.Edge{Requests: 5, Authenticated: 1, MTLS: 1, TLS13: 0, LegacyTLS: 5, Plaintext: 0, Refused: 1, Intercepted: 2, External: 3,
				TLSVersion: "TLS 1.2", Cipher: "TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384", Group: "P-256", FirstSeen: t0, LastSeen: t0.Add(5 * time.Minute)},
			func(e risk.Edge) string {
				if e.Requests != 15 || e.Authenticated != 10 || e.MTLS != 9 || e.TLS13 != 7 || e.LegacyTLS != 8 || e.Refused != 3 ||
					e.Intercepted != 3 || e.External != 7 {
					return "counters not added"
				}
				if !e.FirstSeen.Equal(t0) || !e.LastSeen.Equal(t0.Add(5*time.Minute)) {
					return "first_seen not the minimum or last_seen not the maximum"
				}
				if e.TLSVersion != "TLS 1.2" || e.Group != "P-256" {
					return "newer TLS facts not taken"
				}
				return ""
			}},
		{"an older delta adds counters and lowers first_seen, but keeps the newer TLS facts", a,
			risk.Edge{Requests: 2, TLS13: 2, TLSVersion: "TLS 1.3", Cipher: "TLS_CHACHA20_POLY1305_SHA256", Group: "X448",
				FirstSeen: t0.Add(-time.Hour), LastSeen: t0.Add(4 * time.Minute)},
			func(e risk.Edge) string {
				if e.TLSVersion != "TLS 1.2" || e.Cipher != "TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384" || e.Group != "P-256" {
					return "an older delta overwrote the TLS facts"
				}
				if e.Requests != 17 || !e.FirstSeen.Equal(t0.Add(-time.Hour)) || !e.LastSeen.Equal(t0.Add(5*time.Minute)) {
					return "older delta not merged"
				}
				return ""
			}},
		{"a delta as new as the stored one replaces the TLS facts", b,
			risk.Edge{Requests: 1, TLS13: 1, TLSVersion: "TLS 1.3", Cipher: "TLS_AES_256_GCM_SHA384", Group: "X25519MLKEM768",
				FirstSeen: t0.Add(5 * time.Minute), LastSeen: t0.Add(5 * time.Minute)},
			func(e risk.Edge) string {
				if e.Cipher != "TLS_AES_256_GCM_SHA384" {
					return "TLS facts of an equally new delta not taken"
				}
				return ""
			}},
		{"a newer delta without TLS facts or plaintext keeps them", a,
			risk.Edge{Requests: 0, Refused: 1, Cipher: "ignored", FirstSeen: t0.Add(6 * time.Minute), LastSeen: t0.Add(6 * time.Minute)},
			func(e risk.Edge) string {
				if e.TLSVersion != "TLS 1.3" || e.Cipher != "TLS_AES_256_GCM_SHA384" || e.Group != "X25519MLKEM768" {
					return "TLS facts lost to a delta that has none"
				}
				return ""
			}},
		{"a newer plaintext-only delta clears them (the latest request had no TLS)", b,
			risk.Edge{Requests: 3, Plaintext: 3, FirstSeen: t0.Add(7 * time.Minute), LastSeen: t0.Add(8 * time.Minute)},
			func(e risk.Edge) string {
				if e.TLSVersion != "" || e.Cipher != "" || e.Group != "" {
					return "TLS facts kept after a newer plaintext delta"
				}
				return ""
			}},
		{"an older TLS delta does not bring them back", a,
			risk.Edge{Requests: 1, TLS13: 1, TLSVersion: "TLS 1.3", Cipher: "TLS_AES_128_GCM_SHA256", Group: "X25519",
				FirstSeen: t0.Add(7 * time.Minute), LastSeen: t0.Add(7 * time.Minute)},
			func(e risk.Edge) string {
				if e.TLSVersion != "" {
					return "an older delta overwrote the TLS facts"
				}
				return ""
			}},
	}
	var want risk.Edge
	for _, st := range steps {
		d := st.d
		d.Source, d.Destination = src, dst
		mustUpsertConnections(t, st.replica, d)
		want.Merge(d)
		want.ID, want.Source, want.Destination = risk.EdgeID(src, dst), src, dst
		for ri, r := range []store.Store{a, b} {
			got := getConnection(t, r, src, dst)
			if !sameEdge(got, want) {
				t.Errorf("%s: replica %d sees\n %+v\nwant (risk.Edge.Merge)\n %+v", st.name, ri, got, edgeUTC(want))
			}
			if st.check != nil {
				if msg := st.check(got); msg != "" {
					t.Errorf("%s: replica %d: %s: %+v", st.name, ri, msg, got)
				}
			}
		}
	}
	if got := listConnections(t, b, store.ConnectionFilter{}); len(got) != 1 {
		t.Errorf("two replicas produced %d rows for one edge, want 1", len(got))
	}

	// Repeats of an edge within one call are merged, in order, as well.
	ds := []risk.Edge{
		{Source: "x", Destination: "y", Requests: 1, TLS13: 1, TLSVersion: "TLS 1.3", Cipher: "c1", FirstSeen: t0, LastSeen: t0.Add(time.Second)},
		{Source: "x", Destination: "y", Requests: 2, LegacyTLS: 2, TLSVersion: "TLS 1.2", Cipher: "c2", FirstSeen: t0.Add(-time.Second), LastSeen: t0},
		{ID: risk.EdgeID("x", "y"), Source: "x", Destination: "y", Requests: 4, TLS13: 4, TLSVersion: "TLS 1.3", Cipher: "c3",
			FirstSeen: t0.Add(time.Second), LastSeen: t0.Add(time.Second)},
	}
	mustUpsertConnections(t, a, ds...)
	var w risk.Edge
	for _, d := range ds {
		w.Merge(d)
	}
	w.ID, w.Source, w.Destination = risk.EdgeID("x", "y"), "x", "y"
	if got := getConnection(t, b, "x", "y"); !sameEdge(got, w) {
		t.Errorf("repeats in one call:\n got %+v\nwant %+v", got, edgeUTC(w))
	}
}

// testConnectionConcurrent plays two replicas draining their aggregators
// into one database at once: overlapping edges, in different orders,
// must neither deadlock nor lose a count.
func testConnectionConcurrent(t *testing.T, newDB NewDB) {
	dsn, dir := newDB(t)
	replicas := []store.Store{open(t, dsn, dir), open(t, dsn, dir)}
	dsts := []string{"orders", "billing", "users", "search", "cart", "stock"}
	const workers, rounds = 4, 25
	var wg sync.WaitGroup
	errs := make(chan error, workers)
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for r := range rounds {
				batch := make([]risk.Edge, 0, len(dsts))
				for k := range dsts {
					d := dsts[(k+w)%len(dsts)]
					seen := time.Unix(int64(1000+r*workers+w), 0)
					batch = append(batch, risk.Edge{Source: "web", Destination: d, Requests: 3, Authenticated: 2, MTLS: 1,
						TLS13: 2, Plaintext: 1, External: 1, TLSVersion: "TLS 1.3", Cipher: fmt.Sprintf("w%d-r%d", w, r),
						FirstSeen: seen, LastSeen: seen})
				}
				if err := replicas[w%2].UpsertConnections(ctxT(t), batch); err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatalf("concurrent UpsertConnections: %v", err)
	}
	got := listConnections(t, replicas[1], store.ConnectionFilter{})
	if len(got) != len(dsts) {
		t.Fatalf("%d edges, want %d", len(got), len(dsts))
	}
	const n = workers * rounds
	for _, e := range got {
		if e.Requests != 3*n || e.Authenticated != 2*n || e.MTLS != n || e.TLS13 != 2*n || e.Plaintext != n || e.External != n ||
			e.LegacyTLS != 0 || e.Refused != 0 || e.Intercepted != 0 {
			t.Errorf("%s: counters %+v, want exactly %d deltas added", e.Destination, e, n)
		}
		first, last := time.Unix(1000, 0).UTC(), time.Unix(1000+(rounds-1)*workers+workers-1, 0).UTC()
		if !e.FirstSeen.Equal(first) || !e.LastSeen.Equal(last) {
			t.Errorf("%s: first/last seen %v / %v, want %v / %v", e.Destination, e.FirstSeen, e.LastSeen, first, last)
		}
		// The newest delta was the last round of the last worker.
		if want := fmt.Sprintf("w%d-r%d", workers-1, rounds-1); e.Cipher != want {
			t.Errorf("%s: cipher %q, want %q (the newest delta's)", e.Destination, e.Cipher, want)
		}
	}
}

func testConnectionFilters(t *testing.T, newDB NewDB) {
	s := fresh(t, newDB)
	srcs := []string{"web", "spiffe://shop/sa/api", risk.External, risk.Internal}
	dsts := []string{"orders", "billing", "web"}
	var all []risk.Edge
	for _, sr := range srcs {
		for _, d := range dsts {
			all = append(all, risk.Edge{Source: sr, Destination: d, Requests: 1, FirstSeen: edgeT0, LastSeen: edgeT0})
		}
	}
	mustUpsertConnections(t, s, all...)
	// Prefixes and case do not match; only exact values do.
	mustUpsertConnections(t, s, risk.Edge{Source: "Web", Destination: "orders-v2", Requests: 1, FirstSeen: edgeT0, LastSeen: edgeT0})
	want := func(keep func(risk.Edge) bool) []string {
		var ids []string
		for _, e := range all {
			if keep(e) {
				ids = append(ids, risk.EdgeID(e.Source, e.Destination))
			}
		}
		slices.Sort(ids)
		return ids
	}
	tests := []struct {
		name string
		f    store.ConnectionFilter
		want []string
	}{
		{"source", store.ConnectionFilter{Source: "web"}, want(func(e risk.Edge) bool { return e.Source == "web" })},
		{"destination", store.ConnectionFilter{Destination: "orders"}, want(func(e risk.Edge) bool { return e.Destination == "orders" })},
		{"both", store.ConnectionFilter{Source: risk.External, Destination: "web"},
			want(func(e risk.Edge) bool { return e.Source == risk.External && e.Destination == "web" })},
		{"source by limit 1", store.ConnectionFilter{Source: "spiffe://shop/sa/api", Limit: 1},
			want(func(e risk.Edge) bool { return e.Source == "spiffe://shop/sa/api" })},
		{"no match", store.ConnectionFilter{Source: "nobody"}, nil},
		{"NUL", store.ConnectionFilter{Source: "web\x00"}, nil},
		{"invalid UTF-8", store.ConnectionFilter{Destination: "\xff"}, nil},
	}
	for _, tc := range tests {
		got := edgeIDs(listConnections(t, s, tc.f))
		if len(got) == 0 {
			got = nil
		}
		if !slices.Equal(got, tc.want) {
			t.Errorf("%s: ListConnections(%+v) = %v, want %v", tc.name, tc.f, got, tc.want)
		}
	}
	p, err := s.ListConnections(ctxT(t), store.ConnectionFilter{Source: "nobody"})
	if err != nil || p.Items == nil || p.NextCursor != "" {
		t.Errorf("no match: page %+v, %v; want an empty (non-nil) list and no cursor", p, err)
	}
}

func testConnectionPaging(t *testing.T, newDB NewDB) {
	s := fresh(t, newDB)
	var all []risk.Edge
	for i := range 5 {
		all = append(all, risk.Edge{Source: "web", Destination: fmt.Sprintf("svc-%d", i), Requests: int64(i + 1),
			FirstSeen: edgeT0, LastSeen: edgeT0.Add(time.Duration(i))})
	}
	mustUpsertConnections(t, s, all...)
	var wantIDs []string
	for _, e := range all {
		wantIDs = append(wantIDs, risk.EdgeID(e.Source, e.Destination))
	}
	slices.Sort(wantIDs)
	var got []string
	f := store.ConnectionFilter{Limit: 2}
	for _, size := range []int{2, 2, 1} {
		p, err := s.ListConnections(ctxT(t), f)
		if err != nil {
			t.Fatal(err)
		}
		if len(p.Items) != size {
			t.Fatalf("page of %d edges, want %d", len(p.Items), size)
		}
		if last := size == 1; last != (p.NextCursor == "") {
			t.Fatalf("page of %d: next cursor %q", size, p.NextCursor)
		}
		got = append(got, edgeIDs(p.Items)...)
		f.Cursor = p.NextCursor
	}
	if !slices.Equal(got, wantIDs) {
		t.Errorf("paged ids %v, want %v (id order, each once)", got, wantIDs)
	}
	// Exactly a page: no cursor to an empty page.
	p, err := s.ListConnections(ctxT(t), store.ConnectionFilter{Limit: 5})
	if err != nil || len(p.Items) != 5 || p.NextCursor != "" {
		t.Errorf("limit 5 of 5: %d edges, cursor %q, %v; want 5, none", len(p.Items), p.NextCursor, err)
	}
	// A cursor stays valid while edges are added before and after it.
	p, err = s.ListConnections(ctxT(t), store.ConnectionFilter{Limit: 2})
	if err != nil {
		t.Fatal(err)
	}
	var more []risk.Edge
	for i := range 20 {
		more = append(more, risk.Edge{Source: "late", Destination: fmt.Sprint(i), Requests: 1, FirstSeen: edgeT0, LastSeen: edgeT0})
	}
	mustUpsertConnections(t, s, more...)
	rest := edgeIDs(listConnections(t, s, store.ConnectionFilter{Limit: 3, Cursor: p.NextCursor}))
	everything := edgeIDs(listConnections(t, s, store.ConnectionFilter{}))
	i := slices.Index(everything, p.Items[1].ID)
	if i < 0 || !slices.Equal(rest, everything[i+1:]) {
		t.Errorf("after inserts the cursor gave %d ids, want the %d after %s", len(rest), len(everything)-i-1, p.Items[1].ID)
	}
}

// testConnectionLargeBatch upserts batches of a few thousand edges (more
// than one multi-row statement), twice, and checks the limits.
func testConnectionLargeBatch(t *testing.T, newDB NewDB) {
	s := fresh(t, newDB)
	const n = 2500
	batch := make([]risk.Edge, n)
	for i := range batch {
		batch[i] = risk.Edge{Source: fmt.Sprintf("caller-%d", i%50), Destination: fmt.Sprintf("svc-%d", i),
			Requests: 2, TLS13: 2, TLSVersion: "TLS 1.3", FirstSeen: edgeT0, LastSeen: edgeT0.Add(time.Duration(i))}
	}
	for range 2 {
		start := time.Now()
		mustUpsertConnections(t, s, batch...)
		if d := time.Since(start); d > 10*time.Second {
			t.Errorf("UpsertConnections(%d edges) took %v", n, d)
		}
	}
	all := listConnections(t, s, store.ConnectionFilter{Limit: store.MaxLimit})
	if len(all) != n {
		t.Fatalf("%d edges listed, want %d", len(all), n)
	}
	for _, e := range all {
		if e.Requests != 4 || e.TLS13 != 4 {
			t.Fatalf("%s -> %s: requests %d, tls13 %d; want 4, 4", e.Source, e.Destination, e.Requests, e.TLS13)
		}
	}
	for _, tc := range []struct{ limit, want int }{{0, store.DefaultLimit}, {-1, store.DefaultLimit}, {store.MaxLimit + 1, store.MaxLimit}, {7, 7}} {
		p, err := s.ListConnections(ctxT(t), store.ConnectionFilter{Limit: tc.limit})
		if err != nil || len(p.Items) != tc.want || p.NextCursor == "" {
			t.Errorf("Limit %d: %d edges, cursor %q, %v; want %d and a cursor", tc.limit, len(p.Items), p.NextCursor, err, tc.want)
		}
	}
}

func testConnectionBadCursor(t *testing.T, newDB NewDB) {
	s := fresh(t, newDB)
	mustUpsertConnections(t, s,
		risk.Edge{Source: "a", Destination: "b", Requests: 1, FirstSeen: edgeT0, LastSeen: edgeT0},
		risk.Edge{Source: "a", Destination: "c", Requests: 1, FirstSeen: edgeT0, LastSeen: edgeT0})
	mustInsert(t, s, Events("cx", 2, time.Now()))
	if err := s.UpsertEndpoints(ctxT(t), []store.Endpoint{{Host: "a", Method: "GET", Path: "/a"}, {Host: "b", Method: "GET", Path: "/b"}}); err != nil {
		t.Fatal(err)
	}
	mustInsertConsent(t, s,
		consent.Grant{ID: consent.NewID(consentT0), Subject: "alice", Grantee: "web", Scope: "s", CreatedAt: consentT0},
		consent.Grant{ID: consent.NewID(consentT0.Add(time.Millisecond)), Subject: "bob", Grantee: "web", Scope: "s", CreatedAt: consentT0})
	cx, err := s.ListConnections(ctxT(t), store.ConnectionFilter{Limit: 1})
	if err != nil {
		t.Fatal(err)
	}
	ev, err := s.ListEvents(ctxT(t), store.EventFilter{Limit: 1})
	if err != nil {
		t.Fatal(err)
	}
	ep, err := s.ListEndpoints(ctxT(t), store.EndpointFilter{Limit: 1})
	if err != nil {
		t.Fatal(err)
	}
	cs, err := s.ListConsents(ctxT(t), store.ConsentFilter{Limit: 1})
	if err != nil {
		t.Fatal(err)
	}
	if cx.NextCursor == "" || ev.NextCursor == "" || ep.NextCursor == "" || cs.NextCursor == "" {
		t.Fatal("expected next cursors")
	}
	for _, c := range []string{"garbage!", "e30", "W10", ev.NextCursor, ep.NextCursor, cs.NextCursor, cx.NextCursor[:len(cx.NextCursor)-2]} {
		if _, err := s.ListConnections(ctxT(t), store.ConnectionFilter{Cursor: c}); !errors.Is(err, store.ErrBadCursor) {
			t.Errorf("ListConnections(cursor %q) error = %v, want ErrBadCursor", c, err)
		}
	}
	if _, err := s.ListEvents(ctxT(t), store.EventFilter{Cursor: cx.NextCursor}); !errors.Is(err, store.ErrBadCursor) {
		t.Errorf("ListEvents(connections cursor) error = %v, want ErrBadCursor", err)
	}
	if _, err := s.ListEndpoints(ctxT(t), store.EndpointFilter{Cursor: cx.NextCursor}); !errors.Is(err, store.ErrBadCursor) {
		t.Errorf("ListEndpoints(connections cursor) error = %v, want ErrBadCursor", err)
	}
	if _, err := s.ListConsents(ctxT(t), store.ConsentFilter{Cursor: cx.NextCursor}); !errors.Is(err, store.ErrBadCursor) {
		t.Errorf("ListConsents(connections cursor) error = %v, want ErrBadCursor", err)
	}
}

func testConnectionRejects(t *testing.T, newDB NewDB) {
	s := fresh(t, newDB)
	ok := risk.Edge{Source: "web", Destination: "orders", Requests: 1, FirstSeen: edgeT0, LastSeen: edgeT0}
	mod := func(f func(*risk.Edge)) risk.Edge {
		e := risk.Edge{Source: "web", Destination: "billing", Requests: 1, FirstSeen: edgeT0, LastSeen: edgeT0}
		f(&e)
		return e
	}
	bad := []struct {
		name, mentions string
		e              risk.Edge
	}{
		{"empty source", "source", mod(func(e *risk.Edge) { e.Source = "" })},
		{"empty destination", "destination", mod(func(e *risk.Edge) { e.Destination = "" })},
		{"foreign id", "EdgeID", mod(func(e *risk.Edge) { e.ID = risk.EdgeID("web", "orders") })},
		{"NUL in the source", "source", mod(func(e *risk.Edge) { e.Source = "web\x00" })},
		{"invalid UTF-8 in the cipher", "cipher", mod(func(e *risk.Edge) { e.Cipher = "\xff"; e.TLSVersion = "TLS 1.3" })},
		{"last_seen past 2262", "last_seen", mod(func(e *risk.Edge) { e.LastSeen = time.Date(9999, 1, 1, 0, 0, 0, 0, time.UTC) })},
	}
	for _, tc := range bad {
		// The valid edge first: a rejected call writes nothing.
		err := s.UpsertConnections(ctxT(t), []risk.Edge{ok, tc.e})
		if err == nil {
			t.Errorf("UpsertConnections(%s) accepted %+v", tc.name, tc.e)
			continue
		}
		if !strings.Contains(err.Error(), tc.mentions) || !strings.Contains(err.Error(), "edge 1") {
			t.Errorf("UpsertConnections(%s) error %q does not name edge 1 and %s", tc.name, err, tc.mentions)
		}
	}
	if got := listConnections(t, s, store.ConnectionFilter{}); len(got) != 0 {
		t.Errorf("rejected upserts left edges behind: %+v", got)
	}
}
