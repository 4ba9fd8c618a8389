-- Consent grants: subject lets grantee use scope on the paths resource
-- matches. Times are unix nanoseconds; expires_ns and revoked_ns are NULL
-- when not set. ids sort by creation time (consent.NewID).
CREATE TABLE consents (
    id         TEXT COLLATE "C" PRIMARY KEY,
    subject    TEXT COLLATE "C" NOT NULL,
    grantee    TEXT COLLATE "C" NOT NULL,
    scope      TEXT COLLATE "C" NOT NULL,
    resource   TEXT COLLATE "C" NOT NULL,
    created_ns BIGINT NOT NULL,
    expires_ns BIGINT,
    revoked_ns BIGINT
);
CREATE INDEX consents_subject ON consents (subject, id);
CREATE INDEX consents_grantee ON consents (grantee, id);
