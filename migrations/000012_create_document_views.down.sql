-- Drop the document_views table.
DROP TABLE IF EXISTS document_views;
