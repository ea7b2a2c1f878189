-- Drop the documents table.
DROP TABLE IF EXISTS documents;
