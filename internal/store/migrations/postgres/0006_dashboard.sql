-- Read models for the dashboard (internal/ui), filled by InsertEvents in
-- the transaction that stores the events, from the fresh ones only (a
-- redelivery is not counted twice), and trimmed by Prune with them.
--
-- findings: one row per finding of a transaction event, with the event's
-- indexed facts copied beside it, so the findings page filters by layer,
-- rule, source, identity, endpoint and decision over an index instead of
-- reading event bodies. ord is the finding's position in its event (0:
-- the first), so ord = 0 counts events.
CREATE TABLE findings (
    seq       BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    txn_id    TEXT COLLATE "C" NOT NULL,
    ord       INTEGER NOT NULL,
    time_ns   BIGINT  NOT NULL,
    stage     TEXT COLLATE "C" NOT NULL,
    layer     TEXT COLLATE "C" NOT NULL,
    rule_id   TEXT COLLATE "C" NOT NULL,
    kind      TEXT COLLATE "C" NOT NULL,
    severity  TEXT COLLATE "C" NOT NULL,
    action    TEXT COLLATE "C" NOT NULL,
    message   TEXT NOT NULL,
    decision  TEXT COLLATE "C" NOT NULL,
    host      TEXT COLLATE "C" NOT NULL,
    method    TEXT COLLATE "C" NOT NULL,
    endpoint  TEXT COLLATE "C" NOT NULL,
    source_ip TEXT COLLATE "C" NOT NULL,
    identity  TEXT COLLATE "C" NOT NULL
);
CREATE INDEX findings_time ON findings (time_ns, seq);
CREATE INDEX findings_stage ON findings (stage, time_ns, seq);
CREATE INDEX findings_rule ON findings (rule_id, time_ns, seq);
CREATE INDEX findings_source ON findings (source_ip, time_ns, seq);
CREATE INDEX findings_identity ON findings (identity, time_ns, seq);
CREATE INDEX findings_endpoint ON findings (endpoint, time_ns, seq);
CREATE INDEX findings_decision ON findings (decision, time_ns, seq);

-- traffic_minutes: transactions counted per minute (unix ns of its
-- start), decision and endpoint: requests/s, decisions and top endpoints
-- read a few thousand rows however many events the window holds.
CREATE TABLE traffic_minutes (
    minute_ns BIGINT NOT NULL,
    decision  TEXT COLLATE "C" NOT NULL,
    host      TEXT COLLATE "C" NOT NULL,
    method    TEXT COLLATE "C" NOT NULL,
    endpoint  TEXT COLLATE "C" NOT NULL,
    requests  BIGINT NOT NULL,
    PRIMARY KEY (minute_ns, decision, host, method, endpoint)
);

-- finding_minutes: findings counted per minute, stage, decision and rule:
-- the findings chart over a day or a week reads these instead of every
-- finding (the filters by endpoint, identity and source read the
-- findings table through their index).
CREATE TABLE finding_minutes (
    minute_ns BIGINT NOT NULL,
    stage     TEXT COLLATE "C" NOT NULL,
    decision  TEXT COLLATE "C" NOT NULL,
    rule_id   TEXT COLLATE "C" NOT NULL,
    findings  BIGINT NOT NULL,
    PRIMARY KEY (minute_ns, stage, decision, rule_id)
);

-- Events stored before this migration.
INSERT INTO findings (txn_id, ord, time_ns, stage, layer, rule_id, kind, severity, action, message,
    decision, host, method, endpoint, source_ip, identity)
SELECT e.txn_id, (f.n - 1)::int, e.time_ns,
    coalesce(f.v->>'stage', ''), coalesce(f.v->>'layer', ''), coalesce(f.v->>'rule_id', ''),
    coalesce(f.v->>'kind', ''), coalesce(f.v->>'severity', ''), coalesce(f.v->>'action', ''),
    left(coalesce(f.v->>'message', ''), 512),
    e.decision, coalesce(e.body->'destination'->>'host', ''), coalesce(e.body->'request'->>'method', ''), e.endpoint,
    coalesce(e.body->'source'->>'ip', ''), coalesce(e.body->'identity'->>'sub', e.body->'identity'->>'client_id', '')
FROM events e
CROSS JOIN LATERAL json_array_elements(CASE WHEN json_typeof(e.body->'findings') = 'array' THEN e.body->'findings' ELSE '[]'::json END)
    WITH ORDINALITY AS f(v, n)
WHERE e.type IS NULL
ORDER BY e.seq, f.n;

INSERT INTO traffic_minutes (minute_ns, decision, host, method, endpoint, requests)
SELECT time_ns - (time_ns % 60000000000), decision,
    coalesce(body->'destination'->>'host', ''), coalesce(body->'request'->>'method', ''), endpoint, count(*)
FROM events WHERE type IS NULL
GROUP BY 1, 2, 3, 4, 5;

CREATE INDEX finding_minutes_rule ON finding_minutes (rule_id, minute_ns);

INSERT INTO finding_minutes (minute_ns, stage, decision, rule_id, findings)
SELECT time_ns - (time_ns % 60000000000), stage, decision, rule_id, count(*)
FROM findings
GROUP BY 1, 2, 3, 4;
