-- Create managed_files: files stored in a repository, with size, SHA-256 checksum and MIME type.
CREATE TABLE managed_files (
    id            bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    repository_id bigint      NOT NULL REFERENCES repositories (id) ON DELETE CASCADE,
    path          text        NOT NULL,
    size_bytes    bigint      NOT NULL,
    sha256        bytea       NOT NULL,
    mime_type     text        NOT NULL DEFAULT 'application/octet-stream',
    storage_key   text        NOT NULL,
    uploaded_by   bigint      REFERENCES users (id) ON DELETE SET NULL,
    deleted_at    timestamptz,
    created_at    timestamptz NOT NULL DEFAULT now(),
    updated_at    timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT managed_files_path_valid CHECK (
        btrim(path) <> '' AND left(path, 1) <> '/' AND length(path) <= 4096
    ),
    CONSTRAINT managed_files_size_non_negative CHECK (size_bytes >= 0),
    CONSTRAINT managed_files_sha256_length CHECK (octet_length(sha256) = 32),
    CONSTRAINT managed_files_mime_type_format CHECK (mime_type ~ '^[a-z]+/[A-Za-z0-9.+_-]+$'),
    CONSTRAINT managed_files_storage_key_not_empty CHECK (storage_key <> ''),
    CONSTRAINT managed_files_repository_path_key UNIQUE (repository_id, path),
    CONSTRAINT managed_files_storage_key_key UNIQUE (storage_key)
);

-- Deduplication / integrity lookups by content hash.
CREATE INDEX managed_files_sha256_idx ON managed_files (sha256);
CREATE INDEX managed_files_uploaded_by_idx ON managed_files (uploaded_by);

CREATE TRIGGER managed_files_set_updated_at
    BEFORE UPDATE ON managed_files
    FOR EACH ROW EXECUTE FUNCTION set_updated_at();
