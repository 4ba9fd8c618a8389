-- The tamper-evident audit log (internal/audit): an append-only Merkle
-- tree (RFC 6962 hashing). audit_entries holds the leaves in tree order
-- (idx from 0, no gaps): data is the signed record, byte for byte, and the
-- other columns are indexed copies of its fields (verify checks they agree).
-- dedup_key makes appends idempotent (a redelivered txn_id is logged once).
CREATE TABLE audit_entries (
    idx           INTEGER PRIMARY KEY,
    dedup_key     TEXT    NOT NULL UNIQUE,
    kind          TEXT    NOT NULL,
    txn_id        TEXT    NOT NULL,
    parent_txn_id TEXT    NOT NULL,
    trace_id      TEXT    NOT NULL,
    time_ns       INTEGER NOT NULL,
    data          BLOB    NOT NULL
);
CREATE INDEX audit_entries_txn ON audit_entries (txn_id);
CREATE INDEX audit_entries_parent ON audit_entries (parent_txn_id) WHERE parent_txn_id <> '';
CREATE INDEX audit_entries_trace ON audit_entries (trace_id) WHERE trace_id <> '';
-- Every perfect subtree's hash (level 0: leaf hashes), for proofs in
-- O(log n) reads.
CREATE TABLE audit_nodes (
    level INTEGER NOT NULL,
    idx   INTEGER NOT NULL,
    hash  BLOB    NOT NULL,
    PRIMARY KEY (level, idx)
) WITHOUT ROWID;
-- The tree's size and compact range (the frontier: the roots of the
-- perfect subtrees covering [0, size), 32 bytes each, left to right). One
-- row; appends update it in the transaction that adds the leaves.
CREATE TABLE audit_head (
    id       INTEGER PRIMARY KEY CHECK (id = 1),
    size     INTEGER NOT NULL,
    frontier BLOB    NOT NULL
);
INSERT INTO audit_head (id, size, frontier) VALUES (1, 0, x'');
-- Signed checkpoints (sumdb notes), one per size and signing key.
CREATE TABLE audit_checkpoints (
    seq     INTEGER PRIMARY KEY AUTOINCREMENT,
    size    INTEGER NOT NULL,
    key_id  TEXT    NOT NULL,
    note    TEXT    NOT NULL,
    time_ns INTEGER NOT NULL,
    UNIQUE (size, key_id)
);
-- The public keys that signed records and checkpoints (note verifier
-- keys). Verification trusts only the keys it is given, not this table.
CREATE TABLE audit_keys (
    id         TEXT    PRIMARY KEY,
    verifier   TEXT    NOT NULL,
    created_ns INTEGER NOT NULL
);
