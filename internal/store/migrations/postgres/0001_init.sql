-- Events: indexed columns for filtering and keyset paging, plus the full
-- event JSON. Text keys use the C collation (byte order, as SQLite).
-- time_ns is unix nanoseconds; type is NULL for transactions. Lists run
-- newest first on (time_ns, seq).
CREATE TABLE events (
    seq      BIGINT GENERATED ALWAYS AS IDENTITY,
    txn_id   TEXT COLLATE "C" PRIMARY KEY,
    time_ns  BIGINT NOT NULL,
    decision TEXT COLLATE "C" NOT NULL,
    endpoint TEXT COLLATE "C" NOT NULL,
    type     TEXT COLLATE "C",
    body     JSON   NOT NULL
);
CREATE INDEX events_time ON events (time_ns, seq);
CREATE INDEX events_decision ON events (decision, time_ns, seq);
CREATE INDEX events_endpoint ON events (endpoint, time_ns, seq);
CREATE INDEX events_type ON events (type, time_ns, seq) WHERE type IS NOT NULL;

-- Endpoint inventory; id = EndpointID(host, method, path).
CREATE TABLE endpoints (
    id            TEXT    PRIMARY KEY,
    host          TEXT COLLATE "C" NOT NULL,
    method        TEXT COLLATE "C" NOT NULL,
    path          TEXT COLLATE "C" NOT NULL,
    hits          BIGINT  NOT NULL,
    first_seen_ns BIGINT  NOT NULL,
    last_seen_ns  BIGINT  NOT NULL,
    protected     BOOLEAN NOT NULL,
    status        TEXT COLLATE "C" NOT NULL,
    sensitive     TEXT[]  NOT NULL,
    detail        BYTEA
);
CREATE UNIQUE INDEX endpoints_order ON endpoints (host, path, method);
CREATE INDEX endpoints_status ON endpoints (status, host, path, method);

-- Settings: small named documents with a version.
CREATE TABLE settings (
    key        TEXT   PRIMARY KEY,
    value      BYTEA  NOT NULL,
    version    BIGINT NOT NULL,
    updated_ns BIGINT NOT NULL
);
