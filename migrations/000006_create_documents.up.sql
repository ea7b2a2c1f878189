-- Create the documents table (the current-version pointer is added in a later migration).
CREATE TABLE documents (
    id            bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    repository_id bigint      NOT NULL REFERENCES repositories (id) ON DELETE CASCADE,
    slug          text        NOT NULL,
    title         text        NOT NULL,
    description   text        NOT NULL DEFAULT '',
    status        text        NOT NULL DEFAULT 'draft',
    created_by    bigint      NOT NULL REFERENCES users (id) ON DELETE RESTRICT,
    published_at  timestamptz,
    archived_at   timestamptz,
    created_at    timestamptz NOT NULL DEFAULT now(),
    updated_at    timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT documents_slug_format CHECK (slug ~ '^[a-z0-9][a-z0-9-]{0,127}$'),
    CONSTRAINT documents_title_not_empty CHECK (btrim(title) <> ''),
    CONSTRAINT documents_status_valid CHECK (status IN ('draft', 'published', 'archived')),
    CONSTRAINT documents_published_has_date CHECK (status <> 'published' OR published_at IS NOT NULL),
    CONSTRAINT documents_repository_slug_key UNIQUE (repository_id, slug)
);

CREATE INDEX documents_created_by_idx ON documents (created_by);
CREATE INDEX documents_status_idx ON documents (repository_id, status);

CREATE TRIGGER documents_set_updated_at
    BEFORE UPDATE ON documents
    FOR EACH ROW EXECUTE FUNCTION set_updated_at();
