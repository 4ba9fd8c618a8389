package store

import (
	"fmt"
	"strconv"
	"strings"
)

// query builds the WHERE clauses shared by both backends. ph renders the
// n-th placeholder (1-based): "?" for SQLite, "$n" for PostgreSQL.
type query struct {
	ph    func(n int) string
	where []string
	args  []any
}

func sqlitePH(int) string     { return "?" }
func postgresPH(n int) string { return "$" + strconv.Itoa(n) }

// arg adds a value and returns its placeholder.
func (q *query) arg(v any) string {
	q.args = append(q.args, v)
	return q.ph(len(q.args))
}

func (q *query) cond(c string) { q.where = append(q.where, c) }

func (q *query) clause() string {
	if len(q.where) == 0 {
		return ""
	}
	return " WHERE " + strings.Join(q.where, " AND ")
}

// eventsQuery is the SELECT for ListEvents; it asks for n+1 rows so the
// caller can tell whether another page follows.
func eventsQuery(ph func(int) string, f EventFilter, n int) (string, []any, error) {
	q := query{ph: ph}
	if f.Cursor != "" {
		c, err := decodeEventCursor(f.Cursor)
		if err != nil {
			return "", nil, err
		}
		q.cond("(time_ns, seq) < (" + q.arg(c.TimeNS) + ", " + q.arg(c.Seq) + ")")
	}
	if f.Decision != "" {
		q.cond("decision = " + q.arg(f.Decision))
	}
	if f.Endpoint != "" {
		q.cond("endpoint = " + q.arg(f.Endpoint))
	}
	switch f.Type {
	case "":
	case TypeTransaction:
		q.cond("type IS NULL")
	default:
		q.cond("type = " + q.arg(f.Type))
	}
	if !f.Since.IsZero() {
		q.cond("time_ns >= " + q.arg(f.Since.UnixNano()))
	}
	s := "SELECT time_ns, seq, body FROM events" + q.clause() +
		" ORDER BY time_ns DESC, seq DESC LIMIT " + q.arg(n+1)
	return s, q.args, nil
}

// endpointsQuery is the SELECT for ListEndpoints (n+1 rows).
func endpointsQuery(ph func(int) string, f EndpointFilter, n int) (string, []any, error) {
	q := query{ph: ph}
	if f.Cursor != "" {
		c, err := decodeEndpointCursor(f.Cursor)
		if err != nil {
			return "", nil, err
		}
		q.cond("(host, path, method) > (" + q.arg(c.Host) + ", " + q.arg(c.Path) + ", " + q.arg(c.Method) + ")")
	}
	if f.Host != "" {
		q.cond("host = " + q.arg(f.Host))
	}
	if f.Status != "" {
		q.cond("status = " + q.arg(f.Status))
	}
	s := "SELECT " + endpointCols + " FROM endpoints" + q.clause() +
		" ORDER BY host, path, method LIMIT " + q.arg(n+1)
	return s, q.args, nil
}

const endpointCols = "id, host, method, path, hits, first_seen_ns, last_seen_ns, protected, status, sensitive, detail"

// rowSource is what both drivers' result sets offer (database/sql.Rows and
// pgx.Rows).
type rowSource interface {
	Next() bool
	Err() error
	Scan(dest ...any) error
}

// collectEndpoints reads up to n endpoint rows (the query asked for n+1)
// into a page, with the cursor of the last one when more remain.
func collectEndpoints(rows rowSource, n int, scan func(interface{ Scan(...any) error }) (Endpoint, error)) (Page[Endpoint], error) {
	p := Page[Endpoint]{Items: make([]Endpoint, 0, min(n, 64))}
	for rows.Next() {
		if len(p.Items) == n {
			last := p.Items[n-1]
			p.NextCursor = encodeEndpointCursor(endpointCursor{Host: last.Host, Path: last.Path, Method: last.Method})
			break
		}
		ep, err := scan(rows)
		if err != nil {
			return Page[Endpoint]{}, fmt.Errorf("store: list endpoints: %w", err)
		}
		p.Items = append(p.Items, ep)
	}
	if err := rows.Err(); err != nil {
		return Page[Endpoint]{}, fmt.Errorf("store: list endpoints: %w", err)
	}
	return p, nil
}
