-- Drop the view-statistics trigger and function, document_viewers and document_view_stats.
DROP TRIGGER IF EXISTS document_views_update_stats ON document_views;
DROP FUNCTION IF EXISTS document_views_update_stats();
DROP TABLE IF EXISTS document_viewers;
DROP TABLE IF EXISTS document_view_stats;
