package store_test

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/vigil-sec/vigil/internal/store"
	"github.com/vigil-sec/vigil/internal/store/storetest"
)

func TestQueryInventorySQLite(t *testing.T) { runQueryInventory(t, storetest.SQLite) }

func TestQueryInventoryPostgres(t *testing.T) {
	storetest.Postgres(t)
	runQueryInventory(t, storetest.Postgres)
}

func openStore(t testing.TB, newDB storetest.NewDB) store.Store {
	t.Helper()
	dsn, dir := newDB(t)
	st, err := store.Open(context.Background(), dsn, dir)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return st
}

type inventoryQuerier interface {
	QueryInventory(ctx context.Context, f store.InventoryFilter) (store.InventoryPage, error)
}

func runQueryInventory(t *testing.T, newDB storetest.NewDB) {
	ctx := context.Background()
	st := openStore(t, newDB)
	t0 := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	eps := []store.Endpoint{
		{Host: "shop.local", Method: "GET", Path: "/products", Hits: 50, LastSeen: t0.Add(3 * time.Minute), Status: "documented"},
		{Host: "shop.local", Method: "GET", Path: "/products/{parameter}", Hits: 20, LastSeen: t0.Add(5 * time.Minute), Status: "documented"},
		{Host: "shop.local", Method: "POST", Path: "/login", Hits: 5, LastSeen: t0.Add(1 * time.Minute), Status: "shadow", Sensitive: []string{"email", "password"}},
		{Host: "Pay.Example", Method: "POST", Path: "/v1/charges", Hits: 7, LastSeen: t0, Status: "zombie", Sensitive: []string{"pan"}},
		{Host: "shop.local", Method: "GET", Path: "/100%_off", Hits: 1, LastSeen: t0, Status: "shadow"},
		{Host: "api.local", Method: "DELETE", Path: "/users/{parameter}", Hits: 2, LastSeen: t0.Add(2 * time.Minute), Sensitive: []string{"email_like"}},
	}
	if err := st.UpsertEndpoints(ctx, eps); err != nil {
		t.Fatal(err)
	}
	detail := []byte(`{"big":"detail"}`)
	if err := st.UpsertEndpoints(ctx, []store.Endpoint{{Host: "shop.local", Method: "GET", Path: "/products", Detail: detail}}); err != nil {
		t.Fatal(err)
	}
	q, ok := st.(inventoryQuerier)
	if !ok {
		t.Fatal("the store has no QueryInventory")
	}
	tests := []struct {
		name  string
		f     store.InventoryFilter
		total int64
		want  []string // "METHOD host path" in order
	}{
		{"all, host path method order", store.InventoryFilter{}, 6, []string{
			"POST Pay.Example /v1/charges", "DELETE api.local /users/{parameter}", "GET shop.local /100%_off",
			"POST shop.local /login", "GET shop.local /products", "GET shop.local /products/{parameter}"}},
		{"substring of a path", store.InventoryFilter{Query: "product"}, 2, []string{"GET shop.local /products", "GET shop.local /products/{parameter}"}},
		{"substring of a host in another case", store.InventoryFilter{Query: "pay.ex"}, 1, []string{"POST Pay.Example /v1/charges"}},
		{"percent is literal", store.InventoryFilter{Query: "%"}, 1, []string{"GET shop.local /100%_off"}},
		{"underscore is literal", store.InventoryFilter{Query: "0_o"}, 0, nil},
		{"host", store.InventoryFilter{Host: "api.local"}, 1, []string{"DELETE api.local /users/{parameter}"}},
		{"method", store.InventoryFilter{Method: "POST"}, 2, []string{"POST Pay.Example /v1/charges", "POST shop.local /login"}},
		{"status", store.InventoryFilter{Status: "shadow"}, 2, []string{"GET shop.local /100%_off", "POST shop.local /login"}},
		{"sensitive class, whole names only", store.InventoryFilter{Sensitive: "email"}, 1, []string{"POST shop.local /login"}},
		{"hits, most first", store.InventoryFilter{Sort: "hits", Desc: true, Limit: 3}, 6, []string{
			"GET shop.local /products", "GET shop.local /products/{parameter}", "POST Pay.Example /v1/charges"}},
		{"last seen, oldest first, ties by host", store.InventoryFilter{Sort: "last_seen", Limit: 2}, 6, []string{
			"POST Pay.Example /v1/charges", "GET shop.local /100%_off"}},
		{"method descending", store.InventoryFilter{Sort: "method", Desc: true, Limit: 2}, 6, []string{
			"POST Pay.Example /v1/charges", "POST shop.local /login"}},
		{"second page", store.InventoryFilter{Limit: 4, Offset: 4}, 6, []string{"GET shop.local /products", "GET shop.local /products/{parameter}"}},
		{"past the end", store.InventoryFilter{Offset: 100}, 6, nil},
		{"combined", store.InventoryFilter{Query: "s", Method: "GET", Status: "documented", Sort: "path", Desc: true}, 2, []string{
			"GET shop.local /products/{parameter}", "GET shop.local /products"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p, err := q.QueryInventory(ctx, tc.f)
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, e := range p.Items {
				got = append(got, e.Method+" "+e.Host+" "+e.Path)
				if e.Detail != nil {
					t.Errorf("%s carries its detail", e.Path)
				}
				if e.ID != store.EndpointID(e.Host, e.Method, e.Path) {
					t.Errorf("%s: id %q", e.Path, e.ID)
				}
			}
			if p.Total != tc.total || !slices.Equal(got, tc.want) {
				t.Fatalf("total %d, rows %q; want %d, %q", p.Total, got, tc.total, tc.want)
			}
		})
	}
	if _, err := q.QueryInventory(ctx, store.InventoryFilter{Sort: "id; DROP TABLE endpoints"}); err == nil {
		t.Fatal("an unknown sort column was accepted")
	}
	p, err := q.QueryInventory(ctx, store.InventoryFilter{Host: "shop.local", Status: "shadow", Sensitive: "password"})
	if err != nil || p.Total != 1 || p.Items[0].Hits != 5 || !slices.Equal(p.Items[0].Sensitive, []string{"email", "password"}) ||
		!p.Items[0].LastSeen.Equal(t0.Add(time.Minute)) {
		t.Fatalf("row columns: %+v %v", p, err)
	}
}

// BenchmarkQueryInventory is the inventory page's query against 10,000
// endpoints: the default page, a substring filter, and a sort by hits.
func BenchmarkQueryInventorySQLite(b *testing.B)   { benchQueryInventory(b, storetest.SQLite) }
func BenchmarkQueryInventoryPostgres(b *testing.B) { benchQueryInventory(b, storetest.Postgres) }

func benchQueryInventory(b *testing.B, newDB storetest.NewDB) {
	ctx := context.Background()
	st := openStore(b, newDB)
	now := time.Now()
	batch := make([]store.Endpoint, 0, 500)
	for i := range 10000 {
		batch = append(batch, store.Endpoint{Host: fmt.Sprintf("svc%02d.local", i%40), Method: []string{"GET", "POST", "PUT"}[i%3],
			Path: fmt.Sprintf("/api/v%d/resource%05d/{parameter}", i%3, i), Hits: int64(i * 7 % 1000), LastSeen: now.Add(-time.Duration(i) * time.Second),
			Status: []string{"documented", "shadow", "zombie"}[i%3], Sensitive: [][]string{nil, {"email"}, {"pan", "email"}}[i%3],
			Detail: []byte(`{"request_schema":{"type":"object"}}`)})
		if len(batch) == cap(batch) {
			if err := st.UpsertEndpoints(ctx, batch); err != nil {
				b.Fatal(err)
			}
			batch = batch[:0]
		}
	}
	q := st.(inventoryQuerier)
	for _, c := range []struct {
		name string
		f    store.InventoryFilter
	}{
		{"default", store.InventoryFilter{Limit: 50}},
		{"substring", store.InventoryFilter{Query: "resource09", Limit: 50}},
		{"hits_desc_page_20", store.InventoryFilter{Sort: "hits", Desc: true, Limit: 50, Offset: 950}},
		{"sensitive_status", store.InventoryFilter{Sensitive: "pan", Status: "zombie", Limit: 50}},
	} {
		b.Run(c.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := q.QueryInventory(ctx, c.f); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
