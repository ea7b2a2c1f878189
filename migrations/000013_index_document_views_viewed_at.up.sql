-- Index view history by time without locking writes (runs outside a transaction).
CREATE INDEX CONCURRENTLY document_views_viewed_at_idx ON document_views (viewed_at);
