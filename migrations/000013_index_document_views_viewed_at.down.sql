-- Drop the view-history time index without locking writes (runs outside a transaction).
DROP INDEX CONCURRENTLY IF EXISTS document_views_viewed_at_idx;
