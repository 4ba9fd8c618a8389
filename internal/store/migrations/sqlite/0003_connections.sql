-- The workload call graph: one row per caller and callee, id =
-- risk.EdgeID(source, destination). Counters are requests, added up by
-- every upsert (replicas sharing a database add up); tls_version, cipher
-- and grp are the TLS facts of the latest request. Times are unix
-- nanoseconds.
CREATE TABLE connections (
    id            TEXT    PRIMARY KEY,
    source        TEXT    NOT NULL,
    destination   TEXT    NOT NULL,
    requests      INTEGER NOT NULL,
    authenticated INTEGER NOT NULL,
    mtls          INTEGER NOT NULL,
    tls13         INTEGER NOT NULL,
    legacy_tls    INTEGER NOT NULL,
    plaintext     INTEGER NOT NULL,
    refused       INTEGER NOT NULL,
    intercepted   INTEGER NOT NULL,
    external      INTEGER NOT NULL,
    tls_version   TEXT    NOT NULL,
    cipher        TEXT    NOT NULL,
    grp           TEXT    NOT NULL,
    first_seen_ns INTEGER NOT NULL,
    last_seen_ns  INTEGER NOT NULL
);
CREATE INDEX connections_source ON connections (source, id);
CREATE INDEX connections_destination ON connections (destination, id);
