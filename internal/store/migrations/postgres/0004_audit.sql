-- The tamper-evident audit log (internal/audit): an append-only Merkle
-- tree (RFC 6962 hashing). audit_entries holds the leaves in tree order
-- (idx from 0, no gaps): data is the signed record, byte for byte, and the
-- other columns are indexed copies of its fields (verify checks they agree).
-- dedup_key makes appends idempotent (a redelivered txn_id is logged once).
CREATE TABLE audit_entries (
    idx           BIGINT PRIMARY KEY,
    dedup_key     TEXT COLLATE "C" NOT NULL UNIQUE,
    kind          TEXT COLLATE "C" NOT NULL,
    txn_id        TEXT COLLATE "C" NOT NULL,
    parent_txn_id TEXT COLLATE "C" NOT NULL,
    trace_id      TEXT COLLATE "C" NOT NULL,
    time_ns       BIGINT NOT NULL,
    data          BYTEA  NOT NULL
);
CREATE INDEX audit_entries_txn ON audit_entries (txn_id);
CREATE INDEX audit_entries_parent ON audit_entries (parent_txn_id) WHERE parent_txn_id <> '';
CREATE INDEX audit_entries_trace ON audit_entries (trace_id) WHERE trace_id <> '';
-- Every perfect subtree's hash (level 0: leaf hashes), for proofs in
-- O(log n) reads.
CREATE TABLE audit_nodes (
    level INTEGER NOT NULL,
    idx   BIGINT  NOT NULL,
    hash  BYTEA   NOT NULL,
    PRIMARY KEY (level, idx)
);
-- The tree's size and compact range (the frontier: the roots of the
-- perfect subtrees covering [0, size), 32 bytes each, left to right). One
-- row; appends lock it (SELECT ... FOR UPDATE), which serialises the
-- appends of every replica sharing the database.
CREATE TABLE audit_head (
    id       INTEGER PRIMARY KEY CHECK (id = 1),
    size     BIGINT NOT NULL,
    frontier BYTEA  NOT NULL
);
INSERT INTO audit_head (id, size, frontier) VALUES (1, 0, ''::bytea);
-- Signed checkpoints (sumdb notes), one per size and signing key.
CREATE TABLE audit_checkpoints (
    seq     BIGSERIAL PRIMARY KEY,
    size    BIGINT NOT NULL,
    key_id  TEXT COLLATE "C" NOT NULL,
    note    TEXT NOT NULL,
    time_ns BIGINT NOT NULL,
    UNIQUE (size, key_id)
);
-- The public keys that signed records and checkpoints (note verifier
-- keys). Verification trusts only the keys it is given, not this table.
CREATE TABLE audit_keys (
    id         TEXT COLLATE "C" PRIMARY KEY,
    verifier   TEXT NOT NULL,
    created_ns BIGINT NOT NULL
);
