package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/jackc/pgx/v5"

	"github.com/vigil-sec/vigil/internal/authz/consent"
)

// ConsentFilter selects consent grants. Zero fields do not filter.
type ConsentFilter struct {
	Subject, Grantee, Scope string
	// ActiveAt, when set, keeps the grants that hold at that time, as
	// consent.Grant.ActiveAt decides: created at or before it, and neither
	// expired nor revoked at or before it.
	ActiveAt time.Time
	Limit    int
	Cursor   string
}

const cursorConsents = "cs1"

const consentCols = "id, subject, grantee, scope, resource, created_ns, expires_ns, revoked_ns"

// consentDB is what the consent methods need of a backend: both drivers
// behind the same SQL.
type consentDB struct {
	ph       func(int) string
	exec     func(ctx context.Context, q string, args ...any) (int64, error)
	queryRow func(ctx context.Context, q string, args ...any) interface{ Scan(...any) error }
	query    func(ctx context.Context, q string, args ...any) (rowSource, func(), error)
}

// Stored times are unix nanoseconds: years 1678 to 2262.
var (
	minStoredTime = time.Unix(0, math.MinInt64)
	maxStoredTime = time.Unix(0, math.MaxInt64)
)

// unixNS is t in stored form, or an error naming the field when t is zero
// or has no int64 nanosecond form (time.Time.UnixNano would return garbage).
func unixNS(field string, t time.Time) (int64, error) {
	if t.IsZero() {
		return 0, fmt.Errorf("%s: required", field)
	}
	if t.Before(minStoredTime) || t.After(maxStoredTime) {
		return 0, fmt.Errorf("%s: %s is outside the years 1678-2262", field, t.UTC().Format(time.RFC3339))
	}
	return t.UnixNano(), nil
}

func nsOrNil(field string, t *time.Time) (any, error) {
	if t == nil {
		return nil, nil
	}
	return unixNS(field, *t)
}

// storableText reports whether both backends can store s: PostgreSQL text
// holds neither NUL nor invalid UTF-8.
func storableText(s string) bool { return utf8.ValidString(s) && !strings.Contains(s, "\x00") }

// clampNS is t in stored form for a comparison: times beyond the stored
// range compare like its ends, which no stored time passes.
func clampNS(t time.Time) int64 {
	switch {
	case t.Before(minStoredTime):
		return math.MinInt64
	case t.After(maxStoredTime):
		return math.MaxInt64
	}
	return t.UnixNano()
}

func timeOf(ns *int64) *time.Time {
	if ns == nil {
		return nil
	}
	t := time.Unix(0, *ns).UTC()
	return &t
}

func scanConsent(r interface{ Scan(...any) error }) (consent.Grant, error) {
	var (
		g                consent.Grant
		created          int64
		expires, revoked *int64
	)
	if err := r.Scan(&g.ID, &g.Subject, &g.Grantee, &g.Scope, &g.Resource, &created, &expires, &revoked); err != nil {
		return consent.Grant{}, err
	}
	g.CreatedAt = time.Unix(0, created).UTC()
	g.ExpiresAt, g.RevokedAt = timeOf(expires), timeOf(revoked)
	return g, nil
}

func isNoRows(err error) bool { return errors.Is(err, sql.ErrNoRows) || errors.Is(err, pgx.ErrNoRows) }

func (db consentDB) insert(ctx context.Context, g consent.Grant) error {
	if !consent.ValidID(g.ID) {
		return fmt.Errorf("store: insert consent: invalid id %q", g.ID)
	}
	for _, f := range []struct{ name, v string }{{"subject", g.Subject}, {"grantee", g.Grantee}, {"scope", g.Scope}, {"resource", g.Resource}} {
		if !storableText(f.v) {
			return fmt.Errorf("store: insert consent %s: %s: NUL or invalid UTF-8", g.ID, f.name)
		}
	}
	created, err := unixNS("created_at", g.CreatedAt)
	if err != nil {
		return fmt.Errorf("store: insert consent %s: %w", g.ID, err)
	}
	expires, err := nsOrNil("expires_at", g.ExpiresAt)
	if err != nil {
		return fmt.Errorf("store: insert consent %s: %w", g.ID, err)
	}
	revoked, err := nsOrNil("revoked_at", g.RevokedAt)
	if err != nil {
		return fmt.Errorf("store: insert consent %s: %w", g.ID, err)
	}
	q := query{ph: db.ph}
	s := "INSERT INTO consents (" + consentCols + ") VALUES (" + q.arg(g.ID) + ", " + q.arg(g.Subject) + ", " +
		q.arg(g.Grantee) + ", " + q.arg(g.Scope) + ", " + q.arg(g.Resource) + ", " + q.arg(created) + ", " +
		q.arg(expires) + ", " + q.arg(revoked) + ") ON CONFLICT (id) DO NOTHING"
	n, err := db.exec(ctx, s, q.args...)
	if err != nil {
		return fmt.Errorf("store: insert consent: %w", err)
	}
	if n == 0 {
		return fmt.Errorf("store: insert consent %s: %w", g.ID, ErrConflict)
	}
	return nil
}

func (db consentDB) get(ctx context.Context, id string) (consent.Grant, error) {
	if !consent.ValidID(id) {
		// Never stored; and PostgreSQL refuses NUL and invalid UTF-8 as
		// text, which would otherwise be an error rather than not found.
		return consent.Grant{}, ErrNotFound
	}
	g, err := scanConsent(db.queryRow(ctx, "SELECT "+consentCols+" FROM consents WHERE id = "+db.ph(1), id))
	if isNoRows(err) {
		return consent.Grant{}, ErrNotFound
	}
	if err != nil {
		return consent.Grant{}, fmt.Errorf("store: get consent: %w", err)
	}
	return g, nil
}

func (db consentDB) revoke(ctx context.Context, id string, at time.Time) (consent.Grant, error) {
	ns, err := unixNS("revoked_at", at)
	if err != nil {
		return consent.Grant{}, fmt.Errorf("store: revoke consent %s: %w", id, err)
	}
	if !consent.ValidID(id) {
		return consent.Grant{}, ErrNotFound
	}
	g, err := scanConsent(db.queryRow(ctx, "UPDATE consents SET revoked_ns = COALESCE(revoked_ns, "+db.ph(1)+
		") WHERE id = "+db.ph(2)+" RETURNING "+consentCols, ns, id))
	if isNoRows(err) {
		return consent.Grant{}, ErrNotFound
	}
	if err != nil {
		return consent.Grant{}, fmt.Errorf("store: revoke consent: %w", err)
	}
	return g, nil
}

func (db consentDB) list(ctx context.Context, f ConsentFilter) (Page[consent.Grant], error) {
	n := limit(f.Limit)
	q := query{ph: db.ph}
	if f.Cursor != "" {
		var parts []json.RawMessage
		var after string
		if err := decodeCursor(f.Cursor, cursorConsents, 2, &parts); err != nil || json.Unmarshal(parts[1], &after) != nil {
			return Page[consent.Grant]{}, ErrBadCursor
		}
		q.cond("id > " + q.arg(after))
	}
	if !storableText(f.Subject) || !storableText(f.Grantee) || !storableText(f.Scope) {
		// No stored grant has such a value.
		return Page[consent.Grant]{Items: []consent.Grant{}}, nil
	}
	if f.Subject != "" {
		q.cond("subject = " + q.arg(f.Subject))
	}
	if f.Grantee != "" {
		q.cond("grantee = " + q.arg(f.Grantee))
	}
	if f.Scope != "" {
		q.cond("scope = " + q.arg(f.Scope))
	}
	if !f.ActiveAt.IsZero() {
		// The SQL form of consent.Grant.ActiveAt.
		t := clampNS(f.ActiveAt)
		q.cond("created_ns <= " + q.arg(t))
		q.cond("(expires_ns IS NULL OR expires_ns > " + q.arg(t) + ")")
		q.cond("(revoked_ns IS NULL OR revoked_ns > " + q.arg(t) + ")")
	}
	rows, done, err := db.query(ctx, "SELECT "+consentCols+" FROM consents"+q.clause()+" ORDER BY id LIMIT "+q.arg(n+1), q.args...)
	if err != nil {
		return Page[consent.Grant]{}, fmt.Errorf("store: list consents: %w", err)
	}
	defer done()
	p := Page[consent.Grant]{Items: make([]consent.Grant, 0, min(n, 64))}
	for rows.Next() {
		if len(p.Items) == n {
			p.NextCursor = encodeCursor([]any{cursorConsents, p.Items[n-1].ID})
			break
		}
		g, err := scanConsent(rows)
		if err != nil {
			return Page[consent.Grant]{}, fmt.Errorf("store: list consents: %w", err)
		}
		p.Items = append(p.Items, g)
	}
	if err := rows.Err(); err != nil {
		return Page[consent.Grant]{}, fmt.Errorf("store: list consents: %w", err)
	}
	return p, nil
}

func (s *sqliteStore) consents() consentDB {
	return consentDB{
		ph: sqlitePH,
		exec: func(ctx context.Context, q string, args ...any) (int64, error) {
			res, err := s.w.ExecContext(ctx, q, args...)
			if err != nil {
				return 0, err
			}
			return res.RowsAffected()
		},
		queryRow: func(ctx context.Context, q string, args ...any) interface{ Scan(...any) error } {
			return s.w.QueryRowContext(ctx, q, args...)
		},
		query: func(ctx context.Context, q string, args ...any) (rowSource, func(), error) {
			rows, err := s.r.QueryContext(ctx, q, args...)
			if err != nil {
				return nil, nil, err
			}
			return rows, func() { rows.Close() }, nil
		},
	}
}

func (s *postgresStore) consents() consentDB {
	return consentDB{
		ph: postgresPH,
		exec: func(ctx context.Context, q string, args ...any) (int64, error) {
			tag, err := s.pool.Exec(ctx, q, args...)
			return tag.RowsAffected(), err
		},
		queryRow: func(ctx context.Context, q string, args ...any) interface{ Scan(...any) error } {
			return s.pool.QueryRow(ctx, q, args...)
		},
		query: func(ctx context.Context, q string, args ...any) (rowSource, func(), error) {
			rows, err := s.pool.Query(ctx, q, args...)
			if err != nil {
				return nil, nil, err
			}
			return rows, rows.Close, nil
		},
	}
}

func (s *sqliteStore) InsertConsent(ctx context.Context, g consent.Grant) error {
	return s.consents().insert(ctx, g)
}

func (s *sqliteStore) GetConsent(ctx context.Context, id string) (consent.Grant, error) {
	return s.consents().get(ctx, id)
}

func (s *sqliteStore) RevokeConsent(ctx context.Context, id string, at time.Time) (consent.Grant, error) {
	return s.consents().revoke(ctx, id, at)
}

func (s *sqliteStore) ListConsents(ctx context.Context, f ConsentFilter) (Page[consent.Grant], error) {
	return s.consents().list(ctx, f)
}

func (s *postgresStore) InsertConsent(ctx context.Context, g consent.Grant) error {
	return s.consents().insert(ctx, g)
}

func (s *postgresStore) GetConsent(ctx context.Context, id string) (consent.Grant, error) {
	return s.consents().get(ctx, id)
}

func (s *postgresStore) RevokeConsent(ctx context.Context, id string, at time.Time) (consent.Grant, error) {
	return s.consents().revoke(ctx, id, at)
}

func (s *postgresStore) ListConsents(ctx context.Context, f ConsentFilter) (Page[consent.Grant], error) {
	return s.consents().list(ctx, f)
}
