package ui

import (
	"context"
	"fmt"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/vigil-sec/vigil/internal/store"
)

// seedEndpoints stores n endpoints: hosts shop.local and pay.local, every
// third shadow, every fifth zombie, every fourth carrying email; hits i+1,
// last seen i minutes ago.
func seedEndpoints(t testing.TB, st store.Store, n int) []store.Endpoint {
	t.Helper()
	now := time.Now()
	eps := make([]store.Endpoint, 0, n)
	for i := range n {
		ep := store.Endpoint{Host: "shop.local", Method: "GET", Path: fmt.Sprintf("/items/%04d", i), Hits: int64(i + 1),
			FirstSeen: now.Add(-time.Hour), LastSeen: now.Add(-time.Duration(i) * time.Minute), Status: "documented", Protected: i%2 == 0}
		if i%2 == 1 {
			ep.Host, ep.Method = "pay.local", "POST"
		}
		switch {
		case i%5 == 0:
			ep.Status = "zombie"
		case i%3 == 0:
			ep.Status = "shadow"
		}
		if i%4 == 0 {
			ep.Sensitive = []string{"email"}
		}
		eps = append(eps, ep)
	}
	for i := 0; i < len(eps); i += 500 {
		if err := st.UpsertEndpoints(context.Background(), eps[i:min(i+500, len(eps))]); err != nil {
			t.Fatal(err)
		}
	}
	for i := range eps {
		eps[i].ID = store.EndpointID(eps[i].Host, eps[i].Method, eps[i].Path)
	}
	return eps
}

var (
	rowRe   = regexp.MustCompile(`<tr class="endpoint" data-id="([0-9a-f]{16})">\s*<td>([^<]*)</td>\s*<td class="path"><a class="endpoint-link" href="/ui/endpoints/([0-9a-f]{16})">([^<]*)</a>`)
	countRe = regexp.MustCompile(`<span id="inventory-count">(\d+)</span>`)
	hrefRe  = func(id string) *regexp.Regexp {
		return regexp.MustCompile(`<a id="` + id + `" class="button" href="([^"]+)"`)
	}
)

type row struct{ id, host, path string }

func rowsOf(t *testing.T, body string) []row {
	t.Helper()
	var out []row
	for _, m := range rowRe.FindAllStringSubmatch(body, -1) {
		if m[1] != m[3] {
			t.Fatalf("row %s links to %s", m[1], m[3])
		}
		out = append(out, row{m[1], m[2], m[4]})
	}
	return out
}

func TestInventory(t *testing.T) {
	f := newFixture(t, nil)
	seedEndpoints(t, f.store, 120)
	c := f.client()
	f.signIn(c, adminToken)
	tests := []struct {
		name      string
		query     string
		count     int
		rows      int
		firstPath string
		check     func(t *testing.T, rows []row)
	}{
		{name: "everything, host then path", query: "", count: 120, rows: 50, firstPath: "/items/0001"},
		{name: "page 3", query: "?page=3", count: 120, rows: 20, firstPath: "/items/0080"},
		{name: "substring of the path", query: "?q=items/001", count: 10, rows: 10, firstPath: "/items/0011"},
		{name: "substring of the host, any case", query: "?q=PAY.lo", count: 60, rows: 50},
		{name: "substring is literal, not a pattern", query: "?q=%25", count: 0, rows: 0},
		{name: "host", query: "?host=shop.local", count: 60, rows: 50, check: func(t *testing.T, rows []row) {
			for _, r := range rows {
				if r.host != "shop.local" {
					t.Fatalf("row of host %s", r.host)
				}
			}
		}},
		{name: "method, lower case accepted", query: "?method=post", count: 60, rows: 50},
		{name: "zombies", query: "?status=zombie", count: 24, rows: 24},
		{name: "shadow on one host", query: "?status=shadow&host=pay.local", count: 16, rows: 16},
		{name: "sensitive class", query: "?sensitive=email", count: 30, rows: 30},
		{name: "sensitive class not present", query: "?sensitive=pan", count: 0, rows: 0},
		{name: "most hits first", query: "?sort=hits&dir=desc", count: 120, rows: 50, firstPath: "/items/0119"},
		{name: "fewest hits first", query: "?sort=hits&dir=asc", count: 120, rows: 50, firstPath: "/items/0000"},
		{name: "sort by path descending", query: "?sort=path&dir=desc", count: 120, rows: 50, firstPath: "/items/0119"},
		{name: "most recently observed first (default direction)", query: "?sort=last_seen", count: 120, rows: 50, firstPath: "/items/0000"},
		{name: "past the end", query: "?page=9", count: 120, rows: 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := f.get(c, "/ui/inventory"+tc.query)
			if r.StatusCode != 200 {
				t.Fatalf("status %d:\n%s", r.StatusCode, r.body)
			}
			m := countRe.FindStringSubmatch(r.body)
			if m == nil || m[1] != strconv.Itoa(tc.count) {
				t.Fatalf("count %v, want %d", m, tc.count)
			}
			rows := rowsOf(t, r.body)
			if len(rows) != tc.rows {
				t.Fatalf("%d rows, want %d", len(rows), tc.rows)
			}
			if tc.firstPath != "" && rows[0].path != tc.firstPath {
				t.Fatalf("first row %s, want %s", rows[0].path, tc.firstPath)
			}
			if tc.check != nil {
				tc.check(t, rows)
			}
			// The live fragment has the same rows and the count in X-Count.
			q := strings.TrimPrefix(tc.query, "?")
			fr := f.get(c, "/ui/inventory/rows?"+q)
			if fr.StatusCode != 200 || fr.Header.Get("X-Count") != strconv.Itoa(tc.count) {
				t.Fatalf("fragment: %d X-Count %q", fr.StatusCode, fr.Header.Get("X-Count"))
			}
			if got := rowsOf(t, fr.body); len(got) != len(rows) || (len(rows) > 0 && got[0] != rows[0]) {
				t.Fatalf("fragment rows differ from the page's")
			}
			if strings.Contains(fr.body, "<html") {
				t.Fatal("fragment carries the layout")
			}
		})
	}
}

// TestInventoryLinks follows the pager and the sort headers as a user
// clicks them: filters are kept, every row is seen once.
func TestInventoryLinks(t *testing.T) {
	f := newFixture(t, nil)
	seedEndpoints(t, f.store, 120)
	c := f.client()
	f.signIn(c, adminToken)
	seen := map[string]bool{}
	path := "/ui/inventory?status=documented"
	pages := 0
	for path != "" {
		r := f.get(c, path)
		pages++
		for _, rw := range rowsOf(t, r.body) {
			if seen[rw.id] {
				t.Fatalf("row %s twice", rw.id)
			}
			seen[rw.id] = true
		}
		path = ""
		if m := hrefRe("next-page").FindStringSubmatch(r.body); m != nil {
			path = strings.ReplaceAll(m[1], "&amp;", "&")
			if !strings.Contains(path, "status=documented") {
				t.Fatalf("next link drops the filter: %s", path)
			}
		}
		if pages > 10 {
			t.Fatal("pager does not end")
		}
	}
	if len(seen) != 64 || pages != 2 {
		t.Fatalf("saw %d documented rows on %d pages, want 64 on 2", len(seen), pages)
	}
	r := f.get(c, "/ui/inventory?status=documented&page=2")
	if m := hrefRe("prev-page").FindStringSubmatch(r.body); m == nil || strings.Contains(m[1], "page=") {
		t.Fatalf("prev link from page 2: %v", m)
	}
	// A sort header toggles its direction and keeps the filter.
	r = f.get(c, "/ui/inventory?status=documented")
	sortHits := regexp.MustCompile(`<a class="sort" data-sort="hits" href="([^"]+)"`).FindStringSubmatch(r.body)
	if sortHits == nil {
		t.Fatal("no hits sort link")
	}
	u := strings.ReplaceAll(sortHits[1], "&amp;", "&")
	if !strings.Contains(u, "sort=hits") || !strings.Contains(u, "dir=desc") || !strings.Contains(u, "status=documented") {
		t.Fatalf("hits sort link %s", u)
	}
	r = f.get(c, u)
	toggled := regexp.MustCompile(`<a class="sort" data-sort="hits" href="([^"]+)" aria-sort="descending"`).FindStringSubmatch(r.body)
	if toggled == nil || !strings.Contains(toggled[1], "dir=asc") {
		t.Fatalf("sorted column does not toggle: %v", toggled)
	}
}

// TestInventoryLive: rows stored after the page was rendered appear in
// the fragment live.js polls.
func TestInventoryLive(t *testing.T) {
	f := newFixture(t, nil)
	c := f.client()
	f.signIn(c, adminToken)
	page := f.get(c, "/ui/inventory")
	if !strings.Contains(page.body, `data-live="/ui/inventory/rows"`) || !strings.Contains(page.body, "No endpoints match") ||
		!regexp.MustCompile(`<script src="/ui/static/live\.js\?v=[0-9a-f]+"></script>`).MatchString(page.body) {
		t.Fatalf("empty inventory page:\n%s", page.body)
	}
	seedEndpoints(t, f.store, 3)
	fr := f.get(c, "/ui/inventory/rows")
	if len(rowsOf(t, fr.body)) != 3 || fr.Header.Get("X-Count") != "3" {
		t.Fatalf("fragment after traffic: %s\n%s", fr.Header.Get("X-Count"), fr.body)
	}
	if fr.Header.Get("Cache-Control") != "no-store" {
		t.Fatalf("fragment Cache-Control %q", fr.Header.Get("Cache-Control"))
	}
	r := f.get(f.client(), "/ui/inventory/rows")
	if r.StatusCode != http.StatusUnauthorized {
		t.Fatalf("fragment signed out: %d", r.StatusCode)
	}
}

func TestInventoryEscapes(t *testing.T) {
	f := newFixture(t, nil)
	if err := f.store.UpsertEndpoints(context.Background(), []store.Endpoint{{Host: `<script>alert(1)</script>`, Method: "GET", Path: `/"><img src=x>`}}); err != nil {
		t.Fatal(err)
	}
	c := f.client()
	f.signIn(c, adminToken)
	r := f.get(c, "/ui/inventory?q=%3Cscript")
	if strings.Contains(r.body, "<script>alert") || strings.Contains(r.body, `<img src=x>`) {
		t.Fatalf("unescaped:\n%s", r.body)
	}
	if len(rowsOf(t, r.body)) != 1 {
		t.Fatalf("the row is not shown:\n%s", r.body)
	}
}
