// Package store is the control plane's persistent state: transaction events,
// the endpoint inventory, consent grants, the workload call graph and small
// versioned settings documents. One
// interface, two backends selected by the config key `store` alone:
// embedded SQLite (default, a file in data_dir, no cgo) and PostgreSQL
// (shared by several control-plane replicas).
package store

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"time"

	"github.com/vigil-sec/vigil/internal/authz/consent"
	"github.com/vigil-sec/vigil/internal/event"
	"github.com/vigil-sec/vigil/internal/risk"
)

// Errors callers can test with errors.Is.
var (
	// ErrNotFound is returned by GetEndpoint and GetSetting when nothing is
	// stored under the key.
	ErrNotFound = errors.New("store: not found")
	// ErrBadCursor is returned by the List methods when the cursor was not
	// produced by the same List method (malformed, truncated, from another list).
	ErrBadCursor = errors.New("store: bad cursor")
	// ErrConflict is returned by InsertConsent for an id already stored.
	ErrConflict = errors.New("store: already exists")
)

// Page limits.
const (
	DefaultLimit = 100
	MaxLimit     = 1000
)

// TypeTransaction is the EventFilter.Type value that selects transaction
// events only (those whose event.Event.Type is empty).
const TypeTransaction = "transaction"

// freshFlags maps the txn ids an INSERT ... RETURNING reported back onto
// evs: the first event with a returned id is fresh, repeats are not.
func freshFlags(evs []event.Event, returned map[string]struct{}) []bool {
	fresh := make([]bool, len(evs))
	for i := range evs {
		if _, ok := returned[evs[i].TxnID]; ok {
			fresh[i] = true
			delete(returned, evs[i].TxnID)
		}
	}
	return fresh
}

// Store is the control plane's storage. Every method is safe for concurrent
// use, and several processes may share one PostgreSQL database.
type Store interface {
	// Stats are the dashboard's queries (stats.go).
	Stats
	// InsertEvents stores events idempotently by TxnID: inserting a txn_id
	// that is already stored (a redelivery) is a no-op. One transaction per
	// call. An event without a TxnID fails the whole call before anything is
	// written. fresh[i] reports whether evs[i] was stored by this call (false
	// for a redelivery, or a repeat of a txn_id earlier in evs), so callers
	// can count each transaction once however often it is delivered.
	InsertEvents(ctx context.Context, evs []event.Event) (fresh []bool, err error)
	// ListEvents returns events newest first: by time, and events with equal
	// times in reverse order of storage (within one InsertEvents call,
	// storage order is txn_id order).
	ListEvents(ctx context.Context, f EventFilter) (Page[event.Event], error)
	// CountEvents returns the number of stored events.
	CountEvents(ctx context.Context) (int64, error)
	// UpsertEndpoints merges inventory rows keyed by host+method+path: hits
	// are added, first_seen is the minimum, last_seen the maximum, sensitive
	// the union; status and detail are overwritten when set (non-empty) and
	// protected once set to true stays true. Two replicas upserting the same
	// key merge into one row.
	UpsertEndpoints(ctx context.Context, eps []Endpoint) error
	// ListEndpoints returns inventory rows ordered by host, path, method.
	ListEndpoints(ctx context.Context, f EndpointFilter) (Page[Endpoint], error)
	// GetEndpoint returns one row by ID, or ErrNotFound.
	GetEndpoint(ctx context.Context, id string) (Endpoint, error)
	// DeleteEndpoints removes inventory rows by ID (unknown IDs are
	// ignored) and returns how many it removed. Discovery retires rows
	// this way when a template merge folds them into another.
	DeleteEndpoints(ctx context.Context, ids []string) (int64, error)
	// Prune enforces retention: it deletes events older than maxAge (0: no
	// age limit), then the oldest beyond the newest maxCount (0: no limit),
	// and returns how many it deleted.
	Prune(ctx context.Context, maxAge time.Duration, maxCount int64) (deleted int64, err error)
	// PutSetting stores value under key and returns its new version (1 for
	// a new key, then +1 on each put).
	PutSetting(ctx context.Context, key string, value []byte) (version int64, err error)
	// GetSetting returns the stored bytes and version, or ErrNotFound.
	GetSetting(ctx context.Context, key string) (value []byte, version int64, err error)
	// InsertConsent stores a new consent grant (its ID from consent.NewID);
	// an ID already stored is ErrConflict.
	InsertConsent(ctx context.Context, g consent.Grant) error
	// GetConsent returns one grant, or ErrNotFound.
	GetConsent(ctx context.Context, id string) (consent.Grant, error)
	// RevokeConsent marks a grant revoked at at and returns it; revoking
	// it again keeps the first revocation time. Unknown id: ErrNotFound.
	RevokeConsent(ctx context.Context, id string, at time.Time) (consent.Grant, error)
	// ListConsents returns grants in id (creation) order.
	ListConsents(ctx context.Context, f ConsentFilter) (Page[consent.Grant], error)
	// UpsertConnections adds call-graph deltas (risk.Aggregator.Drain)
	// into the stored edges, keyed by ID (risk.EdgeID(Source, Destination),
	// filled in when empty), as risk.Edge.Merge does: counters are added,
	// first_seen is the minimum, last_seen the maximum, and the TLS facts
	// (TLSVersion, Cipher, Group) are replaced by those of a delta that
	// has a TLS version or plaintext requests and whose LastSeen is at or
	// after the stored one. A missing FirstSeen/LastSeen takes the other
	// (or now). Two replicas upserting the same edge add up. One
	// transaction per call; an edge with an empty source or destination,
	// a foreign ID, text PostgreSQL cannot store or times outside
	// 1678-2262 fails the whole call before anything is written.
	UpsertConnections(ctx context.Context, edges []risk.Edge) error
	// ListConnections returns edges ordered by ID.
	ListConnections(ctx context.Context, f ConnectionFilter) (Page[risk.Edge], error)
	// AppendAudit appends leaves to the audit log's Merkle tree in one
	// transaction, serialised with every other append to the database
	// (replicas included): a leaf whose Key is already logged, or repeated
	// earlier in leaves, is skipped. index[i] is the tree index given to
	// leaves[i], or -1 when it was skipped; head is the tree after the
	// append. Committed before it returns.
	AppendAudit(ctx context.Context, leaves []AuditLeaf) (index []int64, head AuditHead, err error)
	// AuditHead returns the tree's size and compact range.
	AuditHead(ctx context.Context) (AuditHead, error)
	// AuditNodes returns the hashes of perfect subtrees (ErrNotFound
	// wrapped when one is not stored: beyond the tree, or not perfect).
	AuditNodes(ctx context.Context, ids []AuditNodeID) ([][]byte, error)
	// ListAuditEntries returns up to n entries from index from on, in
	// index order (n as in the List limits).
	ListAuditEntries(ctx context.Context, from uint64, n int) ([]AuditEntry, error)
	// AuditLineage returns the entries linked to txnID, by index: the
	// transaction, the entries sharing a trace id with it, and its parents
	// and children by parent_txn_id, transitively (at most 1000).
	AuditLineage(ctx context.Context, txnID string) ([]AuditEntry, error)
	// PutAuditKey registers a signing key (again: no-op).
	PutAuditKey(ctx context.Context, k AuditKey) error
	// ListAuditKeys returns the registered keys by ID.
	ListAuditKeys(ctx context.Context) ([]AuditKey, error)
	// InsertAuditCheckpoint stores a signed checkpoint; one per size and
	// key (inserted reports false for a repeat).
	InsertAuditCheckpoint(ctx context.Context, c AuditCheckpoint) (inserted bool, err error)
	// ListAuditCheckpoints returns every checkpoint by size.
	ListAuditCheckpoints(ctx context.Context) ([]AuditCheckpoint, error)
	// LatestAuditCheckpoint returns the checkpoint of the largest size, or
	// ErrNotFound.
	LatestAuditCheckpoint(ctx context.Context) (AuditCheckpoint, error)
	// Ping checks that the database answers.
	Ping(ctx context.Context) error
	// Close releases the database.
	Close() error
}

// Endpoint is one row of the API inventory.
type Endpoint struct {
	ID        string    `json:"id"` // EndpointID(Host, Method, Path); set by UpsertEndpoints
	Host      string    `json:"host"`
	Method    string    `json:"method"`
	Path      string    `json:"path"` // the templated path, e.g. /products/{parameter}
	Hits      int64     `json:"hits"`
	FirstSeen time.Time `json:"first_seen"`
	LastSeen  time.Time `json:"last_seen"`
	Protected bool      `json:"protected"`
	// Status is "documented", "shadow", "zombie" or "" (unknown).
	Status string `json:"status"`
	// Sensitive lists the data classes seen, sorted, without duplicates.
	Sensitive []string `json:"sensitive"`
	// Detail is opaque JSON owned by discovery (schemas, parameters, status
	// counts, auth seen, content types...). Stored and returned byte for byte.
	Detail json.RawMessage `json:"detail,omitempty"`
}

// Page is one page of a list. NextCursor is empty on the last page.
type Page[T any] struct {
	Items      []T    `json:"items"`
	NextCursor string `json:"next_cursor"`
}

// EventFilter selects events. Zero fields do not filter.
type EventFilter struct {
	Decision string    // allow, block, challenge, step_up
	Endpoint string    // request.endpoint, or request.path when the event has no endpoint
	Type     string    // an event type ("alert", ...) or TypeTransaction
	Since    time.Time // time >= Since
	Limit    int       // DefaultLimit when <= 0, at most MaxLimit
	Cursor   string    // NextCursor of the previous page
}

// EndpointFilter selects inventory rows. Zero fields do not filter.
type EndpointFilter struct {
	Host   string
	Status string
	Limit  int
	Cursor string
}

// EndpointID is the deterministic ID of the inventory row for host, method
// and path: the first 16 hex digits of sha256(host+" "+method+" "+path).
// Every replica derives the same ID for the same endpoint.
func EndpointID(host, method, path string) string {
	sum := sha256.Sum256([]byte(host + " " + method + " " + path))
	return hex.EncodeToString(sum[:8])
}

// Open opens (creating if needed) the store named by dsn and applies pending
// migrations:
//
//	"" or "sqlite"            SQLite file <dataDir>/vigil.db
//	"sqlite:///abs/file.db"   SQLite file at that path ("sqlite://rel.db" is relative)
//	"sqlite::memory:"         private in-memory SQLite (tests)
//	"postgres://..."          PostgreSQL (also "postgresql://..."), pgx connection string
func Open(ctx context.Context, dsn string, dataDir string) (Store, error) {
	kind, target, err := parseDSN(dsn, dataDir)
	if err != nil {
		return nil, err
	}
	switch kind {
	case kindSQLite:
		return openSQLite(ctx, target)
	default:
		return openPostgres(ctx, target)
	}
}

const (
	kindSQLite   = "sqlite"
	kindPostgres = "postgres"
	memoryPath   = ":memory:"
)

// parseDSN splits the store setting into a backend and its target: a file
// path (or memoryPath) for SQLite, the connection string for PostgreSQL.
func parseDSN(dsn, dataDir string) (kind, target string, err error) {
	switch {
	case dsn == "" || dsn == "sqlite":
		if dataDir == "" {
			return "", "", errors.New("store: sqlite needs a data_dir")
		}
		return kindSQLite, filepath.Join(dataDir, "vigil.db"), nil
	case strings.HasPrefix(dsn, "postgres://"), strings.HasPrefix(dsn, "postgresql://"):
		return kindPostgres, dsn, nil
	case strings.HasPrefix(dsn, "sqlite:"):
		rest := strings.TrimPrefix(dsn, "sqlite:")
		rest = strings.TrimPrefix(rest, "//")
		if rest == memoryPath {
			return kindSQLite, memoryPath, nil
		}
		if rest == "" || strings.ContainsAny(rest, "?#\x00") {
			return "", "", fmt.Errorf("store: bad sqlite dsn %q: want sqlite:///path/file.db", dsn)
		}
		return kindSQLite, rest, nil
	}
	return "", "", fmt.Errorf("store: unknown store %q: want sqlite, sqlite:///path, or postgres://", dsn)
}

// limit applies DefaultLimit and MaxLimit.
func limit(n int) int {
	switch {
	case n <= 0:
		return DefaultLimit
	case n > MaxLimit:
		return MaxLimit
	}
	return n
}

// eventRow is the indexed projection of an event.
type eventRow struct {
	txnID    string
	timeNS   int64
	decision string
	endpoint string
	typ      *string // nil for transaction events
	body     []byte
}

func toRows(evs []event.Event) ([]eventRow, error) {
	rows := make([]eventRow, len(evs))
	for i := range evs {
		ev := &evs[i]
		if ev.TxnID == "" {
			return nil, fmt.Errorf("store: event %d has no txn_id", i)
		}
		body, err := json.Marshal(ev)
		if err != nil {
			return nil, fmt.Errorf("store: event %s: %w", ev.TxnID, err)
		}
		r := eventRow{
			txnID:    ev.TxnID,
			timeNS:   ev.Time.UnixNano(),
			decision: ev.Decision,
			endpoint: ev.Request.Endpoint,
			body:     body,
		}
		if r.endpoint == "" {
			r.endpoint = ev.Request.Path
		}
		if ev.Type != "" {
			t := ev.Type
			r.typ = &t
		}
		rows[i] = r
	}
	// A stable order keeps concurrent overlapping batches from deadlocking
	// on PostgreSQL's unique index.
	sortRows(rows)
	return rows, nil
}

// prepareEndpoints validates eps, fills IDs and missing times, merges
// duplicate keys within the batch and sorts by ID.
func prepareEndpoints(eps []Endpoint, now time.Time) ([]Endpoint, error) {
	byID := make(map[string]int, len(eps))
	out := make([]Endpoint, 0, len(eps))
	for i, ep := range eps {
		if ep.Host == "" && ep.Method == "" && ep.Path == "" {
			return nil, fmt.Errorf("store: endpoint %d has no host, method or path", i)
		}
		if len(ep.Detail) > 0 && !json.Valid(ep.Detail) {
			return nil, fmt.Errorf("store: endpoint %s %s %s: detail is not valid JSON", ep.Host, ep.Method, ep.Path)
		}
		ep.ID = EndpointID(ep.Host, ep.Method, ep.Path)
		switch {
		case ep.FirstSeen.IsZero() && ep.LastSeen.IsZero():
			ep.FirstSeen, ep.LastSeen = now, now
		case ep.FirstSeen.IsZero():
			ep.FirstSeen = ep.LastSeen
		case ep.LastSeen.IsZero():
			ep.LastSeen = ep.FirstSeen
		}
		ep.Sensitive = union(nil, ep.Sensitive)
		if j, ok := byID[ep.ID]; ok {
			out[j] = mergeEndpoint(out[j], ep)
			continue
		}
		byID[ep.ID] = len(out)
		out = append(out, ep)
	}
	sortEndpoints(out)
	return out, nil
}

// mergeEndpoint applies the upsert semantics of b onto a, in memory.
func mergeEndpoint(a, b Endpoint) Endpoint {
	a.Hits += b.Hits
	if b.FirstSeen.Before(a.FirstSeen) {
		a.FirstSeen = b.FirstSeen
	}
	if b.LastSeen.After(a.LastSeen) {
		a.LastSeen = b.LastSeen
	}
	a.Protected = a.Protected || b.Protected
	if b.Status != "" {
		a.Status = b.Status
	}
	if len(b.Detail) > 0 {
		a.Detail = b.Detail
	}
	a.Sensitive = union(a.Sensitive, b.Sensitive)
	return a
}
