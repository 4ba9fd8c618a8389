-- endpoints_order was a second unique index beside the primary key. id is
-- derived from (host, method, path), so it never added a constraint, but
-- on PostgreSQL two replicas inserting the same new endpoint at once could
-- trip it instead of the ON CONFLICT (id) arbiter and fail the upsert.
-- It stays, as a plain index, for listing in (host, path, method) order.
DROP INDEX endpoints_order;
CREATE INDEX endpoints_order ON endpoints (host, path, method);
