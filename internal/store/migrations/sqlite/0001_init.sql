-- Events: indexed columns for filtering and keyset paging, plus the full
-- event JSON. time_ns is unix nanoseconds; type is NULL for transactions.
-- Lists run newest first on (time_ns, seq); every index ends in the rowid
-- (seq) implicitly, which keeps them small: inserts pay for each index.
CREATE TABLE events (
    seq      INTEGER PRIMARY KEY,
    txn_id   TEXT    NOT NULL UNIQUE,
    time_ns  INTEGER NOT NULL,
    decision TEXT    NOT NULL,
    endpoint TEXT    NOT NULL,
    type     TEXT,
    body     BLOB    NOT NULL
);
CREATE INDEX events_time ON events (time_ns);
CREATE INDEX events_decision ON events (decision, time_ns);
CREATE INDEX events_endpoint ON events (endpoint, time_ns);
CREATE INDEX events_type ON events (type, time_ns) WHERE type IS NOT NULL;

-- Endpoint inventory; id = EndpointID(host, method, path).
CREATE TABLE endpoints (
    id            TEXT    PRIMARY KEY,
    host          TEXT    NOT NULL,
    method        TEXT    NOT NULL,
    path          TEXT    NOT NULL,
    hits          INTEGER NOT NULL,
    first_seen_ns INTEGER NOT NULL,
    last_seen_ns  INTEGER NOT NULL,
    protected     INTEGER NOT NULL,
    status        TEXT    NOT NULL,
    sensitive     TEXT    NOT NULL, -- JSON array of strings, sorted
    detail        BLOB
);
CREATE UNIQUE INDEX endpoints_order ON endpoints (host, path, method);
CREATE INDEX endpoints_status ON endpoints (status, host, path, method);

-- Settings: small named documents with a version.
CREATE TABLE settings (
    key        TEXT    PRIMARY KEY,
    value      BLOB    NOT NULL,
    version    INTEGER NOT NULL,
    updated_ns INTEGER NOT NULL
);
