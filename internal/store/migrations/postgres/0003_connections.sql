-- The workload call graph: one row per caller and callee, id =
-- risk.EdgeID(source, destination). Counters are requests, added up by
-- every upsert (replicas sharing a database add up); tls_version, cipher
-- and grp are the TLS facts of the latest request. Times are unix
-- nanoseconds.
CREATE TABLE connections (
    id            TEXT COLLATE "C" PRIMARY KEY,
    source        TEXT COLLATE "C" NOT NULL,
    destination   TEXT COLLATE "C" NOT NULL,
    requests      BIGINT NOT NULL,
    authenticated BIGINT NOT NULL,
    mtls          BIGINT NOT NULL,
    tls13         BIGINT NOT NULL,
    legacy_tls    BIGINT NOT NULL,
    plaintext     BIGINT NOT NULL,
    refused       BIGINT NOT NULL,
    intercepted   BIGINT NOT NULL,
    external      BIGINT NOT NULL,
    tls_version   TEXT COLLATE "C" NOT NULL,
    cipher        TEXT COLLATE "C" NOT NULL,
    grp           TEXT COLLATE "C" NOT NULL,
    first_seen_ns BIGINT NOT NULL,
    last_seen_ns  BIGINT NOT NULL
);
CREATE INDEX connections_source ON connections (source, id);
CREATE INDEX connections_destination ON connections (destination, id);
