CREATE TABLE events (id bigint, at timestamptz);
CREATE INDEX CONCURRENTLY events_at ON events (at);
