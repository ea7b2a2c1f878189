-- Remove documents.current_version_id and its foreign key.
DROP INDEX IF EXISTS documents_current_version_id_idx;
ALTER TABLE documents DROP CONSTRAINT IF EXISTS documents_current_version_fkey;
ALTER TABLE documents DROP COLUMN IF EXISTS current_version_id;
