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
    seq       INTEGER PRIMARY KEY,
    txn_id    TEXT    NOT NULL,
    ord       INTEGER NOT NULL,
    time_ns   INTEGER NOT NULL,
    stage     TEXT    NOT NULL,
    layer     TEXT    NOT NULL,
    rule_id   TEXT    NOT NULL,
    kind      TEXT    NOT NULL,
    severity  TEXT    NOT NULL,
    action    TEXT    NOT NULL,
    message   TEXT    NOT NULL,
    decision  TEXT    NOT NULL,
    host      TEXT    NOT NULL,
    method    TEXT    NOT NULL,
    endpoint  TEXT    NOT NULL,
    source_ip TEXT    NOT NULL,
    identity  TEXT    NOT NULL
);
CREATE INDEX findings_time ON findings (time_ns);
CREATE INDEX findings_stage ON findings (stage, time_ns);
CREATE INDEX findings_rule ON findings (rule_id, time_ns);
CREATE INDEX findings_source ON findings (source_ip, time_ns);
CREATE INDEX findings_identity ON findings (identity, time_ns);
CREATE INDEX findings_endpoint ON findings (endpoint, time_ns);
CREATE INDEX findings_decision ON findings (decision, time_ns);

-- traffic_minutes: transactions counted per minute (unix ns of its
-- start), decision and endpoint: requests/s, decisions and top endpoints
-- read a few thousand rows however many events the window holds.
CREATE TABLE traffic_minutes (
    minute_ns INTEGER NOT NULL,
    decision  TEXT    NOT NULL,
    host      TEXT    NOT NULL,
    method    TEXT    NOT NULL,
    endpoint  TEXT    NOT NULL,
    requests  INTEGER NOT NULL,
    PRIMARY KEY (minute_ns, decision, host, method, endpoint)
) WITHOUT ROWID;

-- finding_minutes: findings counted per minute, stage, decision and rule:
-- the findings chart over a day or a week reads these instead of every
-- finding (the filters by endpoint, identity and source read the
-- findings table through their index).
CREATE TABLE finding_minutes (
    minute_ns INTEGER NOT NULL,
    stage     TEXT NOT NULL,
    decision  TEXT NOT NULL,
    rule_id   TEXT NOT NULL,
    findings  INTEGER NOT NULL,
    PRIMARY KEY (minute_ns, stage, decision, rule_id)
) WITHOUT ROWID;

-- Events stored before this migration.
INSERT INTO findings (txn_id, ord, time_ns, stage, layer, rule_id, kind, severity, action, message,
    decision, host, method, endpoint, source_ip, identity)
SELECT e.txn_id, f.key, e.time_ns,
    coalesce(json_extract(f.value, '$.stage'), ''), coalesce(json_extract(f.value, '$.layer'), ''),
    coalesce(json_extract(f.value, '$.rule_id'), ''), coalesce(json_extract(f.value, '$.kind'), ''),
    coalesce(json_extract(f.value, '$.severity'), ''), coalesce(json_extract(f.value, '$.action'), ''),
    substr(coalesce(json_extract(f.value, '$.message'), ''), 1, 512),
    e.decision, coalesce(json_extract(CAST(e.body AS TEXT), '$.destination.host'), ''),
    coalesce(json_extract(CAST(e.body AS TEXT), '$.request.method'), ''), e.endpoint,
    coalesce(json_extract(CAST(e.body AS TEXT), '$.source.ip'), ''),
    coalesce(json_extract(CAST(e.body AS TEXT), '$.identity.sub'), json_extract(CAST(e.body AS TEXT), '$.identity.client_id'), '')
FROM events e, json_each(CAST(e.body AS TEXT), '$.findings') f
WHERE e.type IS NULL
ORDER BY e.seq, f.key;

INSERT INTO traffic_minutes (minute_ns, decision, host, method, endpoint, requests)
SELECT time_ns - (time_ns % 60000000000), decision,
    coalesce(json_extract(CAST(body AS TEXT), '$.destination.host'), ''),
    coalesce(json_extract(CAST(body AS TEXT), '$.request.method'), ''), endpoint, count(*)
FROM events WHERE type IS NULL
GROUP BY 1, 2, 3, 4, 5;

CREATE INDEX finding_minutes_rule ON finding_minutes (rule_id, minute_ns);

INSERT INTO finding_minutes (minute_ns, stage, decision, rule_id, findings)
SELECT time_ns - (time_ns % 60000000000), stage, decision, rule_id, count(*)
FROM findings
GROUP BY 1, 2, 3, 4;
