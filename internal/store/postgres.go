package store

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/vigil-sec/vigil/internal/event"
)

// postgresStore is the shared backend. Several control-plane replicas may
// use one database at once: inserts are idempotent (ON CONFLICT DO NOTHING,
// rows sorted by key so overlapping batches cannot deadlock), endpoint
// merges happen in SQL inside one statement per row, and migrations run
// under an advisory lock.
type postgresStore struct {
	pool *pgxpool.Pool
}

var _ Store = (*postgresStore)(nil)

func openPostgres(ctx context.Context, dsn string) (*postgresStore, error) {
	cfg, err := pgxpool.ParseConfig(dsn)
	if err != nil {
		return nil, fmt.Errorf("store: postgres: %w", err)
	}
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("store: postgres: %w", err)
	}
	s := &postgresStore{pool: pool}
	if err := s.migrate(ctx); err != nil {
		pool.Close()
		return nil, err
	}
	return s, nil
}

func (s *postgresStore) migrate(ctx context.Context) error {
	ms, err := migrations(kindPostgres)
	if err != nil {
		return err
	}
	return pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		// The lock is per schema and released at commit; a second process
		// opening at the same time waits here, then finds nothing to do.
		if _, err := tx.Exec(ctx,
			"SELECT pg_advisory_xact_lock(hashtext('vigil.store.migrate.' || coalesce(current_schema(), '')))"); err != nil {
			return fmt.Errorf("store: postgres: migrate: lock: %w", err)
		}
		if _, err := tx.Exec(ctx, `CREATE TABLE IF NOT EXISTS schema_migrations (
			version BIGINT PRIMARY KEY, name TEXT NOT NULL, applied_at TIMESTAMPTZ NOT NULL DEFAULT now())`); err != nil {
			return fmt.Errorf("store: postgres: migrate: %w", err)
		}
		var cur int64
		if err := tx.QueryRow(ctx, "SELECT coalesce(max(version), 0) FROM schema_migrations").Scan(&cur); err != nil {
			return fmt.Errorf("store: postgres: migrate: %w", err)
		}
		for _, m := range ms {
			if m.version <= cur {
				continue
			}
			if _, err := tx.Exec(ctx, m.sql); err != nil {
				return fmt.Errorf("store: postgres: migration %s: %w", m.name, err)
			}
			if _, err := tx.Exec(ctx, "INSERT INTO schema_migrations (version, name) VALUES ($1, $2)", m.version, m.name); err != nil {
				return fmt.Errorf("store: postgres: migration %s: %w", m.name, err)
			}
		}
		return nil
	})
}

// SchemaVersion reports the highest applied migration.
func (s *postgresStore) SchemaVersion(ctx context.Context) (int64, error) {
	var v int64
	err := s.pool.QueryRow(ctx, "SELECT coalesce(max(version), 0) FROM schema_migrations").Scan(&v)
	return v, err
}

// InsertEvents sends one statement per batch (postgresInsertAll in
// stats.go): the columns travel as arrays and unnest turns them back
// into rows.
func (s *postgresStore) InsertEvents(ctx context.Context, evs []event.Event) ([]bool, error) {
	if len(evs) == 0 {
		return nil, nil
	}
	rows, err := toRows(evs)
	if err != nil {
		return nil, err
	}
	var (
		ids   = make([]string, len(rows))
		times = make([]int64, len(rows))
		decs  = make([]string, len(rows))
		eps   = make([]string, len(rows))
		types = make([]*string, len(rows))
		body  = make([]string, len(rows))
	)
	for i, r := range rows {
		ids[i], times[i], decs[i], eps[i], types[i], body[i] = r.txnID, r.timeNS, r.decision, r.endpoint, r.typ, string(r.body)
	}
	args := append([]any{ids, times, decs, eps, types, body}, postgresDerivedArgs(evs)...)
	res, err := s.pool.Query(ctx, postgresInsertAll, args...)
	if err != nil {
		return nil, fmt.Errorf("store: insert events: %w", err)
	}
	returned := make(map[string]struct{}, len(rows))
	var id string
	_, err = pgx.ForEachRow(res, []any{&id}, func() error { returned[id] = struct{}{}; return nil })
	if err != nil {
		return nil, fmt.Errorf("store: insert events: %w", err)
	}
	return freshFlags(evs, returned), nil
}

func (s *postgresStore) ListEvents(ctx context.Context, f EventFilter) (Page[event.Event], error) {
	n := limit(f.Limit)
	q, args, err := eventsQuery(postgresPH, f, n)
	if err != nil {
		return Page[event.Event]{}, err
	}
	rows, err := s.pool.Query(ctx, q, args...)
	if err != nil {
		return Page[event.Event]{}, fmt.Errorf("store: list events: %w", err)
	}
	return scanEventRows(rows, n)
}

func (s *postgresStore) CountEvents(ctx context.Context) (int64, error) {
	var n int64
	if err := s.pool.QueryRow(ctx, "SELECT count(*) FROM events").Scan(&n); err != nil {
		return 0, fmt.Errorf("store: count events: %w", err)
	}
	return n, nil
}

const postgresUpsertEndpoint = `INSERT INTO endpoints (` + endpointCols + `)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)
ON CONFLICT (id) DO UPDATE SET
	hits = endpoints.hits + excluded.hits,
	first_seen_ns = least(endpoints.first_seen_ns, excluded.first_seen_ns),
	last_seen_ns = greatest(endpoints.last_seen_ns, excluded.last_seen_ns),
	protected = endpoints.protected OR excluded.protected,
	status = CASE WHEN excluded.status <> '' THEN excluded.status ELSE endpoints.status END,
	sensitive = ARRAY(SELECT DISTINCT x FROM unnest(endpoints.sensitive || excluded.sensitive) AS x ORDER BY 1),
	detail = coalesce(excluded.detail, endpoints.detail)`

func (s *postgresStore) UpsertEndpoints(ctx context.Context, eps []Endpoint) error {
	eps, err := prepareEndpoints(eps, time.Now())
	if err != nil || len(eps) == 0 {
		return err
	}
	// Rows are sorted by ID, so two replicas upserting overlapping sets lock
	// them in the same order.
	err = pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		var b pgx.Batch
		for _, ep := range eps {
			var detail []byte
			if len(ep.Detail) > 0 {
				detail = ep.Detail
			}
			b.Queue(postgresUpsertEndpoint, ep.ID, ep.Host, ep.Method, ep.Path, ep.Hits,
				ep.FirstSeen.UnixNano(), ep.LastSeen.UnixNano(), ep.Protected, ep.Status, ep.Sensitive, detail)
		}
		return tx.SendBatch(ctx, &b).Close()
	})
	if err != nil {
		return fmt.Errorf("store: upsert endpoints: %w", err)
	}
	return nil
}

func (s *postgresStore) ListEndpoints(ctx context.Context, f EndpointFilter) (Page[Endpoint], error) {
	n := limit(f.Limit)
	q, args, err := endpointsQuery(postgresPH, f, n)
	if err != nil {
		return Page[Endpoint]{}, err
	}
	rows, err := s.pool.Query(ctx, q, args...)
	if err != nil {
		return Page[Endpoint]{}, fmt.Errorf("store: list endpoints: %w", err)
	}
	defer rows.Close()
	return collectEndpoints(rows, n, func(r interface{ Scan(...any) error }) (Endpoint, error) { return scanPostgresEndpoint(r) })
}

func (s *postgresStore) DeleteEndpoints(ctx context.Context, ids []string) (int64, error) {
	if len(ids) == 0 {
		return 0, nil
	}
	tag, err := s.pool.Exec(ctx, "DELETE FROM endpoints WHERE id = ANY($1::text[])", ids)
	if err != nil {
		return 0, fmt.Errorf("store: delete endpoints: %w", err)
	}
	return tag.RowsAffected(), nil
}

func (s *postgresStore) GetEndpoint(ctx context.Context, id string) (Endpoint, error) {
	ep, err := scanPostgresEndpoint(s.pool.QueryRow(ctx, "SELECT "+endpointCols+" FROM endpoints WHERE id = $1", id))
	if errors.Is(err, pgx.ErrNoRows) {
		return Endpoint{}, ErrNotFound
	}
	if err != nil {
		return Endpoint{}, fmt.Errorf("store: get endpoint: %w", err)
	}
	return ep, nil
}

func scanPostgresEndpoint(row pgx.Row) (Endpoint, error) {
	var (
		ep          Endpoint
		first, last int64
		detail      []byte
	)
	if err := row.Scan(&ep.ID, &ep.Host, &ep.Method, &ep.Path, &ep.Hits, &first, &last,
		&ep.Protected, &ep.Status, &ep.Sensitive, &detail); err != nil {
		return Endpoint{}, err
	}
	ep.FirstSeen, ep.LastSeen = fromNS(first), fromNS(last)
	ep.Sensitive = union(nil, ep.Sensitive)
	if len(detail) > 0 {
		ep.Detail = detail
	}
	return ep, nil
}

func (s *postgresStore) Prune(ctx context.Context, maxAge time.Duration, maxCount int64) (int64, error) {
	if maxAge <= 0 && maxCount <= 0 {
		return 0, nil
	}
	var deleted int64
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		if maxAge > 0 {
			tag, err := tx.Exec(ctx, "DELETE FROM events WHERE time_ns < $1", time.Now().Add(-maxAge).UnixNano())
			if err != nil {
				return err
			}
			deleted += tag.RowsAffected()
		}
		if maxCount > 0 {
			var c eventCursor
			err := tx.QueryRow(ctx, "SELECT time_ns, seq FROM events ORDER BY time_ns DESC, seq DESC LIMIT 1 OFFSET $1",
				maxCount).Scan(&c.TimeNS, &c.Seq)
			if errors.Is(err, pgx.ErrNoRows) {
				return nil
			}
			if err != nil {
				return err
			}
			tag, err := tx.Exec(ctx, "DELETE FROM events WHERE (time_ns, seq) <= ($1, $2)", c.TimeNS, c.Seq)
			if err != nil {
				return err
			}
			deleted += tag.RowsAffected()
		}
		if deleted > 0 {
			for _, q := range pruneDerivedSQL {
				if _, err := tx.Exec(ctx, q); err != nil {
					return err
				}
			}
		}
		return nil
	})
	if err != nil {
		return 0, fmt.Errorf("store: prune: %w", err)
	}
	return deleted, nil
}

func (s *postgresStore) PutSetting(ctx context.Context, key string, value []byte) (int64, error) {
	if key == "" {
		return 0, errors.New("store: put setting: empty key")
	}
	if value == nil {
		value = []byte{}
	}
	var v int64
	err := s.pool.QueryRow(ctx, `INSERT INTO settings (key, value, version, updated_ns) VALUES ($1, $2, 1, $3)
		ON CONFLICT (key) DO UPDATE SET value = excluded.value, version = settings.version + 1, updated_ns = excluded.updated_ns
		RETURNING version`, key, value, time.Now().UnixNano()).Scan(&v)
	if err != nil {
		return 0, fmt.Errorf("store: put setting %q: %w", key, err)
	}
	return v, nil
}

func (s *postgresStore) GetSetting(ctx context.Context, key string) ([]byte, int64, error) {
	var (
		val []byte
		v   int64
	)
	err := s.pool.QueryRow(ctx, "SELECT value, version FROM settings WHERE key = $1", key).Scan(&val, &v)
	if errors.Is(err, pgx.ErrNoRows) {
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

func (s *postgresStore) Ping(ctx context.Context) error {
	if err := s.pool.Ping(ctx); err != nil {
		return fmt.Errorf("store: ping: %w", err)
	}
	return nil
}

func (s *postgresStore) Close() error {
	s.pool.Close()
	return nil
}
