package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/vigil-sec/vigil/internal/risk"
)

// ConnectionFilter selects call-graph edges. Zero fields do not filter.
type ConnectionFilter struct {
	Source, Destination string
	Limit               int
	Cursor              string
}

const cursorConnections = "cx1"

const connectionCols = "id, source, destination, requests, authenticated, mtls, tls13, legacy_tls, plaintext, " +
	"refused, intercepted, external, tls_version, cipher, grp, first_seen_ns, last_seen_ns"

// connectionParams is the number of columns, and so of placeholders, per
// row; connectionChunk the rows per multi-row INSERT: 8,500 parameters,
// below SQLite's 32,766 and PostgreSQL's 65,535.
const (
	connectionParams = 17
	connectionChunk  = 500
)

// connectionDB is what the connection methods need of a backend: both
// drivers behind the same SQL.
type connectionDB struct {
	ph func(int) string
	// least and greatest name the two-argument scalar min and max.
	least, greatest string
	// tx runs fn in one transaction; exec runs a statement inside it.
	tx    func(ctx context.Context, fn func(exec func(q string, args ...any) error) error) error
	query func(ctx context.Context, q string, args ...any) (rowSource, func(), error)
}

// prepareConnections validates the deltas, fills IDs and missing times,
// merges repeats of an edge within the batch (risk.Edge.Merge) and sorts
// by ID, so that concurrent upserts lock rows in the same order. Nothing
// is written when it fails.
func prepareConnections(es []risk.Edge, now time.Time) ([]risk.Edge, error) {
	byID := make(map[string]int, len(es))
	out := make([]risk.Edge, 0, len(es))
	for i, e := range es {
		name := fmt.Sprintf("edge %d (%q -> %q)", i, e.Source, e.Destination)
		switch {
		case e.Source == "":
			return nil, fmt.Errorf("store: upsert connections: %s: empty source", name)
		case e.Destination == "":
			return nil, fmt.Errorf("store: upsert connections: %s: empty destination", name)
		}
		for _, f := range []struct{ name, v string }{{"source", e.Source}, {"destination", e.Destination},
			{"tls_version", e.TLSVersion}, {"cipher", e.Cipher}, {"group", e.Group}} {
			if !storableText(f.v) {
				return nil, fmt.Errorf("store: upsert connections: %s: %s: NUL or invalid UTF-8", name, f.name)
			}
		}
		id := risk.EdgeID(e.Source, e.Destination)
		switch e.ID {
		case "":
			e.ID = id
		case id:
		default:
			return nil, fmt.Errorf("store: upsert connections: %s: id %q is not risk.EdgeID(source, destination) = %s", name, e.ID, id)
		}
		switch {
		case e.FirstSeen.IsZero() && e.LastSeen.IsZero():
			e.FirstSeen, e.LastSeen = now, now
		case e.FirstSeen.IsZero():
			e.FirstSeen = e.LastSeen
		case e.LastSeen.IsZero():
			e.LastSeen = e.FirstSeen
		}
		if _, err := unixNS("first_seen", e.FirstSeen); err != nil {
			return nil, fmt.Errorf("store: upsert connections: %s: %w", name, err)
		}
		if _, err := unixNS("last_seen", e.LastSeen); err != nil {
			return nil, fmt.Errorf("store: upsert connections: %s: %w", name, err)
		}
		if !carriesTLSFacts(e) {
			// Merge would not take them: a new row starts without.
			e.TLSVersion, e.Cipher, e.Group = "", "", ""
		}
		if j, ok := byID[e.ID]; ok {
			out[j].Merge(e)
			continue
		}
		byID[e.ID] = len(out)
		out = append(out, e)
	}
	sortConnections(out)
	return out, nil
}

// carriesTLSFacts is risk.Edge.Merge's test for a delta whose TLS facts
// replace older ones: it saw a TLS version, or plaintext requests.
func carriesTLSFacts(e risk.Edge) bool { return e.TLSVersion != "" || e.Plaintext > 0 }

func sortConnections(es []risk.Edge) {
	slices.SortFunc(es, func(a, b risk.Edge) int { return strings.Compare(a.ID, b.ID) })
}

// upsertSQL is the multi-row upsert of n edges: risk.Edge.Merge in SQL.
// The SET expressions see the stored row as it was before the statement.
func (db connectionDB) upsertSQL(n int) string {
	var b strings.Builder
	b.WriteString("INSERT INTO connections (" + connectionCols + ") VALUES ")
	p := 0
	for i := range n {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteByte('(')
		for j := range connectionParams {
			if j > 0 {
				b.WriteByte(',')
			}
			p++
			b.WriteString(db.ph(p))
		}
		b.WriteByte(')')
	}
	b.WriteString(" ON CONFLICT (id) DO UPDATE SET ")
	for i, c := range []string{"requests", "authenticated", "mtls", "tls13", "legacy_tls", "plaintext", "refused", "intercepted", "external"} {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString(c + " = connections." + c + " + excluded." + c)
	}
	const newer = "excluded.last_seen_ns >= connections.last_seen_ns AND (excluded.tls_version <> '' OR excluded.plaintext > 0)"
	for _, c := range []string{"tls_version", "cipher", "grp"} {
		b.WriteString(", " + c + " = CASE WHEN " + newer + " THEN excluded." + c + " ELSE connections." + c + " END")
	}
	b.WriteString(", first_seen_ns = " + db.least + "(connections.first_seen_ns, excluded.first_seen_ns)")
	b.WriteString(", last_seen_ns = " + db.greatest + "(connections.last_seen_ns, excluded.last_seen_ns)")
	return b.String()
}

func (db connectionDB) upsert(ctx context.Context, es []risk.Edge) error {
	es, err := prepareConnections(es, time.Now())
	if err != nil || len(es) == 0 {
		return err
	}
	full := ""
	args := make([]any, 0, connectionParams*min(len(es), connectionChunk))
	err = db.tx(ctx, func(exec func(q string, args ...any) error) error {
		for rest := es; len(rest) > 0; {
			n := min(len(rest), connectionChunk)
			args = args[:0]
			for _, e := range rest[:n] {
				args = append(args, e.ID, e.Source, e.Destination, e.Requests, e.Authenticated, e.MTLS, e.TLS13,
					e.LegacyTLS, e.Plaintext, e.Refused, e.Intercepted, e.External, e.TLSVersion, e.Cipher, e.Group,
					e.FirstSeen.UnixNano(), e.LastSeen.UnixNano())
			}
			var q string
			if n == connectionChunk {
				if full == "" {
					full = db.upsertSQL(n)
				}
				q = full
			} else {
				q = db.upsertSQL(n)
			}
			if err := exec(q, args...); err != nil {
				return err
			}
			rest = rest[n:]
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("store: upsert connections: %w", err)
	}
	return nil
}

func encodeConnectionCursor(id string) string { return encodeCursor([]any{cursorConnections, id}) }

func decodeConnectionCursor(s string) (string, error) {
	var parts []json.RawMessage
	if err := decodeCursor(s, cursorConnections, 2, &parts); err != nil {
		return "", err
	}
	var after string
	if json.Unmarshal(parts[1], &after) != nil || !storableText(after) {
		return "", ErrBadCursor
	}
	return after, nil
}

// connectionsQuery is the SELECT for ListConnections (n+1 rows); none
// reports a filter no stored row can match.
func connectionsQuery(ph func(int) string, f ConnectionFilter, n int) (s string, args []any, none bool, err error) {
	q := query{ph: ph}
	if f.Cursor != "" {
		after, err := decodeConnectionCursor(f.Cursor)
		if err != nil {
			return "", nil, false, err
		}
		q.cond("id > " + q.arg(after))
	}
	if !storableText(f.Source) || !storableText(f.Destination) {
		return "", nil, true, nil
	}
	if f.Source != "" {
		q.cond("source = " + q.arg(f.Source))
	}
	if f.Destination != "" {
		q.cond("destination = " + q.arg(f.Destination))
	}
	return "SELECT " + connectionCols + " FROM connections" + q.clause() + " ORDER BY id LIMIT " + q.arg(n+1), q.args, false, nil
}

func scanConnection(r interface{ Scan(...any) error }) (risk.Edge, error) {
	var (
		e           risk.Edge
		first, last int64
	)
	if err := r.Scan(&e.ID, &e.Source, &e.Destination, &e.Requests, &e.Authenticated, &e.MTLS, &e.TLS13, &e.LegacyTLS,
		&e.Plaintext, &e.Refused, &e.Intercepted, &e.External, &e.TLSVersion, &e.Cipher, &e.Group, &first, &last); err != nil {
		return risk.Edge{}, err
	}
	e.FirstSeen, e.LastSeen = fromNS(first), fromNS(last)
	return e, nil
}

func (db connectionDB) list(ctx context.Context, f ConnectionFilter) (Page[risk.Edge], error) {
	n := limit(f.Limit)
	q, args, none, err := connectionsQuery(db.ph, f, n)
	if err != nil {
		return Page[risk.Edge]{}, err
	}
	if none {
		return Page[risk.Edge]{Items: []risk.Edge{}}, nil
	}
	rows, done, err := db.query(ctx, q, args...)
	if err != nil {
		return Page[risk.Edge]{}, fmt.Errorf("store: list connections: %w", err)
	}
	defer done()
	p := Page[risk.Edge]{Items: make([]risk.Edge, 0, min(n, 64))}
	for rows.Next() {
		if len(p.Items) == n {
			p.NextCursor = encodeConnectionCursor(p.Items[n-1].ID)
			break
		}
		e, err := scanConnection(rows)
		if err != nil {
			return Page[risk.Edge]{}, fmt.Errorf("store: list connections: %w", err)
		}
		p.Items = append(p.Items, e)
	}
	if err := rows.Err(); err != nil {
		return Page[risk.Edge]{}, fmt.Errorf("store: list connections: %w", err)
	}
	return p, nil
}

func (s *sqliteStore) connections() connectionDB {
	return connectionDB{
		ph:    sqlitePH,
		least: "min", greatest: "max",
		tx: func(ctx context.Context, fn func(exec func(q string, args ...any) error) error) error {
			tx, err := s.w.BeginTx(ctx, nil) // BEGIN IMMEDIATE
			if err != nil {
				return err
			}
			defer tx.Rollback()
			// Statements are prepared once per transaction (closed with
			// it), so the full chunks of a large batch share one.
			stmts := map[string]*sql.Stmt{}
			err = fn(func(q string, args ...any) error {
				st := stmts[q]
				if st == nil {
					var err error
					if st, err = tx.PrepareContext(ctx, q); err != nil {
						return err
					}
					stmts[q] = st
				}
				_, err := st.ExecContext(ctx, args...)
				return err
			})
			if err != nil {
				return err
			}
			return tx.Commit()
		},
		query: s.consents().query,
	}
}

func (s *postgresStore) connections() connectionDB {
	return connectionDB{
		ph:    postgresPH,
		least: "least", greatest: "greatest",
		tx: func(ctx context.Context, fn func(exec func(q string, args ...any) error) error) error {
			return pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
				return fn(func(q string, args ...any) error {
					_, err := tx.Exec(ctx, q, args...)
					return err
				})
			})
		},
		query: s.consents().query,
	}
}

func (s *sqliteStore) UpsertConnections(ctx context.Context, es []risk.Edge) error {
	return s.connections().upsert(ctx, es)
}

func (s *sqliteStore) ListConnections(ctx context.Context, f ConnectionFilter) (Page[risk.Edge], error) {
	return s.connections().list(ctx, f)
}

func (s *postgresStore) UpsertConnections(ctx context.Context, es []risk.Edge) error {
	return s.connections().upsert(ctx, es)
}

func (s *postgresStore) ListConnections(ctx context.Context, f ConnectionFilter) (Page[risk.Edge], error) {
	return s.connections().list(ctx, f)
}
