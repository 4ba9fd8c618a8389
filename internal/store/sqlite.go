package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/vigil-sec/vigil/internal/event"

	"modernc.org/sqlite" // registers the "sqlite" database/sql driver (pure Go)
)

// sqliteChunk is the number of events per multi-row INSERT statement
// (6 parameters each, far below SQLite's 32766 variable limit).
const sqliteChunk = 100

// sqliteStore is the embedded backend: one writer connection (SQLite allows
// one writer at a time; BEGIN IMMEDIATE plus busy_timeout serialises other
// processes) and a small pool of read-only connections, in WAL mode so
// readers never wait for the writer.
type sqliteStore struct {
	w, r      *sql.DB
	insertAll *sql.Stmt // INSERT of sqliteChunk rows
}

var _ Store = (*sqliteStore)(nil)

func openSQLite(ctx context.Context, file string) (*sqliteStore, error) {
	const common = "_busy_timeout=10000&_foreign_keys=1"
	var wdsn, rdsn string
	if file == memoryPath {
		// One connection holds the whole private database.
		wdsn = ":memory:?" + common + "&_txlock=immediate"
	} else {
		if strings.ContainsAny(file, "?#") {
			return nil, fmt.Errorf("store: sqlite path %q must not contain ? or #", file)
		}
		if err := os.MkdirAll(filepath.Dir(file), 0o750); err != nil {
			return nil, fmt.Errorf("store: %w", err)
		}
		// page_size applies when the file is created (before WAL mode); a
		// 64 MiB WAL before each automatic checkpoint keeps checkpoints out
		// of most commits. Both measured with BenchmarkIngestSQLite.
		wdsn = file + "?" + common + "&_pragma=page_size(16384)&_pragma=wal_autocheckpoint(4000)" +
			"&_journal_mode=WAL&_synchronous=NORMAL&_txlock=immediate"
		rdsn = file + "?" + common + "&_query_only=true"
	}
	w, err := sql.Open("sqlite", wdsn)
	if err != nil {
		return nil, fmt.Errorf("store: sqlite: %w", err)
	}
	w.SetMaxOpenConns(1)
	w.SetMaxIdleConns(1)
	w.SetConnMaxLifetime(0)
	w.SetConnMaxIdleTime(0)
	s := &sqliteStore{w: w, r: w}
	if err := retryBusy(ctx, 15*time.Second, func() error { return s.migrate(ctx) }); err != nil {
		w.Close()
		return nil, err
	}
	if rdsn != "" {
		r, err := sql.Open("sqlite", rdsn)
		if err != nil {
			w.Close()
			return nil, fmt.Errorf("store: sqlite: %w", err)
		}
		r.SetMaxOpenConns(4)
		r.SetMaxIdleConns(4)
		s.r = r
	}
	s.insertAll, err = w.PrepareContext(ctx, sqliteInsertSQL(sqliteChunk))
	if err != nil {
		s.Close()
		return nil, fmt.Errorf("store: sqlite: prepare: %w", err)
	}
	return s, nil
}

// retryBusy runs fn again while it fails with SQLITE_BUSY or SQLITE_LOCKED,
// up to limit. busy_timeout covers most contention, but SQLite answers
// BUSY at once, without calling the busy handler, in a few cases: another
// process is switching a new file to WAL mode or recovering its WAL, which
// is what several processes opening one fresh data_dir together run into.
func retryBusy(ctx context.Context, limit time.Duration, fn func() error) error {
	deadline := time.Now().Add(limit)
	wait := 5 * time.Millisecond
	for {
		err := fn()
		if err == nil || !isBusy(err) || time.Now().After(deadline) {
			return err
		}
		select {
		case <-ctx.Done():
			return err
		case <-time.After(wait):
		}
		wait = min(2*wait, 200*time.Millisecond)
	}
}

func isBusy(err error) bool {
	var se *sqlite.Error
	if !errors.As(err, &se) {
		return false
	}
	const busy, locked = 5, 6 // primary result codes; extended codes keep them in the low byte
	c := se.Code() & 0xff
	return c == busy || c == locked
}

func sqliteInsertSQL(n int) string {
	var b strings.Builder
	b.WriteString("INSERT INTO events (txn_id, time_ns, decision, endpoint, type, body) VALUES ")
	for i := range n {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString("(?,?,?,?,?,?)")
	}
	b.WriteString(" ON CONFLICT (txn_id) DO NOTHING RETURNING txn_id")
	return b.String()
}

func (s *sqliteStore) migrate(ctx context.Context) error {
	ms, err := migrations(kindSQLite)
	if err != nil {
		return err
	}
	tx, err := s.w.BeginTx(ctx, nil) // BEGIN IMMEDIATE: excludes other processes
	if err != nil {
		return fmt.Errorf("store: sqlite: migrate: %w", err)
	}
	defer tx.Rollback()
	if _, err := tx.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS schema_migrations (
		version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_ns INTEGER NOT NULL)`); err != nil {
		return fmt.Errorf("store: sqlite: migrate: %w", err)
	}
	var cur int64
	if err := tx.QueryRowContext(ctx, "SELECT coalesce(max(version), 0) FROM schema_migrations").Scan(&cur); err != nil {
		return fmt.Errorf("store: sqlite: migrate: %w", err)
	}
	for _, m := range ms {
		if m.version <= cur {
			continue
		}
		if _, err := tx.ExecContext(ctx, m.sql); err != nil {
			return fmt.Errorf("store: sqlite: migration %s: %w", m.name, err)
		}
		if _, err := tx.ExecContext(ctx, "INSERT INTO schema_migrations (version, name, applied_ns) VALUES (?, ?, ?)",
			m.version, m.name, time.Now().UnixNano()); err != nil {
			return fmt.Errorf("store: sqlite: migration %s: %w", m.name, err)
		}
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("store: sqlite: migrate: %w", err)
	}
	return nil
}

// SchemaVersion reports the highest applied migration.
func (s *sqliteStore) SchemaVersion(ctx context.Context) (int64, error) {
	var v int64
	err := s.r.QueryRowContext(ctx, "SELECT coalesce(max(version), 0) FROM schema_migrations").Scan(&v)
	return v, err
}

func (s *sqliteStore) InsertEvents(ctx context.Context, evs []event.Event) ([]bool, error) {
	if len(evs) == 0 {
		return nil, nil
	}
	rows, err := toRows(evs)
	if err != nil {
		return nil, err
	}
	tx, err := s.w.BeginTx(ctx, nil)
	if err != nil {
		return nil, fmt.Errorf("store: insert events: %w", err)
	}
	defer tx.Rollback()
	returned := make(map[string]struct{}, len(rows))
	args := make([]any, 0, 6*sqliteChunk)
	for len(rows) > 0 {
		n := min(len(rows), sqliteChunk)
		args = args[:0]
		for _, r := range rows[:n] {
			var typ any
			if r.typ != nil {
				typ = *r.typ
			}
			args = append(args, r.txnID, r.timeNS, r.decision, r.endpoint, typ, r.body)
		}
		var res *sql.Rows
		if n == sqliteChunk {
			res, err = tx.StmtContext(ctx, s.insertAll).QueryContext(ctx, args...)
		} else {
			res, err = tx.QueryContext(ctx, sqliteInsertSQL(n), args...)
		}
		if err == nil {
			err = collectIDs(res, returned)
		}
		if err != nil {
			return nil, fmt.Errorf("store: insert events: %w", err)
		}
		rows = rows[n:]
	}
	fresh := freshFlags(evs, returned)
	if err := sqliteInsertDerived(ctx, tx, evs, fresh); err != nil {
		return nil, fmt.Errorf("store: insert events: %w", err)
	}
	if err := tx.Commit(); err != nil {
		return nil, fmt.Errorf("store: insert events: %w", err)
	}
	return fresh, nil
}

// collectIDs reads the txn ids of an INSERT ... RETURNING txn_id.
func collectIDs(res *sql.Rows, into map[string]struct{}) error {
	defer res.Close()
	for res.Next() {
		var id string
		if err := res.Scan(&id); err != nil {
			return err
		}
		into[id] = struct{}{}
	}
	return res.Err()
}

func (s *sqliteStore) ListEvents(ctx context.Context, f EventFilter) (Page[event.Event], error) {
	n := limit(f.Limit)
	q, args, err := eventsQuery(sqlitePH, f, n)
	if err != nil {
		return Page[event.Event]{}, err
	}
	rows, err := s.r.QueryContext(ctx, q, args...)
	if err != nil {
		return Page[event.Event]{}, fmt.Errorf("store: list events: %w", err)
	}
	return scanEvents(rows, n)
}

// sqlRows is what scanEvents needs from *sql.Rows and pgx.Rows alike.
type sqlRows interface {
	Next() bool
	Scan(dest ...any) error
	Err() error
	Close()
}

// stdRows adapts *sql.Rows (whose Close returns an error) to sqlRows.
type stdRows struct{ *sql.Rows }

func (r stdRows) Close() { r.Rows.Close() }

func scanEvents(rows *sql.Rows, n int) (Page[event.Event], error) {
	return scanEventRows(stdRows{rows}, n)
}

func scanEventRows(rows sqlRows, n int) (Page[event.Event], error) {
	defer rows.Close()
	p := Page[event.Event]{Items: make([]event.Event, 0, min(n, 64))}
	var last eventCursor
	for rows.Next() {
		if len(p.Items) == n {
			p.NextCursor = encodeEventCursor(last)
			break
		}
		var body []byte
		if err := rows.Scan(&last.TimeNS, &last.Seq, &body); err != nil {
			return Page[event.Event]{}, fmt.Errorf("store: list events: %w", err)
		}
		var ev event.Event
		if err := json.Unmarshal(body, &ev); err != nil {
			return Page[event.Event]{}, fmt.Errorf("store: event #%d: %w", last.Seq, err)
		}
		p.Items = append(p.Items, ev)
	}
	if err := rows.Err(); err != nil {
		return Page[event.Event]{}, fmt.Errorf("store: list events: %w", err)
	}
	return p, nil
}

func (s *sqliteStore) CountEvents(ctx context.Context) (int64, error) {
	var n int64
	if err := s.r.QueryRowContext(ctx, "SELECT count(*) FROM events").Scan(&n); err != nil {
		return 0, fmt.Errorf("store: count events: %w", err)
	}
	return n, nil
}

const sqliteUpsertEndpoint = `INSERT INTO endpoints (` + endpointCols + `)
VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
ON CONFLICT (id) DO UPDATE SET
	hits = endpoints.hits + excluded.hits,
	first_seen_ns = min(endpoints.first_seen_ns, excluded.first_seen_ns),
	last_seen_ns = max(endpoints.last_seen_ns, excluded.last_seen_ns),
	protected = max(endpoints.protected, excluded.protected),
	status = CASE WHEN excluded.status <> '' THEN excluded.status ELSE endpoints.status END,
	sensitive = (SELECT json_group_array(value) FROM (
		SELECT value FROM json_each(endpoints.sensitive)
		UNION SELECT value FROM json_each(excluded.sensitive) ORDER BY 1)),
	detail = coalesce(excluded.detail, endpoints.detail)`

func (s *sqliteStore) UpsertEndpoints(ctx context.Context, eps []Endpoint) error {
	eps, err := prepareEndpoints(eps, time.Now())
	if err != nil || len(eps) == 0 {
		return err
	}
	tx, err := s.w.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("store: upsert endpoints: %w", err)
	}
	defer tx.Rollback()
	stmt, err := tx.PrepareContext(ctx, sqliteUpsertEndpoint)
	if err != nil {
		return fmt.Errorf("store: upsert endpoints: %w", err)
	}
	defer stmt.Close()
	for _, ep := range eps {
		sens, _ := json.Marshal(ep.Sensitive) // []string: cannot fail
		var detail any
		if len(ep.Detail) > 0 {
			detail = []byte(ep.Detail)
		}
		if _, err := stmt.ExecContext(ctx, ep.ID, ep.Host, ep.Method, ep.Path, ep.Hits,
			ep.FirstSeen.UnixNano(), ep.LastSeen.UnixNano(), ep.Protected, ep.Status, string(sens), detail); err != nil {
			return fmt.Errorf("store: upsert endpoint %s %s %s: %w", ep.Host, ep.Method, ep.Path, err)
		}
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("store: upsert endpoints: %w", err)
	}
	return nil
}

func (s *sqliteStore) ListEndpoints(ctx context.Context, f EndpointFilter) (Page[Endpoint], error) {
	n := limit(f.Limit)
	q, args, err := endpointsQuery(sqlitePH, f, n)
	if err != nil {
		return Page[Endpoint]{}, err
	}
	rows, err := s.r.QueryContext(ctx, q, args...)
	if err != nil {
		return Page[Endpoint]{}, fmt.Errorf("store: list endpoints: %w", err)
	}
	defer rows.Close()
	return collectEndpoints(rows, n, func(r interface{ Scan(...any) error }) (Endpoint, error) { return scanSQLiteEndpoint(r) })
}

func (s *sqliteStore) DeleteEndpoints(ctx context.Context, ids []string) (int64, error) {
	if len(ids) == 0 {
		return 0, nil
	}
	tx, err := s.w.BeginTx(ctx, nil)
	if err != nil {
		return 0, fmt.Errorf("store: delete endpoints: %w", err)
	}
	defer tx.Rollback()
	var n int64
	for len(ids) > 0 {
		k := min(len(ids), 500)
		args := make([]any, k)
		for i, id := range ids[:k] {
			args[i] = id
		}
		res, err := tx.ExecContext(ctx, "DELETE FROM endpoints WHERE id IN (?"+strings.Repeat(",?", k-1)+")", args...)
		if err != nil {
			return 0, fmt.Errorf("store: delete endpoints: %w", err)
		}
		d, _ := res.RowsAffected()
		n += d
		ids = ids[k:]
	}
	if err := tx.Commit(); err != nil {
		return 0, fmt.Errorf("store: delete endpoints: %w", err)
	}
	return n, nil
}

func (s *sqliteStore) GetEndpoint(ctx context.Context, id string) (Endpoint, error) {
	ep, err := scanSQLiteEndpoint(s.r.QueryRowContext(ctx, "SELECT "+endpointCols+" FROM endpoints WHERE id = ?", id))
	if errors.Is(err, sql.ErrNoRows) {
		return Endpoint{}, ErrNotFound
	}
	if err != nil {
		return Endpoint{}, fmt.Errorf("store: get endpoint: %w", err)
	}
	return ep, nil
}

func scanSQLiteEndpoint(row interface{ Scan(...any) error }) (Endpoint, error) {
	var (
		ep          Endpoint
		first, last int64
		sens        string
		detail      []byte
	)
	if err := row.Scan(&ep.ID, &ep.Host, &ep.Method, &ep.Path, &ep.Hits, &first, &last,
		&ep.Protected, &ep.Status, &sens, &detail); err != nil {
		return Endpoint{}, err
	}
	ep.FirstSeen, ep.LastSeen = fromNS(first), fromNS(last)
	if err := json.Unmarshal([]byte(sens), &ep.Sensitive); err != nil {
		return Endpoint{}, fmt.Errorf("endpoint %s: sensitive: %w", ep.ID, err)
	}
	ep.Sensitive = union(nil, ep.Sensitive)
	if len(detail) > 0 {
		ep.Detail = json.RawMessage(detail)
	}
	return ep, nil
}

func (s *sqliteStore) Prune(ctx context.Context, maxAge time.Duration, maxCount int64) (int64, error) {
	if maxAge <= 0 && maxCount <= 0 {
		return 0, nil
	}
	tx, err := s.w.BeginTx(ctx, nil)
	if err != nil {
		return 0, fmt.Errorf("store: prune: %w", err)
	}
	defer tx.Rollback()
	var deleted int64
	if maxAge > 0 {
		res, err := tx.ExecContext(ctx, "DELETE FROM events WHERE time_ns < ?", time.Now().Add(-maxAge).UnixNano())
		if err != nil {
			return 0, fmt.Errorf("store: prune: %w", err)
		}
		n, _ := res.RowsAffected()
		deleted += n
	}
	if maxCount > 0 {
		var c eventCursor
		err := tx.QueryRowContext(ctx, "SELECT time_ns, seq FROM events ORDER BY time_ns DESC, seq DESC LIMIT 1 OFFSET ?",
			maxCount).Scan(&c.TimeNS, &c.Seq)
		switch {
		case errors.Is(err, sql.ErrNoRows):
		case err != nil:
			return 0, fmt.Errorf("store: prune: %w", err)
		default:
			res, err := tx.ExecContext(ctx, "DELETE FROM events WHERE (time_ns, seq) <= (?, ?)", c.TimeNS, c.Seq)
			if err != nil {
				return 0, fmt.Errorf("store: prune: %w", err)
			}
			n, _ := res.RowsAffected()
			deleted += n
		}
	}
	if deleted > 0 {
		for _, q := range pruneDerivedSQL {
			if _, err := tx.ExecContext(ctx, q); err != nil {
				return 0, fmt.Errorf("store: prune: %w", err)
			}
		}
	}
	if err := tx.Commit(); err != nil {
		return 0, fmt.Errorf("store: prune: %w", err)
	}
	return deleted, nil
}

func (s *sqliteStore) PutSetting(ctx context.Context, key string, value []byte) (int64, error) {
	if key == "" {
		return 0, errors.New("store: put setting: empty key")
	}
	if value == nil {
		value = []byte{}
	}
	var v int64
	err := s.w.QueryRowContext(ctx, `INSERT INTO settings (key, value, version, updated_ns) VALUES (?, ?, 1, ?)
		ON CONFLICT (key) DO UPDATE SET value = excluded.value, version = settings.version + 1, updated_ns = excluded.updated_ns
		RETURNING version`, key, value, time.Now().UnixNano()).Scan(&v)
	if err != nil {
		return 0, fmt.Errorf("store: put setting %q: %w", key, err)
	}
	return v, nil
}

func (s *sqliteStore) GetSetting(ctx context.Context, key string) ([]byte, int64, error) {
	var (
		val []byte
		v   int64
	)
	err := s.r.QueryRowContext(ctx, "SELECT value, version FROM settings WHERE key = ?", key).Scan(&val, &v)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, 0, ErrNotFound
	}
	if err != nil {
		return nil, 0, fmt.Errorf("store: get setting %q: %w", key, err)
	}
	if val == nil {
		val = []byte{}
	}
	return val, v, nil
}

func (s *sqliteStore) Ping(ctx context.Context) error {
	if err := s.r.PingContext(ctx); err != nil {
		return fmt.Errorf("store: ping: %w", err)
	}
	if err := s.w.PingContext(ctx); err != nil {
		return fmt.Errorf("store: ping: %w", err)
	}
	return nil
}

func (s *sqliteStore) Close() error {
	var errs []error
	if s.insertAll != nil {
		errs = append(errs, s.insertAll.Close())
	}
	if s.r != s.w {
		errs = append(errs, s.r.Close())
	}
	errs = append(errs, s.w.Close())
	return errors.Join(errs...)
}
