package ui

import (
	"context"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/vigil-sec/vigil/internal/store"
)

// inventoryQuerier is the store's filtered, sorted, paged inventory
// (both backends implement it).
type inventoryQuerier interface {
	QueryInventory(ctx context.Context, f store.InventoryFilter) (store.InventoryPage, error)
}

// inventoryPerPage is the number of rows a page shows.
const inventoryPerPage = 50

// invQuery is the inventory's query string, checked.
type invQuery struct {
	Q, Host, Method, Status, Sensitive string
	Sort, Dir                          string
	Page                               int
}

// parseInvQuery checks the filter, sort and page parameters.
func parseInvQuery(v url.Values) (invQuery, error) {
	q := invQuery{Method: strings.ToUpper(strings.TrimSpace(v.Get("method"))), Status: v.Get("status"),
		Sort: v.Get("sort"), Dir: v.Get("dir"), Page: 1}
	var err error
	for _, p := range []struct {
		name string
		dst  *string
	}{{"q", &q.Q}, {"host", &q.Host}, {"sensitive", &q.Sensitive}} {
		if *p.dst, err = textParam(v, p.name); err != nil {
			return q, err
		}
	}
	if len(q.Method) > 16 || strings.IndexFunc(q.Method, func(r rune) bool { return r < 'A' || r > 'Z' }) >= 0 {
		return q, badParam("method", "must be an HTTP method such as GET")
	}
	switch q.Status {
	case "", "documented", "shadow", "zombie":
	default:
		return q, badParam("status", "must be documented, shadow or zombie")
	}
	if q.Sort == "" {
		q.Sort = "host"
	}
	if !store.ValidInventorySort(q.Sort) {
		return q, badParam("sort", "must be host, path, method, hits or last_seen")
	}
	switch q.Dir {
	case "":
		q.Dir = defaultDir(q.Sort)
	case "asc", "desc":
	default:
		return q, badParam("dir", "must be asc or desc")
	}
	if p := v.Get("page"); p != "" {
		n, err := strconv.Atoi(p)
		if err != nil || n < 1 || n > 1_000_000 {
			return q, badParam("page", "must be a page number from 1")
		}
		q.Page = n
	}
	return q, nil
}

// defaultDir is the direction a column sorts in first: counts and times
// biggest first, names A to Z.
func defaultDir(sort string) string {
	if sort == "hits" || sort == "last_seen" {
		return "desc"
	}
	return "asc"
}

func (q invQuery) filter() store.InventoryFilter {
	return store.InventoryFilter{Query: q.Q, Host: q.Host, Method: q.Method, Status: q.Status, Sensitive: q.Sensitive,
		Sort: q.Sort, Desc: q.Dir == "desc", Offset: (q.Page - 1) * inventoryPerPage, Limit: inventoryPerPage}
}

// values is q as a query string, defaults left out; with overrides.
func (q invQuery) values(set ...string) url.Values {
	v := url.Values{}
	add := func(k, val string) {
		if val != "" {
			v.Set(k, val)
		}
	}
	add("q", q.Q)
	add("host", q.Host)
	add("method", q.Method)
	add("status", q.Status)
	add("sensitive", q.Sensitive)
	if q.Sort != "host" || q.Dir != "asc" {
		add("sort", q.Sort)
		add("dir", q.Dir)
	}
	if q.Page > 1 {
		v.Set("page", strconv.Itoa(q.Page))
	}
	for i := 0; i+1 < len(set); i += 2 {
		if set[i+1] == "" {
			v.Del(set[i])
		} else {
			v.Set(set[i], set[i+1])
		}
	}
	return v
}

func (q invQuery) url(path string, set ...string) string {
	if enc := q.values(set...).Encode(); enc != "" {
		return path + "?" + enc
	}
	return path
}

// sortLink is one sortable column header.
type sortLink struct {
	Key, Label, URL string
	// Aria is the aria-sort value: ascending, descending or none.
	Aria string
}

// inventoryData is what inventory.html shows.
type inventoryData struct {
	Q        invQuery
	Items    []store.Endpoint
	Total    int64
	Page     int
	Pages    int
	First    int // 1-based index of the first row shown
	Last     int
	PrevURL  string
	NextURL  string
	RowsURL  string
	Sorts    map[string]sortLink
	Statuses []string
	Methods  []string
}

var inventoryColumns = []struct{ key, label string }{
	{"host", "Host"}, {"path", "Path"}, {"method", "Methods"}, {"hits", "Hits"}, {"last_seen", "Last observed"},
}

func (s *Server) queryInventory(r *http.Request) (inventoryData, error) {
	q, err := parseInvQuery(r.URL.Query())
	if err != nil {
		return inventoryData{}, err
	}
	iq, ok := s.o.Store.(inventoryQuerier)
	if !ok {
		return inventoryData{}, errNoInventoryQuery
	}
	p, err := iq.QueryInventory(r.Context(), q.filter())
	if err != nil {
		return inventoryData{}, err
	}
	d := inventoryData{Q: q, Items: p.Items, Total: p.Total, Page: q.Page,
		Pages:    int((p.Total + inventoryPerPage - 1) / inventoryPerPage),
		RowsURL:  q.url("/ui/inventory/rows"),
		Sorts:    map[string]sortLink{},
		Statuses: []string{"documented", "shadow", "zombie"},
		Methods:  []string{"GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"},
	}
	if len(p.Items) > 0 {
		d.First = (q.Page-1)*inventoryPerPage + 1
		d.Last = d.First + len(p.Items) - 1
	}
	if q.Page > 1 {
		d.PrevURL = q.url("/ui/inventory", "page", pageParam(q.Page-1))
	}
	if int64(q.Page)*inventoryPerPage < p.Total {
		d.NextURL = q.url("/ui/inventory", "page", strconv.Itoa(q.Page+1))
	}
	for _, c := range inventoryColumns {
		l := sortLink{Key: c.key, Label: c.label, Aria: "none"}
		dir := defaultDir(c.key)
		if q.Sort == c.key {
			l.Aria = map[string]string{"asc": "ascending", "desc": "descending"}[q.Dir]
			dir = map[string]string{"asc": "desc", "desc": "asc"}[q.Dir]
		}
		l.URL = q.url("/ui/inventory", "sort", c.key, "dir", dir, "page", "")
		d.Sorts[c.key] = l
	}
	return d, nil
}

// pageParam is the page parameter of page n ("" for the first).
func pageParam(n int) string {
	if n <= 1 {
		return ""
	}
	return strconv.Itoa(n)
}

var errNoInventoryQuery = &pageError{status: http.StatusNotImplemented, id: "internal-error",
	msg: "This store cannot query the inventory."}

func (s *Server) inventory(w http.ResponseWriter, r *http.Request) error {
	d, err := s.queryInventory(r)
	if err != nil {
		return err
	}
	return s.render(w, r, "inventory", d)
}

// inventoryRows is the polled tbody of the inventory; X-Count is the
// number of matching endpoints.
func (s *Server) inventoryRows(w http.ResponseWriter, r *http.Request) error {
	d, err := s.queryInventory(r)
	if err != nil {
		return err
	}
	w.Header().Set("X-Count", strconv.FormatInt(d.Total, 10))
	return s.renderFragment(w, r, "inventory", "rows", d)
}
