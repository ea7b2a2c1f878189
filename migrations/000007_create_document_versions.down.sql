-- Drop the document_versions table (its GIN indexes go with it).
DROP TABLE IF EXISTS document_versions;
