-- Consent grants: subject lets grantee use scope on the paths resource
-- matches. Times are unix nanoseconds; expires_ns and revoked_ns are NULL
-- when not set. ids sort by creation time (consent.NewID).
CREATE TABLE consents (
    id         TEXT    PRIMARY KEY,
    subject    TEXT    NOT NULL,
    grantee    TEXT    NOT NULL,
    scope      TEXT    NOT NULL,
    resource   TEXT    NOT NULL,
    created_ns INTEGER NOT NULL,
    expires_ns INTEGER,
    revoked_ns INTEGER
);
CREATE INDEX consents_subject ON consents (subject, id);
CREATE INDEX consents_grantee ON consents (grantee, id);
