package store

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
)

// InventoryFilter selects, orders and pages inventory rows for the
// dashboard. Zero fields do not filter.
type InventoryFilter struct {
	// Query is a substring of the host or the path (ASCII letters match
	// in either case).
	Query     string
	Host      string // exact host
	Method    string // exact method
	Status    string // documented, shadow, zombie
	Sensitive string // a data class the endpoint carries
	// Sort is host (the default), path, method, hits or last_seen; rows
	// that tie are in host, path, method order.
	Sort   string
	Desc   bool
	Offset int
	Limit  int // DefaultLimit when <= 0, at most MaxLimit
}

// InventoryPage is one page of the inventory.
type InventoryPage struct {
	// Items are the rows without Detail.
	Items []Endpoint
	// Total is the number of rows matching the filter.
	Total int64
}

// InventorySorts are the InventoryFilter.Sort values, with their columns.
var inventorySorts = map[string]string{
	"": "host", "host": "host", "path": "path", "method": "method", "hits": "hits", "last_seen": "last_seen_ns",
}

// ValidInventorySort reports whether s is an InventoryFilter.Sort value.
func ValidInventorySort(s string) bool { _, ok := inventorySorts[s]; return ok }

// inventoryCols are endpointCols without the detail (NULL in its place).
const inventoryCols = "id, host, method, path, hits, first_seen_ns, last_seen_ns, protected, status, sensitive, NULL"

// likeEscape makes s a literal LIKE pattern (escape character \).
func likeEscape(s string) string {
	return strings.NewReplacer(`\`, `\\`, `%`, `\%`, `_`, `\_`).Replace(s)
}

// inventoryQueries are the count and the page SELECTs of f. postgres
// picks the dialect: ILIKE and text[] on PostgreSQL, LIKE (ASCII
// case-insensitive) and a JSON array on SQLite.
func inventoryQueries(f InventoryFilter, postgres bool) (count, list string, args []any, err error) {
	col, ok := inventorySorts[f.Sort]
	if !ok {
		return "", "", nil, fmt.Errorf("store: unknown inventory sort %q", f.Sort)
	}
	ph, like := sqlitePH, "LIKE"
	if postgres {
		ph, like = postgresPH, "ILIKE"
	}
	q := query{ph: ph}
	if f.Query != "" {
		pat := "%" + likeEscape(f.Query) + "%"
		q.cond("(host " + like + " " + q.arg(pat) + " ESCAPE '\\' OR path " + like + " " + q.arg(pat) + " ESCAPE '\\')")
	}
	if f.Host != "" {
		q.cond("host = " + q.arg(f.Host))
	}
	if f.Method != "" {
		q.cond("method = " + q.arg(f.Method))
	}
	if f.Status != "" {
		q.cond("status = " + q.arg(f.Status))
	}
	if f.Sensitive != "" {
		if postgres {
			q.cond(q.arg(f.Sensitive) + " = ANY(sensitive)")
		} else {
			b, _ := json.Marshal(f.Sensitive)
			q.cond("sensitive LIKE " + q.arg("%"+likeEscape(string(b))+"%") + " ESCAPE '\\'")
		}
	}
	where := q.clause()
	count = "SELECT count(*) FROM endpoints" + where
	dir := " ASC"
	if f.Desc {
		dir = " DESC"
	}
	order := col + dir
	if col != "host" {
		order += ", host"
	}
	order += ", path, method"
	list = "SELECT " + inventoryCols + " FROM endpoints" + where + " ORDER BY " + order +
		" LIMIT " + q.arg(limit(f.Limit)) + " OFFSET " + q.arg(max(f.Offset, 0))
	return count, list, q.args, nil
}

func (s *sqliteStore) QueryInventory(ctx context.Context, f InventoryFilter) (InventoryPage, error) {
	count, list, args, err := inventoryQueries(f, false)
	if err != nil {
		return InventoryPage{}, err
	}
	var p InventoryPage
	if err := s.r.QueryRowContext(ctx, count, args[:len(args)-2]...).Scan(&p.Total); err != nil {
		return InventoryPage{}, fmt.Errorf("store: query inventory: %w", err)
	}
	rows, err := s.r.QueryContext(ctx, list, args...)
	if err != nil {
		return InventoryPage{}, fmt.Errorf("store: query inventory: %w", err)
	}
	defer rows.Close()
	p.Items, err = collectInventory(rows, func(r rowSource) (Endpoint, error) { return scanSQLiteEndpoint(r) })
	return p, err
}

func (s *postgresStore) QueryInventory(ctx context.Context, f InventoryFilter) (InventoryPage, error) {
	count, list, args, err := inventoryQueries(f, true)
	if err != nil {
		return InventoryPage{}, err
	}
	var p InventoryPage
	if err := s.pool.QueryRow(ctx, count, args[:len(args)-2]...).Scan(&p.Total); err != nil {
		return InventoryPage{}, fmt.Errorf("store: query inventory: %w", err)
	}
	rows, err := s.pool.Query(ctx, list, args...)
	if err != nil {
		return InventoryPage{}, fmt.Errorf("store: query inventory: %w", err)
	}
	defer rows.Close()
	p.Items, err = collectInventory(rows, func(r rowSource) (Endpoint, error) { return scanPostgresEndpoint(r) })
	return p, err
}

// collectInventory reads every row of a page.
func collectInventory(rows rowSource, scan func(rowSource) (Endpoint, error)) ([]Endpoint, error) {
	var out []Endpoint
	for rows.Next() {
		ep, err := scan(rows)
		if err != nil {
			return nil, fmt.Errorf("store: query inventory: %w", err)
		}
		out = append(out, ep)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("store: query inventory: %w", err)
	}
	return out, nil
}
