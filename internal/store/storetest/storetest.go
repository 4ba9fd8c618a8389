package storetest

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"reflect"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/vigil-sec/vigil/internal/event"
	"github.com/vigil-sec/vigil/internal/store"
)

// versioner is implemented by the backends to report their schema version.
type versioner interface {
	SchemaVersion(ctx context.Context) (int64, error)
}

// Run runs the conformance suite against the backend newDB names. Each
// subtest gets its own fresh database, and some open it twice to act as two
// control-plane replicas.
func Run(t *testing.T, newDB NewDB) {
	tests := []struct {
		name string
		fn   func(t *testing.T, newDB NewDB)
	}{
		{"InsertRoundTrip", testInsertRoundTrip},
		{"InsertIdempotent", testInsertIdempotent},
		{"InsertConcurrentReplicas", testInsertConcurrent},
		{"InsertRejectsMissingTxnID", testInsertMissingTxnID},
		{"ListEventsFilters", testListEventsFilters},
		{"ListEventsLimits", testListEventsLimits},
		{"ListEventsPagingComplete", testPagingComplete},
		{"ListEventsPagingStableUnderInserts", testPagingStable},
		{"BadCursor", testBadCursor},
		{"EndpointMergeAcrossReplicas", testEndpointMerge},
		{"EndpointConcurrentUpserts", testEndpointConcurrent},
		{"ListEndpoints", testListEndpoints},
		{"DeleteEndpoints", testDeleteEndpoints},
		{"PruneByAge", testPruneByAge},
		{"PruneByCount", testPruneByCount},
		{"Settings", testSettings},
		{"Consents", testConsents},
		{"Connections", testConnections},
		{"Audit", testAudit},
		{"AuditLineage", testAuditLineage},
		{"AuditConcurrentReplicas", testAuditConcurrent},
		{"SettingsConcurrentVersions", testSettingsConcurrent},
		{"MigrationsRerunNoop", testMigrationsRerun},
		{"ConcurrentOpen", testConcurrentOpen},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) { tc.fn(t, newDB) })
	}
}

// open opens the database named by dsn/dataDir and closes it when t ends.
func open(t *testing.T, dsn, dataDir string) store.Store {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	s, err := store.Open(ctx, dsn, dataDir)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() {
		if err := s.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return s
}

func fresh(t *testing.T, newDB NewDB) store.Store {
	t.Helper()
	dsn, dir := newDB(t)
	return open(t, dsn, dir)
}

func ctxT(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// mustInsert inserts evs and returns how many the store reported fresh.
func mustInsert(t *testing.T, s store.Store, evs []event.Event) int64 {
	t.Helper()
	fresh, err := s.InsertEvents(ctxT(t), evs)
	if err != nil {
		t.Fatalf("InsertEvents: %v", err)
	}
	if len(fresh) != len(evs) {
		t.Fatalf("InsertEvents: %d fresh flags for %d events", len(fresh), len(evs))
	}
	var n int64
	for _, f := range fresh {
		if f {
			n++
		}
	}
	return n
}

func count(t *testing.T, s store.Store) int64 {
	t.Helper()
	n, err := s.CountEvents(ctxT(t))
	if err != nil {
		t.Fatalf("CountEvents: %v", err)
	}
	return n
}

// listAll pages through every event matching f and returns their txn_ids
// in the order received.
func listAll(t *testing.T, s store.Store, f store.EventFilter) []string {
	t.Helper()
	var ids []string
	for pages := 0; ; pages++ {
		if pages > 20000 {
			t.Fatal("paging does not end")
		}
		p, err := s.ListEvents(ctxT(t), f)
		if err != nil {
			t.Fatalf("ListEvents(%+v): %v", f, err)
		}
		for _, ev := range p.Items {
			ids = append(ids, ev.TxnID)
		}
		if p.NextCursor == "" {
			return ids
		}
		if len(p.Items) == 0 {
			t.Fatal("empty page with a next cursor")
		}
		f.Cursor = p.NextCursor
	}
}

// newestFirst returns the txn_ids of evs, stored by one InsertEvents call,
// in the store's order: time descending, then reverse storage order, which
// within one call is txn_id descending.
func newestFirst(evs []event.Event) []string {
	evs = slices.Clone(evs)
	slices.SortFunc(evs, func(a, b event.Event) int {
		if c := b.Time.Compare(a.Time); c != 0 {
			return c
		}
		switch {
		case a.TxnID > b.TxnID:
			return -1
		case a.TxnID < b.TxnID:
			return 1
		}
		return 0
	})
	ids := make([]string, len(evs))
	for i, ev := range evs {
		ids[i] = ev.TxnID
	}
	return ids
}

func testInsertRoundTrip(t *testing.T, newDB NewDB) {
	s := fresh(t, newDB)
	evs := Events("rt", 12, time.Now())
	mustInsert(t, s, evs)
	p, err := s.ListEvents(ctxT(t), store.EventFilter{})
	if err != nil {
		t.Fatal(err)
	}
	if len(p.Items) != len(evs) || p.NextCursor != "" {
		t.Fatalf("got %d events, cursor %q; want %d, no cursor", len(p.Items), p.NextCursor, len(evs))
	}
	byID := map[string]event.Event{}
	for _, ev := range evs {
		byID[ev.TxnID] = ev
	}
	for _, got := range p.Items {
		want := byID[got.TxnID]
		if !reflect.DeepEqual(got, want) {
			g, _ := json.Marshal(got)
			w, _ := json.Marshal(want)
			t.Errorf("event %s changed in the store:\n got %s\nwant %s", got.TxnID, g, w)
		}
	}
}

func testInsertIdempotent(t *testing.T, newDB NewDB) {
	evs := Events("idem", 500, time.Now())
	tests := []struct {
		name    string
		batches [][]event.Event
		want    int64
	}{
		{"same batch twice", [][]event.Event{evs[:300], evs[:300]}, 300},
		{"overlapping batches", [][]event.Event{evs[:300], evs[200:500]}, 500},
		{"duplicates inside one batch", [][]event.Event{append(slices.Clone(evs[:50]), evs[10:40]...)}, 50},
		{"single redelivered event", [][]event.Event{evs[:1], evs[:1], evs[:1]}, 1},
		{"empty batch", [][]event.Event{nil, {}}, 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := fresh(t, newDB)
			var reported int64
			for _, b := range tc.batches {
				reported += mustInsert(t, s, b)
			}
			// Callers count a transaction once by these flags (the
			// control plane's inventory hits), so they must add up exactly.
			if reported != tc.want {
				t.Errorf("InsertEvents reported %d fresh events, want %d", reported, tc.want)
			}
			if got := count(t, s); got != tc.want {
				t.Errorf("CountEvents = %d, want %d", got, tc.want)
			}
			if got := len(listAll(t, s, store.EventFilter{Limit: store.MaxLimit})); int64(got) != tc.want {
				t.Errorf("listed %d events, want %d", got, tc.want)
			}
		})
	}
}

func testInsertConcurrent(t *testing.T, newDB NewDB) {
	dsn, dir := newDB(t)
	replicas := []store.Store{open(t, dsn, dir), open(t, dsn, dir)}
	const n = 600
	evs := Events("conc", n, time.Now())
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for w := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			s := replicas[w%2]
			// Every worker delivers every event, in its own order and batching.
			mine := slices.Clone(evs)
			rng := rand.New(rand.NewPCG(uint64(w), 7))
			rng.Shuffle(len(mine), func(i, j int) { mine[i], mine[j] = mine[j], mine[i] })
			for len(mine) > 0 {
				k := min(len(mine), 50+rng.IntN(100))
				if _, err := s.InsertEvents(context.Background(), mine[:k]); err != nil {
					errs <- err
					return
				}
				mine = mine[k:]
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatalf("concurrent InsertEvents: %v", err)
	}
	for i, s := range replicas {
		if got := count(t, s); got != n {
			t.Errorf("replica %d: CountEvents = %d, want exactly %d", i, got, n)
		}
	}
}

func testInsertMissingTxnID(t *testing.T, newDB NewDB) {
	s := fresh(t, newDB)
	evs := Events("miss", 5, time.Now())
	evs[3].TxnID = ""
	if _, err := s.InsertEvents(ctxT(t), evs); err == nil {
		t.Fatal("InsertEvents accepted an event without txn_id")
	}
	if got := count(t, s); got != 0 {
		t.Errorf("a rejected batch left %d rows", got)
	}
}

func testListEventsFilters(t *testing.T, newDB NewDB) {
	s := fresh(t, newDB)
	newest := time.Now().UTC()
	evs := Events("flt", 120, newest)
	mustInsert(t, s, evs)
	since := newest.Add(-30 * time.Millisecond)
	want := func(keep func(i int, ev event.Event) bool) []string {
		var sel []event.Event
		for i, ev := range evs {
			if keep(i, ev) {
				sel = append(sel, ev)
			}
		}
		return newestFirst(sel)
	}
	tests := []struct {
		name string
		f    store.EventFilter
		want []string
	}{
		{"none", store.EventFilter{}, want(func(int, event.Event) bool { return true })},
		{"decision", store.EventFilter{Decision: "block"}, want(func(i int, _ event.Event) bool { return Decision(i) == "block" })},
		{"endpoint", store.EventFilter{Endpoint: "/products/{parameter}"},
			want(func(i int, _ event.Event) bool { return Endpoint(i) == "/products/{parameter}" })},
		{"type alert", store.EventFilter{Type: "alert"}, want(func(i int, _ event.Event) bool { return i%10 == 9 })},
		{"transactions only", store.EventFilter{Type: store.TypeTransaction}, want(func(i int, _ event.Event) bool { return i%10 != 9 })},
		{"since", store.EventFilter{Since: since}, want(func(_ int, ev event.Event) bool { return !ev.Time.Before(since) })},
		{"combined", store.EventFilter{Decision: "allow", Endpoint: "/products", Since: since},
			want(func(i int, ev event.Event) bool {
				return Decision(i) == "allow" && Endpoint(i) == "/products" && !ev.Time.Before(since)
			})},
		{"no match", store.EventFilter{Decision: "nope"}, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if len(tc.want) == 0 && tc.name != "no match" {
				t.Fatal("test data selects nothing")
			}
			for _, lim := range []int{store.MaxLimit, 4} {
				f := tc.f
				f.Limit = lim
				got := listAll(t, s, f)
				if !slices.Equal(got, tc.want) {
					t.Errorf("limit %d:\n got %v\nwant %v", lim, got, tc.want)
				}
			}
		})
	}
}

func testListEventsLimits(t *testing.T, newDB NewDB) {
	s := fresh(t, newDB)
	mustInsert(t, s, Events("lim", store.MaxLimit+50, time.Now()))
	tests := []struct {
		limit, want int
	}{
		{0, store.DefaultLimit},
		{-3, store.DefaultLimit},
		{7, 7},
		{store.MaxLimit * 5, store.MaxLimit},
	}
	for _, tc := range tests {
		p, err := s.ListEvents(ctxT(t), store.EventFilter{Limit: tc.limit})
		if err != nil {
			t.Fatal(err)
		}
		if len(p.Items) != tc.want || p.NextCursor == "" {
			t.Errorf("Limit %d: got %d items (cursor %q), want %d and a next cursor", tc.limit, len(p.Items), p.NextCursor, tc.want)
		}
	}
}

func testPagingComplete(t *testing.T, newDB NewDB) {
	s := fresh(t, newDB)
	evs := Events("page", 257, time.Now())
	mustInsert(t, s, evs)
	want := newestFirst(evs)
	for _, size := range []int{1, 7, 100, 256, 257, 1000} {
		got := listAll(t, s, store.EventFilter{Limit: size})
		if !slices.Equal(got, want) {
			t.Errorf("page size %d: paged %d ids, want all %d in order without duplicates or gaps", size, len(got), len(want))
		}
	}
}

func testPagingStable(t *testing.T, newDB NewDB) {
	s := fresh(t, newDB)
	now := time.Now()
	old := Events("old", 90, now.Add(-time.Hour))
	mustInsert(t, s, old)
	var got []string
	f := store.EventFilter{Limit: 10}
	for i := 0; ; i++ {
		p, err := s.ListEvents(ctxT(t), f)
		if err != nil {
			t.Fatal(err)
		}
		for _, ev := range p.Items {
			got = append(got, ev.TxnID)
		}
		// Newer events arrive between pages, as they do in production.
		mustInsert(t, s, Events(fmt.Sprintf("new%02d", i), 5, now.Add(time.Duration(i)*time.Second)))
		if p.NextCursor == "" {
			break
		}
		f.Cursor = p.NextCursor
	}
	if want := newestFirst(old); !slices.Equal(got, want) {
		t.Errorf("paging while inserting: got %d ids, want the %d original ones exactly once, in order", len(got), len(want))
	}
}

func testBadCursor(t *testing.T, newDB NewDB) {
	s := fresh(t, newDB)
	mustInsert(t, s, Events("bc", 5, time.Now()))
	if err := s.UpsertEndpoints(ctxT(t), []store.Endpoint{{Host: "a", Method: "GET", Path: "/a"}, {Host: "b", Method: "GET", Path: "/b"}}); err != nil {
		t.Fatal(err)
	}
	evPage, err := s.ListEvents(ctxT(t), store.EventFilter{Limit: 1})
	if err != nil {
		t.Fatal(err)
	}
	epPage, err := s.ListEndpoints(ctxT(t), store.EndpointFilter{Limit: 1})
	if err != nil {
		t.Fatal(err)
	}
	if evPage.NextCursor == "" || epPage.NextCursor == "" {
		t.Fatal("expected next cursors")
	}
	for _, c := range []string{"garbage!", "e30", "W10", epPage.NextCursor, evPage.NextCursor[:len(evPage.NextCursor)-2]} {
		if _, err := s.ListEvents(ctxT(t), store.EventFilter{Cursor: c}); !errors.Is(err, store.ErrBadCursor) {
			t.Errorf("ListEvents(cursor %q) error = %v, want ErrBadCursor", c, err)
		}
	}
	for _, c := range []string{"garbage!", evPage.NextCursor} {
		if _, err := s.ListEndpoints(ctxT(t), store.EndpointFilter{Cursor: c}); !errors.Is(err, store.ErrBadCursor) {
			t.Errorf("ListEndpoints(cursor %q) error = %v, want ErrBadCursor", c, err)
		}
	}
}

func getEndpoint(t *testing.T, s store.Store, host, method, path string) store.Endpoint {
	t.Helper()
	ep, err := s.GetEndpoint(ctxT(t), store.EndpointID(host, method, path))
	if err != nil {
		t.Fatalf("GetEndpoint(%s %s %s): %v", host, method, path, err)
	}
	return ep
}

func jsonEqual(a, b []byte) bool {
	if len(a) == 0 || len(b) == 0 {
		return len(a) == len(b)
	}
	var x, y any
	return json.Unmarshal(a, &x) == nil && json.Unmarshal(b, &y) == nil && reflect.DeepEqual(x, y)
}

func testEndpointMerge(t *testing.T, newDB NewDB) {
	dsn, dir := newDB(t)
	a, b := open(t, dsn, dir), open(t, dsn, dir)
	t0 := time.Date(2026, 1, 17, 12, 0, 0, 0, time.UTC)
	const host, method, path = "shop.example", "GET", "/products/{parameter}"
	steps := []struct {
		name    string
		replica store.Store
		in      store.Endpoint
		want    store.Endpoint
	}{
		{"first sight", a,
			store.Endpoint{Hits: 3, FirstSeen: t0.Add(time.Minute), LastSeen: t0.Add(2 * time.Minute), Status: "shadow",
				Sensitive: []string{"email"}, Detail: json.RawMessage(`{"params":["id"]}`)},
			store.Endpoint{Hits: 3, FirstSeen: t0.Add(time.Minute), LastSeen: t0.Add(2 * time.Minute), Status: "shadow",
				Sensitive: []string{"email"}, Detail: json.RawMessage(`{"params":["id"]}`)}},
		{"other replica, earlier and later, more classes", b,
			store.Endpoint{Hits: 5, FirstSeen: t0, LastSeen: t0.Add(5 * time.Minute), Sensitive: []string{"pan", "email"}},
			store.Endpoint{Hits: 8, FirstSeen: t0, LastSeen: t0.Add(5 * time.Minute), Status: "shadow",
				Sensitive: []string{"email", "pan"}, Detail: json.RawMessage(`{"params":["id"]}`)}},
		{"status and detail overwritten when set, protected sticks", a,
			store.Endpoint{Hits: 1, FirstSeen: t0.Add(3 * time.Minute), LastSeen: t0.Add(3 * time.Minute), Status: "documented",
				Protected: true, Detail: json.RawMessage(`{"params":["id","sku"]}`)},
			store.Endpoint{Hits: 9, FirstSeen: t0, LastSeen: t0.Add(5 * time.Minute), Status: "documented", Protected: true,
				Sensitive: []string{"email", "pan"}, Detail: json.RawMessage(`{"params":["id","sku"]}`)}},
		{"unset fields leave the row alone", b,
			store.Endpoint{Hits: 0, LastSeen: t0.Add(time.Minute)},
			store.Endpoint{Hits: 9, FirstSeen: t0, LastSeen: t0.Add(5 * time.Minute), Status: "documented", Protected: true,
				Sensitive: []string{"email", "pan"}, Detail: json.RawMessage(`{"params":["id","sku"]}`)}},
	}
	for _, st := range steps {
		in := st.in
		in.Host, in.Method, in.Path = host, method, path
		if err := st.replica.UpsertEndpoints(ctxT(t), []store.Endpoint{in}); err != nil {
			t.Fatalf("%s: UpsertEndpoints: %v", st.name, err)
		}
		for ri, r := range []store.Store{a, b} {
			got := getEndpoint(t, r, host, method, path)
			w := st.want
			w.ID, w.Host, w.Method, w.Path = store.EndpointID(host, method, path), host, method, path
			gd, wd := got.Detail, w.Detail
			got.Detail, w.Detail = nil, nil
			if !reflect.DeepEqual(got, w) || !jsonEqual(gd, wd) {
				t.Errorf("%s: replica %d sees\n %+v %s\nwant\n %+v %s", st.name, ri, got, gd, w, wd)
			}
		}
	}
	p, err := b.ListEndpoints(ctxT(t), store.EndpointFilter{})
	if err != nil {
		t.Fatal(err)
	}
	if len(p.Items) != 1 {
		t.Errorf("two replicas produced %d rows for one endpoint, want 1", len(p.Items))
	}
	if _, err := a.GetEndpoint(ctxT(t), store.EndpointID(host, "POST", path)); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("GetEndpoint(absent) error = %v, want ErrNotFound", err)
	}
	// Invalid detail is refused, and so is a row with no key at all.
	for _, bad := range []store.Endpoint{{Host: host, Method: method, Path: path, Detail: json.RawMessage(`{`)}, {}} {
		if err := a.UpsertEndpoints(ctxT(t), []store.Endpoint{bad}); err == nil {
			t.Errorf("UpsertEndpoints(%+v) accepted", bad)
		}
	}
}

func testEndpointConcurrent(t *testing.T, newDB NewDB) {
	dsn, dir := newDB(t)
	replicas := []store.Store{open(t, dsn, dir), open(t, dsn, dir)}
	keys := []string{"/a", "/b", "/c", "/d"}
	const rounds = 25
	var wg sync.WaitGroup
	errs := make(chan error, 4)
	for w := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for r := range rounds {
				// Overlapping sets in different orders: must neither deadlock nor lose hits.
				batch := make([]store.Endpoint, 0, len(keys))
				for k := range keys {
					p := keys[(k+w)%len(keys)]
					batch = append(batch, store.Endpoint{Host: "h", Method: "GET", Path: p, Hits: 1,
						LastSeen: time.Unix(int64(1000+r*4+w), 0), Sensitive: []string{fmt.Sprintf("class%d", w)}})
				}
				if err := replicas[w%2].UpsertEndpoints(context.Background(), batch); err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatalf("concurrent UpsertEndpoints: %v", err)
	}
	for _, k := range keys {
		ep := getEndpoint(t, replicas[0], "h", "GET", k)
		if ep.Hits != 4*rounds {
			t.Errorf("%s: hits = %d, want %d", k, ep.Hits, 4*rounds)
		}
		if want := []string{"class0", "class1", "class2", "class3"}; !slices.Equal(ep.Sensitive, want) {
			t.Errorf("%s: sensitive = %v, want %v", k, ep.Sensitive, want)
		}
		if want := time.Unix(1000+(rounds-1)*4+3, 0).UTC(); !ep.LastSeen.Equal(want) {
			t.Errorf("%s: last_seen = %v, want %v", k, ep.LastSeen, want)
		}
	}
}

func testDeleteEndpoints(t *testing.T, newDB NewDB) {
	mk := func(n int) []store.Endpoint {
		eps := make([]store.Endpoint, n)
		for i := range eps {
			eps[i] = store.Endpoint{Host: "api.example", Method: "GET", Path: fmt.Sprintf("/users/u%04d", i), Hits: 1}
		}
		return eps
	}
	id := func(ep store.Endpoint) string { return store.EndpointID(ep.Host, ep.Method, ep.Path) }
	tests := []struct {
		name    string
		rows    int
		del     func(eps []store.Endpoint) []string
		removed int64
	}{
		{"none", 3, func([]store.Endpoint) []string { return nil }, 0},
		{"some, with an unknown id", 3, func(eps []store.Endpoint) []string { return []string{id(eps[0]), "0123456789abcdef", id(eps[2])} }, 2},
		{"more than one statement's worth", 1200, func(eps []store.Endpoint) []string {
			var ids []string
			for _, ep := range eps[:1100] {
				ids = append(ids, id(ep))
			}
			return ids
		}, 1100},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := fresh(t, newDB)
			eps := mk(tc.rows)
			if err := s.UpsertEndpoints(ctxT(t), eps); err != nil {
				t.Fatal(err)
			}
			n, err := s.DeleteEndpoints(ctxT(t), tc.del(eps))
			if err != nil || n != tc.removed {
				t.Fatalf("DeleteEndpoints = %d, %v; want %d", n, err, tc.removed)
			}
			var left int
			for cursor := ""; ; {
				p, err := s.ListEndpoints(ctxT(t), store.EndpointFilter{Limit: store.MaxLimit, Cursor: cursor})
				if err != nil {
					t.Fatal(err)
				}
				left += len(p.Items)
				if cursor = p.NextCursor; cursor == "" {
					break
				}
			}
			if want := tc.rows - int(tc.removed); left != want {
				t.Errorf("%d rows left, want %d", left, want)
			}
		})
	}
}

func testListEndpoints(t *testing.T, newDB NewDB) {
	s := fresh(t, newDB)
	var eps []store.Endpoint
	for i := range 23 {
		host := []string{"api.example", "shop.example"}[i%2]
		status := []string{"documented", "shadow", "zombie", ""}[i%4]
		eps = append(eps, store.Endpoint{Host: host, Method: []string{"GET", "POST"}[i%3%2], Path: fmt.Sprintf("/r%02d", i), Hits: int64(i), Status: status})
	}
	if err := s.UpsertEndpoints(ctxT(t), eps); err != nil {
		t.Fatal(err)
	}
	want := func(keep func(store.Endpoint) bool) []string {
		var sel []store.Endpoint
		for _, ep := range eps {
			if keep(ep) {
				sel = append(sel, ep)
			}
		}
		slices.SortFunc(sel, func(a, b store.Endpoint) int {
			return cmpStrings(a.Host+"\x00"+a.Path+"\x00"+a.Method, b.Host+"\x00"+b.Path+"\x00"+b.Method)
		})
		ids := make([]string, len(sel))
		for i, ep := range sel {
			ids[i] = store.EndpointID(ep.Host, ep.Method, ep.Path)
		}
		return ids
	}
	tests := []struct {
		name string
		f    store.EndpointFilter
		want []string
	}{
		{"all", store.EndpointFilter{}, want(func(store.Endpoint) bool { return true })},
		{"host", store.EndpointFilter{Host: "shop.example"}, want(func(e store.Endpoint) bool { return e.Host == "shop.example" })},
		{"status", store.EndpointFilter{Status: "zombie"}, want(func(e store.Endpoint) bool { return e.Status == "zombie" })},
		{"host and status", store.EndpointFilter{Host: "api.example", Status: "documented"},
			want(func(e store.Endpoint) bool { return e.Host == "api.example" && e.Status == "documented" })},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			for _, lim := range []int{0, 1, 5} {
				f := tc.f
				f.Limit = lim
				var got []string
				for {
					p, err := s.ListEndpoints(ctxT(t), f)
					if err != nil {
						t.Fatal(err)
					}
					for _, ep := range p.Items {
						got = append(got, ep.ID)
					}
					if p.NextCursor == "" {
						break
					}
					f.Cursor = p.NextCursor
				}
				if !slices.Equal(got, tc.want) {
					t.Errorf("limit %d:\n got %v\nwant %v", lim, got, tc.want)
				}
			}
		})
	}
}

func cmpStrings(a, b string) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

func testPruneByAge(t *testing.T, newDB NewDB) {
	s := fresh(t, newDB)
	now := time.Now()
	mustInsert(t, s, Events("fresh", 30, now))
	mustInsert(t, s, Events("stale", 20, now.Add(-3*time.Hour)))
	tests := []struct {
		name        string
		maxAge      time.Duration
		wantDeleted int64
		wantLeft    int64
	}{
		{"no limit", 0, 0, 50},
		{"older than the data", 24 * time.Hour, 0, 50},
		{"drops the stale", time.Hour, 20, 30},
		{"again: nothing left to drop", time.Hour, 0, 30},
	}
	for _, tc := range tests {
		n, err := s.Prune(ctxT(t), tc.maxAge, 0)
		if err != nil {
			t.Fatalf("%s: Prune: %v", tc.name, err)
		}
		if n != tc.wantDeleted || count(t, s) != tc.wantLeft {
			t.Errorf("%s: deleted %d (want %d), %d left (want %d)", tc.name, n, tc.wantDeleted, count(t, s), tc.wantLeft)
		}
	}
	for _, id := range listAll(t, s, store.EventFilter{Limit: store.MaxLimit}) {
		if id[:5] != "fresh" {
			t.Errorf("Prune kept %s, which is older than the limit", id)
		}
	}
}

func testPruneByCount(t *testing.T, newDB NewDB) {
	s := fresh(t, newDB)
	evs := Events("cnt", 100, time.Now())
	mustInsert(t, s, evs)
	order := newestFirst(evs)
	tests := []struct {
		maxCount    int64
		wantDeleted int64
	}{
		{0, 0},
		{500, 0},
		{100, 0},
		{37, 63}, // 37 falls inside a group of equal timestamps: txn_id breaks the tie
		{10, 27},
		{10, 0},
	}
	for _, tc := range tests {
		n, err := s.Prune(ctxT(t), 0, tc.maxCount)
		if err != nil {
			t.Fatalf("Prune(0, %d): %v", tc.maxCount, err)
		}
		if n != tc.wantDeleted {
			t.Errorf("Prune(0, %d) deleted %d, want %d", tc.maxCount, n, tc.wantDeleted)
		}
	}
	if got, want := listAll(t, s, store.EventFilter{}), order[:10]; !slices.Equal(got, want) {
		t.Errorf("kept %v, want the newest %v", got, want)
	}
	// Age and count together.
	n, err := s.Prune(ctxT(t), time.Nanosecond, 5)
	if err != nil || n != 10 || count(t, s) != 0 {
		t.Errorf("Prune(1ns, 5) = %d, %v; want 10 deleted and none left", n, err)
	}
}

func testSettings(t *testing.T, newDB NewDB) {
	s := fresh(t, newDB)
	ctx := ctxT(t)
	if _, _, err := s.GetSetting(ctx, "policies"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("GetSetting(absent) error = %v, want ErrNotFound", err)
	}
	if _, err := s.PutSetting(ctx, "", []byte(`{}`)); err == nil {
		t.Error("PutSetting accepted an empty key")
	}
	steps := []struct {
		key         string
		value       string
		wantVersion int64
	}{
		{"policies", `{"rules":[]}`, 1},
		{"policies", `{"rules":[{"name":"a"}]}`, 2},
		{"config", `  {"mode": "monitor"}  `, 1}, // stored byte for byte
		{"policies", `{"rules":[{"name":"b"}]}`, 3},
		{"empty", ``, 1},
	}
	latest := map[string]string{}
	for _, st := range steps {
		v, err := s.PutSetting(ctx, st.key, []byte(st.value))
		if err != nil {
			t.Fatalf("PutSetting(%s): %v", st.key, err)
		}
		if v != st.wantVersion {
			t.Errorf("PutSetting(%s) version = %d, want %d", st.key, v, st.wantVersion)
		}
		latest[st.key] = st.value
		got, gv, err := s.GetSetting(ctx, st.key)
		if err != nil || !bytes.Equal(got, []byte(st.value)) || gv != st.wantVersion {
			t.Errorf("GetSetting(%s) = %q, %d, %v; want %q, %d", st.key, got, gv, err, st.value, st.wantVersion)
		}
	}
	for k, want := range latest {
		got, _, err := s.GetSetting(ctx, k)
		if err != nil || string(got) != want {
			t.Errorf("GetSetting(%s) = %q, %v; want %q", k, got, err, want)
		}
	}
}

func testSettingsConcurrent(t *testing.T, newDB NewDB) {
	dsn, dir := newDB(t)
	replicas := []store.Store{open(t, dsn, dir), open(t, dsn, dir)}
	const perWorker = 15
	var (
		mu       sync.Mutex
		versions []int64
		wg       sync.WaitGroup
		errs     = make(chan error, 4)
	)
	for w := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range perWorker {
				v, err := replicas[w%2].PutSetting(context.Background(), "policies", fmt.Appendf(nil, `{"w":%d,"i":%d}`, w, i))
				if err != nil {
					errs <- err
					return
				}
				mu.Lock()
				versions = append(versions, v)
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatalf("concurrent PutSetting: %v", err)
	}
	slices.Sort(versions)
	for i, v := range versions {
		if v != int64(i+1) {
			t.Fatalf("versions handed out = %v, want 1..%d each exactly once", versions, 4*perWorker)
		}
	}
	if _, v, err := replicas[1].GetSetting(ctxT(t), "policies"); err != nil || v != 4*perWorker {
		t.Errorf("final version = %d, %v; want %d", v, err, 4*perWorker)
	}
}

func schemaVersion(t *testing.T, s store.Store) int64 {
	t.Helper()
	vs, ok := s.(versioner)
	if !ok {
		t.Fatalf("%T does not report SchemaVersion", s)
	}
	v, err := vs.SchemaVersion(ctxT(t))
	if err != nil {
		t.Fatalf("SchemaVersion: %v", err)
	}
	return v
}

func testMigrationsRerun(t *testing.T, newDB NewDB) {
	dsn, dir := newDB(t)
	s := open(t, dsn, dir)
	v1 := schemaVersion(t, s)
	if v1 < 1 {
		t.Fatalf("schema version after Open = %d, want >= 1", v1)
	}
	mustInsert(t, s, Events("mig", 10, time.Now()))
	if _, err := s.PutSetting(ctxT(t), "k", []byte(`1`)); err != nil {
		t.Fatal(err)
	}
	for i := range 2 { // reopening applies nothing and loses nothing
		r := open(t, dsn, dir)
		if v := schemaVersion(t, r); v != v1 {
			t.Errorf("reopen %d: schema version %d, want %d", i, v, v1)
		}
		if n := count(t, r); n != 10 {
			t.Errorf("reopen %d: %d events, want 10", i, n)
		}
		if _, v, err := r.GetSetting(ctxT(t), "k"); err != nil || v != 1 {
			t.Errorf("reopen %d: setting version %d, %v; want 1", i, v, err)
		}
		if err := r.Ping(ctxT(t)); err != nil {
			t.Errorf("reopen %d: Ping: %v", i, err)
		}
	}
}

func testConcurrentOpen(t *testing.T, newDB NewDB) {
	dsn, dir := newDB(t)
	const n = 3
	stores := make([]store.Store, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			stores[i], errs[i] = store.Open(ctxT(t), dsn, dir)
		}()
	}
	wg.Wait()
	for i := range n {
		if errs[i] != nil {
			t.Errorf("Open %d of %d at once: %v", i, n, errs[i])
			continue
		}
		t.Cleanup(func() { stores[i].Close() })
	}
	if t.Failed() {
		return
	}
	want := schemaVersion(t, stores[0])
	for i, s := range stores {
		if v := schemaVersion(t, s); v != want {
			t.Errorf("store %d: schema version %d, want %d", i, v, want)
		}
	}
	mustInsert(t, stores[1], Events("co", 3, time.Now()))
	if got := count(t, stores[2]); got != 3 {
		t.Errorf("after concurrent Open: %d events visible, want 3", got)
	}
}
