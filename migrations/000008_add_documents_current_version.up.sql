-- Add documents.current_version_id, pointing at one of the document's own versions (circular reference).
ALTER TABLE documents
    ADD COLUMN current_version_id bigint;

-- The composite key guarantees the current version belongs to this document.
-- Deleting that version only clears current_version_id (PostgreSQL 15 column-list SET NULL).
ALTER TABLE documents
    ADD CONSTRAINT documents_current_version_fkey
    FOREIGN KEY (id, current_version_id)
    REFERENCES document_versions (document_id, id)
    ON DELETE SET NULL (current_version_id);

CREATE INDEX documents_current_version_id_idx ON documents (current_version_id);
