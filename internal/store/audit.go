package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/transparency-dev/merkle/compact"
	"github.com/transparency-dev/merkle/rfc6962"
)

// The audit log's storage: the leaves of an append-only Merkle tree
// (RFC 6962 hashing, transparency-dev/merkle), every perfect subtree's
// hash, the tree's head (size and compact range) and signed checkpoints.
// What a leaf holds and how it is signed is package audit's business; the
// store appends, keeps the tree's nodes and serialises appends: on
// PostgreSQL the head row is locked (SELECT ... FOR UPDATE) by every
// append, on SQLite BEGIN IMMEDIATE excludes other writers, so replicas
// sharing one database grow one tree.

// AuditHashSize is the size of a node hash (SHA-256).
const AuditHashSize = 32

// AuditLeaf is one entry to append.
type AuditLeaf struct {
	// Key makes the append idempotent: a key already in the log (or
	// repeated earlier in the batch) is not appended again.
	Key         string
	Kind        string
	TxnID       string
	ParentTxnID string
	TraceID     string
	Time        time.Time
	// Data is the leaf, stored byte for byte; its RFC 6962 leaf hash is
	// the tree's level-0 node.
	Data []byte
}

// AuditEntry is a stored leaf and its index in the tree.
type AuditEntry struct {
	Index uint64
	AuditLeaf
}

// AuditHead is the tree's size and compact range: the hashes of the
// perfect subtrees covering [0, Size), left to right.
type AuditHead struct {
	Size     uint64
	Frontier [][]byte
}

// Root is the tree's root hash (RFC 6962: the hash of the empty string
// for an empty tree).
func (h AuditHead) Root() ([]byte, error) {
	if h.Size == 0 {
		return rfc6962.DefaultHasher.EmptyRoot(), nil
	}
	r, err := auditRanges.NewRange(0, h.Size, h.Frontier)
	if err != nil {
		return nil, err
	}
	return r.GetRootHash(nil)
}

// AuditNodeID names a perfect subtree: level 0 are the leaves.
type AuditNodeID struct {
	Level uint
	Index uint64
}

// AuditCheckpoint is a signed checkpoint (a sumdb note).
type AuditCheckpoint struct {
	Size  uint64
	KeyID string
	Note  string
	Time  time.Time
}

// AuditKey is a public key that signs records and checkpoints.
type AuditKey struct {
	ID       string
	Verifier string // note verifier key: name+hash+base64
	Created  time.Time
}

var auditRanges = &compact.RangeFactory{Hash: rfc6962.DefaultHasher.HashChildren}

// auditLineageCap bounds the entries of one lineage.
const auditLineageCap = 1000

// auditTx is a transaction of the audit methods.
type auditTx struct {
	// insert adds rows (values in cols' order) to table, all or none.
	insert   func(table string, cols []string, rows [][]any) error
	exec     func(q string, args ...any) (int64, error)
	queryRow func(q string, args ...any) interface{ Scan(...any) error }
	query    func(q string, args ...any) (rowSource, func(), error)
}

// auditDB is what the audit methods need of a backend.
type auditDB struct {
	ph        func(int) string
	forUpdate string // row lock suffix of the head SELECT
	tx        func(ctx context.Context, fn func(t auditTx) error) error
	exec      func(ctx context.Context, q string, args ...any) (int64, error)
	queryRow  func(ctx context.Context, q string, args ...any) interface{ Scan(...any) error }
	query     func(ctx context.Context, q string, args ...any) (rowSource, func(), error)
}

const auditEntryCols = "idx, dedup_key, kind, txn_id, parent_txn_id, trace_id, time_ns, data"

var auditEntryColumns = strings.Split(auditEntryCols, ", ")

// sqliteInsertRows inserts rows with one prepared single-row statement
// executed per row: a multi-row INSERT is a statement that may abort half
// done, for which SQLite keeps a statement journal (a copy of every page
// the batch touches, a sixth of an append's CPU under vigil up); a
// single-row one needs none.
func sqliteInsertRows(ctx context.Context, tx *sql.Tx, table string, cols []string, rows [][]any) error {
	if len(rows) == 0 {
		return nil
	}
	st, err := tx.PrepareContext(ctx, "INSERT INTO "+table+" ("+strings.Join(cols, ", ")+") VALUES ("+
		strings.TrimSuffix(strings.Repeat("?,", len(cols)), ",")+")")
	if err != nil {
		return err
	}
	defer st.Close()
	for _, r := range rows {
		if _, err := st.ExecContext(ctx, r...); err != nil {
			return err
		}
	}
	return nil
}

func encodeFrontier(hs [][]byte) []byte {
	b := make([]byte, 0, len(hs)*AuditHashSize)
	for _, h := range hs {
		b = append(b, h...)
	}
	return b
}

func decodeFrontier(size uint64, b []byte) ([][]byte, error) {
	n := compact.RangeSize(0, size)
	if len(b) != n*AuditHashSize {
		return nil, fmt.Errorf("audit head: frontier of %d bytes for size %d, want %d", len(b), size, n*AuditHashSize)
	}
	hs := make([][]byte, n)
	for i := range hs {
		hs[i] = b[i*AuditHashSize : (i+1)*AuditHashSize]
	}
	return hs, nil
}

// placeholders renders n groups of k placeholders: "(?,?),(?,?)".
func placeholders(q *query, rows [][]any) string {
	var b strings.Builder
	for i, r := range rows {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteByte('(')
		for j, v := range r {
			if j > 0 {
				b.WriteByte(',')
			}
			b.WriteString(q.arg(v))
		}
		b.WriteByte(')')
	}
	return b.String()
}

func (db auditDB) head(ctx context.Context, row func(q string, args ...any) interface{ Scan(...any) error }, lock string) (AuditHead, error) {
	var (
		size     int64
		frontier []byte
	)
	if err := row("SELECT size, frontier FROM audit_head WHERE id = 1"+lock).Scan(&size, &frontier); err != nil {
		return AuditHead{}, err
	}
	hs, err := decodeFrontier(uint64(size), frontier)
	if err != nil {
		return AuditHead{}, err
	}
	return AuditHead{Size: uint64(size), Frontier: hs}, nil
}

func (db auditDB) append(ctx context.Context, leaves []AuditLeaf) ([]int64, AuditHead, error) {
	idx := make([]int64, len(leaves))
	for i, l := range leaves {
		idx[i] = -1
		if l.Key == "" || len(l.Data) == 0 {
			return nil, AuditHead{}, fmt.Errorf("store: append audit: leaf %d has no key or no data", i)
		}
		for _, s := range []string{l.Key, l.Kind, l.TxnID, l.ParentTxnID, l.TraceID} {
			if !storableText(s) {
				return nil, AuditHead{}, fmt.Errorf("store: append audit %q: NUL or invalid UTF-8", l.Key)
			}
		}
		if _, err := unixNS("time", l.Time); err != nil {
			return nil, AuditHead{}, fmt.Errorf("store: append audit %q: %w", l.Key, err)
		}
	}
	var head AuditHead
	err := db.tx(ctx, func(t auditTx) error {
		for i := range idx {
			idx[i] = -1 // a retried transaction starts over
		}
		h, err := db.head(ctx, t.queryRow, db.forUpdate)
		if err != nil {
			return err
		}
		// Under the head's lock nobody else appends: the keys present
		// now stay the keys present until commit.
		present := map[string]bool{}
		for i := 0; i < len(leaves); i += 500 {
			chunk := leaves[i:min(i+500, len(leaves))]
			q := query{ph: db.ph}
			args := make([]string, len(chunk))
			for j, l := range chunk {
				args[j] = q.arg(l.Key)
			}
			rows, done, err := t.query("SELECT dedup_key FROM audit_entries WHERE dedup_key IN ("+strings.Join(args, ",")+")", q.args...)
			if err != nil {
				return err
			}
			for rows.Next() {
				var k string
				if err := rows.Scan(&k); err != nil {
					done()
					return err
				}
				present[k] = true
			}
			err = rows.Err()
			done()
			if err != nil {
				return err
			}
		}
		rng, err := auditRanges.NewRange(0, h.Size, h.Frontier)
		if err != nil {
			return err
		}
		var entries, nodes [][]any
		visit := func(id compact.NodeID, hash []byte) {
			nodes = append(nodes, []any{int64(id.Level), int64(id.Index), hash})
		}
		for i, l := range leaves {
			if present[l.Key] {
				continue
			}
			present[l.Key] = true
			n := rng.End()
			if err := rng.Append(rfc6962.DefaultHasher.HashLeaf(l.Data), visit); err != nil {
				return err
			}
			idx[i] = int64(n)
			entries = append(entries, []any{int64(n), l.Key, l.Kind, l.TxnID, l.ParentTxnID, l.TraceID, l.Time.UnixNano(), l.Data})
		}
		if len(entries) == 0 {
			head = h
			return nil
		}
		if err := t.insert("audit_entries", auditEntryColumns, entries); err != nil {
			return fmt.Errorf("entries: %w", err)
		}
		if err := t.insert("audit_nodes", []string{"level", "idx", "hash"}, nodes); err != nil {
			return fmt.Errorf("nodes: %w", err)
		}
		head = AuditHead{Size: rng.End(), Frontier: rng.Hashes()}
		_, err = t.exec("UPDATE audit_head SET size = "+db.ph(1)+", frontier = "+db.ph(2)+" WHERE id = 1",
			int64(head.Size), encodeFrontier(head.Frontier))
		return err
	})
	if err != nil {
		return nil, AuditHead{}, fmt.Errorf("store: append audit: %w", err)
	}
	return idx, head, nil
}

func (db auditDB) getHead(ctx context.Context) (AuditHead, error) {
	h, err := db.head(ctx, func(q string, args ...any) interface{ Scan(...any) error } { return db.queryRow(ctx, q, args...) }, "")
	if err != nil {
		return AuditHead{}, fmt.Errorf("store: audit head: %w", err)
	}
	return h, nil
}

func (db auditDB) nodes(ctx context.Context, ids []AuditNodeID) ([][]byte, error) {
	out := make([][]byte, len(ids))
	pos := make(map[AuditNodeID][]int, len(ids))
	for i, id := range ids {
		pos[id] = append(pos[id], i)
	}
	for i := 0; i < len(ids); i += 200 {
		chunk := ids[i:min(i+200, len(ids))]
		q := query{ph: db.ph}
		rowsArg := make([][]any, len(chunk))
		for j, id := range chunk {
			rowsArg[j] = []any{int64(id.Level), int64(id.Index)}
		}
		rows, done, err := db.query(ctx, "SELECT level, idx, hash FROM audit_nodes WHERE (level, idx) IN ("+placeholders(&q, rowsArg)+")", q.args...)
		if err != nil {
			return nil, fmt.Errorf("store: audit nodes: %w", err)
		}
		for rows.Next() {
			var (
				level, index int64
				hash         []byte
			)
			if err := rows.Scan(&level, &index, &hash); err != nil {
				done()
				return nil, fmt.Errorf("store: audit nodes: %w", err)
			}
			for _, p := range pos[AuditNodeID{Level: uint(level), Index: uint64(index)}] {
				out[p] = hash
			}
		}
		err = rows.Err()
		done()
		if err != nil {
			return nil, fmt.Errorf("store: audit nodes: %w", err)
		}
	}
	for i, h := range out {
		if h == nil {
			return nil, fmt.Errorf("store: audit node (level %d, index %d): %w", ids[i].Level, ids[i].Index, ErrNotFound)
		}
	}
	return out, nil
}

func scanAuditEntries(rows rowSource, done func()) ([]AuditEntry, error) {
	defer done()
	var out []AuditEntry
	for rows.Next() {
		var (
			e      AuditEntry
			idx, t int64
		)
		if err := rows.Scan(&idx, &e.Key, &e.Kind, &e.TxnID, &e.ParentTxnID, &e.TraceID, &t, &e.Data); err != nil {
			return nil, err
		}
		e.Index, e.Time = uint64(idx), time.Unix(0, t).UTC()
		out = append(out, e)
	}
	return out, rows.Err()
}

func (db auditDB) list(ctx context.Context, from uint64, n int) ([]AuditEntry, error) {
	n = limit(n)
	rows, done, err := db.query(ctx, "SELECT "+auditEntryCols+" FROM audit_entries WHERE idx >= "+db.ph(1)+
		" ORDER BY idx LIMIT "+db.ph(2), int64(from), n)
	if err != nil {
		return nil, fmt.Errorf("store: list audit entries: %w", err)
	}
	es, err := scanAuditEntries(rows, done)
	if err != nil {
		return nil, fmt.Errorf("store: list audit entries: %w", err)
	}
	return es, nil
}

// lineage collects the entries linked to txnID: the transaction, those
// sharing its trace id, and (transitively) its parents and children by
// parent_txn_id. Ordered by index; at most auditLineageCap.
func (db auditDB) lineage(ctx context.Context, txnID string) ([]AuditEntry, error) {
	if !storableText(txnID) || txnID == "" {
		return nil, nil
	}
	byIdx := map[uint64]AuditEntry{}
	txns, traces := map[string]bool{txnID: false}, map[string]bool{}
	for round := 0; round < 64 && len(byIdx) < auditLineageCap; round++ {
		q := query{ph: db.ph}
		var conds []string
		var ids []string
		for id, done := range txns {
			if !done {
				ids = append(ids, id)
				txns[id] = true
			}
		}
		if len(ids) > 0 {
			// Placeholders once per use: SQLite's ? cannot be repeated.
			for _, col := range []string{"txn_id", "parent_txn_id"} {
				ph := make([]string, len(ids))
				for i, id := range ids {
					ph[i] = q.arg(id)
				}
				conds = append(conds, col+" IN ("+strings.Join(ph, ",")+")")
			}
		}
		var tr []string
		for id, done := range traces {
			if !done {
				tr = append(tr, q.arg(id))
				traces[id] = true
			}
		}
		if len(tr) > 0 {
			conds = append(conds, "trace_id IN ("+strings.Join(tr, ",")+")")
		}
		if len(conds) == 0 {
			break
		}
		rows, done, err := db.query(ctx, "SELECT "+auditEntryCols+" FROM audit_entries WHERE "+strings.Join(conds, " OR ")+
			" ORDER BY idx LIMIT "+q.arg(auditLineageCap), q.args...)
		if err != nil {
			return nil, fmt.Errorf("store: audit lineage: %w", err)
		}
		es, err := scanAuditEntries(rows, done)
		if err != nil {
			return nil, fmt.Errorf("store: audit lineage: %w", err)
		}
		for _, e := range es {
			if _, ok := byIdx[e.Index]; ok {
				continue
			}
			byIdx[e.Index] = e
			for _, id := range []string{e.TxnID, e.ParentTxnID} {
				if _, ok := txns[id]; !ok && id != "" {
					txns[id] = false
				}
			}
			if _, ok := traces[e.TraceID]; !ok && e.TraceID != "" {
				traces[e.TraceID] = false
			}
		}
	}
	out := make([]AuditEntry, 0, len(byIdx))
	for _, e := range byIdx {
		out = append(out, e)
	}
	sortAuditEntries(out)
	if len(out) > auditLineageCap {
		out = out[:auditLineageCap]
	}
	return out, nil
}

func sortAuditEntries(es []AuditEntry) {
	slices.SortFunc(es, func(a, b AuditEntry) int {
		switch {
		case a.Index < b.Index:
			return -1
		case a.Index > b.Index:
			return 1
		}
		return 0
	})
}

func (db auditDB) putKey(ctx context.Context, k AuditKey) error {
	if k.ID == "" || k.Verifier == "" || !storableText(k.ID) || !storableText(k.Verifier) {
		return errors.New("store: put audit key: id and verifier are required")
	}
	if k.Created.IsZero() {
		k.Created = time.Now()
	}
	_, err := db.exec(ctx, "INSERT INTO audit_keys (id, verifier, created_ns) VALUES ("+db.ph(1)+", "+db.ph(2)+", "+db.ph(3)+
		") ON CONFLICT (id) DO NOTHING", k.ID, k.Verifier, k.Created.UnixNano())
	if err != nil {
		return fmt.Errorf("store: put audit key: %w", err)
	}
	return nil
}

func (db auditDB) listKeys(ctx context.Context) ([]AuditKey, error) {
	rows, done, err := db.query(ctx, "SELECT id, verifier, created_ns FROM audit_keys ORDER BY id")
	if err != nil {
		return nil, fmt.Errorf("store: list audit keys: %w", err)
	}
	defer done()
	var out []AuditKey
	for rows.Next() {
		var (
			k  AuditKey
			ns int64
		)
		if err := rows.Scan(&k.ID, &k.Verifier, &ns); err != nil {
			return nil, fmt.Errorf("store: list audit keys: %w", err)
		}
		k.Created = time.Unix(0, ns).UTC()
		out = append(out, k)
	}
	return out, rows.Err()
}

func (db auditDB) insertCheckpoint(ctx context.Context, c AuditCheckpoint) (bool, error) {
	if c.KeyID == "" || c.Note == "" || !storableText(c.KeyID) || !storableText(c.Note) {
		return false, errors.New("store: insert audit checkpoint: key id and note are required")
	}
	if c.Time.IsZero() {
		c.Time = time.Now()
	}
	n, err := db.exec(ctx, "INSERT INTO audit_checkpoints (size, key_id, note, time_ns) VALUES ("+db.ph(1)+", "+db.ph(2)+", "+
		db.ph(3)+", "+db.ph(4)+") ON CONFLICT (size, key_id) DO NOTHING", int64(c.Size), c.KeyID, c.Note, c.Time.UnixNano())
	if err != nil {
		return false, fmt.Errorf("store: insert audit checkpoint: %w", err)
	}
	return n > 0, nil
}

const auditCheckpointCols = "size, key_id, note, time_ns FROM audit_checkpoints"

func scanCheckpoint(r interface{ Scan(...any) error }) (AuditCheckpoint, error) {
	var (
		c        AuditCheckpoint
		size, ns int64
	)
	if err := r.Scan(&size, &c.KeyID, &c.Note, &ns); err != nil {
		return AuditCheckpoint{}, err
	}
	c.Size, c.Time = uint64(size), time.Unix(0, ns).UTC()
	return c, nil
}

func (db auditDB) listCheckpoints(ctx context.Context) ([]AuditCheckpoint, error) {
	rows, done, err := db.query(ctx, "SELECT "+auditCheckpointCols+" ORDER BY size, seq")
	if err != nil {
		return nil, fmt.Errorf("store: list audit checkpoints: %w", err)
	}
	defer done()
	var out []AuditCheckpoint
	for rows.Next() {
		c, err := scanCheckpoint(rows)
		if err != nil {
			return nil, fmt.Errorf("store: list audit checkpoints: %w", err)
		}
		out = append(out, c)
	}
	return out, rows.Err()
}

func (db auditDB) latestCheckpoint(ctx context.Context) (AuditCheckpoint, error) {
	c, err := scanCheckpoint(db.queryRow(ctx, "SELECT "+auditCheckpointCols+" ORDER BY size DESC, seq DESC LIMIT 1"))
	if isNoRows(err) {
		return AuditCheckpoint{}, ErrNotFound
	}
	if err != nil {
		return AuditCheckpoint{}, fmt.Errorf("store: latest audit checkpoint: %w", err)
	}
	return c, nil
}

func (s *sqliteStore) audit() auditDB {
	c := s.consents()
	return auditDB{
		ph: sqlitePH,
		tx: func(ctx context.Context, fn func(t auditTx) error) error {
			return retryBusy(ctx, 15*time.Second, func() error {
				tx, err := s.w.BeginTx(ctx, nil) // BEGIN IMMEDIATE: one writer across processes
				if err != nil {
					return err
				}
				defer tx.Rollback()
				err = fn(auditTx{
					insert: func(table string, cols []string, rows [][]any) error {
						return sqliteInsertRows(ctx, tx, table, cols, rows)
					},
					exec: func(q string, args ...any) (int64, error) {
						res, err := tx.ExecContext(ctx, q, args...)
						if err != nil {
							return 0, err
						}
						return res.RowsAffected()
					},
					queryRow: func(q string, args ...any) interface{ Scan(...any) error } {
						return tx.QueryRowContext(ctx, q, args...)
					},
					query: func(q string, args ...any) (rowSource, func(), error) {
						rows, err := tx.QueryContext(ctx, q, args...)
						if err != nil {
							return nil, nil, err
						}
						return rows, func() { rows.Close() }, nil
					},
				})
				if err != nil {
					return err
				}
				return tx.Commit()
			})
		},
		exec: c.exec,
		queryRow: func(ctx context.Context, q string, args ...any) interface{ Scan(...any) error } {
			return s.r.QueryRowContext(ctx, q, args...)
		},
		query: c.query,
	}
}

func (s *postgresStore) audit() auditDB {
	c := s.consents()
	return auditDB{
		ph:        postgresPH,
		forUpdate: " FOR UPDATE",
		tx: func(ctx context.Context, fn func(t auditTx) error) error {
			return pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
				return fn(auditTx{
					// COPY: the fastest way into PostgreSQL, one round
					// trip for the whole batch.
					insert: func(table string, cols []string, rows [][]any) error {
						if len(rows) == 0 {
							return nil
						}
						_, err := tx.CopyFrom(ctx, pgx.Identifier{table}, cols, pgx.CopyFromRows(rows))
						return err
					},
					exec: func(q string, args ...any) (int64, error) {
						tag, err := tx.Exec(ctx, q, args...)
						return tag.RowsAffected(), err
					},
					queryRow: func(q string, args ...any) interface{ Scan(...any) error } {
						return tx.QueryRow(ctx, q, args...)
					},
					query: func(q string, args ...any) (rowSource, func(), error) {
						rows, err := tx.Query(ctx, q, args...)
						if err != nil {
							return nil, nil, err
						}
						return rows, rows.Close, nil
					},
				})
			})
		},
		exec:     c.exec,
		queryRow: c.queryRow,
		query:    c.query,
	}
}

func (s *sqliteStore) AppendAudit(ctx context.Context, leaves []AuditLeaf) ([]int64, AuditHead, error) {
	return s.audit().append(ctx, leaves)
}
func (s *sqliteStore) AuditHead(ctx context.Context) (AuditHead, error) {
	return s.audit().getHead(ctx)
}
func (s *sqliteStore) AuditNodes(ctx context.Context, ids []AuditNodeID) ([][]byte, error) {
	return s.audit().nodes(ctx, ids)
}
func (s *sqliteStore) ListAuditEntries(ctx context.Context, from uint64, n int) ([]AuditEntry, error) {
	return s.audit().list(ctx, from, n)
}
func (s *sqliteStore) AuditLineage(ctx context.Context, txnID string) ([]AuditEntry, error) {
	return s.audit().lineage(ctx, txnID)
}
func (s *sqliteStore) PutAuditKey(ctx context.Context, k AuditKey) error {
	return s.audit().putKey(ctx, k)
}
func (s *sqliteStore) ListAuditKeys(ctx context.Context) ([]AuditKey, error) {
	return s.audit().listKeys(ctx)
}
func (s *sqliteStore) InsertAuditCheckpoint(ctx context.Context, c AuditCheckpoint) (bool, error) {
	return s.audit().insertCheckpoint(ctx, c)
}
func (s *sqliteStore) ListAuditCheckpoints(ctx context.Context) ([]AuditCheckpoint, error) {
	return s.audit().listCheckpoints(ctx)
}
func (s *sqliteStore) LatestAuditCheckpoint(ctx context.Context) (AuditCheckpoint, error) {
	return s.audit().latestCheckpoint(ctx)
}

func (s *postgresStore) AppendAudit(ctx context.Context, leaves []AuditLeaf) ([]int64, AuditHead, error) {
	return s.audit().append(ctx, leaves)
}
func (s *postgresStore) AuditHead(ctx context.Context) (AuditHead, error) {
	return s.audit().getHead(ctx)
}
func (s *postgresStore) AuditNodes(ctx context.Context, ids []AuditNodeID) ([][]byte, error) {
	return s.audit().nodes(ctx, ids)
}
func (s *postgresStore) ListAuditEntries(ctx context.Context, from uint64, n int) ([]AuditEntry, error) {
	return s.audit().list(ctx, from, n)
}
func (s *postgresStore) AuditLineage(ctx context.Context, txnID string) ([]AuditEntry, error) {
	return s.audit().lineage(ctx, txnID)
}
func (s *postgresStore) PutAuditKey(ctx context.Context, k AuditKey) error {
	return s.audit().putKey(ctx, k)
}
func (s *postgresStore) ListAuditKeys(ctx context.Context) ([]AuditKey, error) {
	return s.audit().listKeys(ctx)
}
func (s *postgresStore) InsertAuditCheckpoint(ctx context.Context, c AuditCheckpoint) (bool, error) {
	return s.audit().insertCheckpoint(ctx, c)
}
func (s *postgresStore) ListAuditCheckpoints(ctx context.Context) ([]AuditCheckpoint, error) {
	return s.audit().listCheckpoints(ctx)
}
func (s *postgresStore) LatestAuditCheckpoint(ctx context.Context) (AuditCheckpoint, error) {
	return s.audit().latestCheckpoint(ctx)
}
