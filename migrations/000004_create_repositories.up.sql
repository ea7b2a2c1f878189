-- Create the repositories table (containers for managed files and documents).
CREATE TABLE repositories (
    id             bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    slug           text        NOT NULL,
    name           text        NOT NULL,
    description    text        NOT NULL DEFAULT '',
    visibility     text        NOT NULL DEFAULT 'private',
    owner_group_id bigint      REFERENCES groups (id) ON DELETE SET NULL,
    created_by     bigint      NOT NULL REFERENCES users (id) ON DELETE RESTRICT,
    quota_bytes    bigint,
    archived_at    timestamptz,
    created_at     timestamptz NOT NULL DEFAULT now(),
    updated_at     timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT repositories_slug_format CHECK (slug ~ '^[a-z0-9][a-z0-9-]{0,62}$'),
    CONSTRAINT repositories_name_not_empty CHECK (btrim(name) <> ''),
    CONSTRAINT repositories_visibility_valid CHECK (visibility IN ('private', 'internal', 'public')),
    CONSTRAINT repositories_quota_positive CHECK (quota_bytes IS NULL OR quota_bytes > 0),
    CONSTRAINT repositories_slug_key UNIQUE (slug)
);

CREATE INDEX repositories_owner_group_id_idx ON repositories (owner_group_id);
CREATE INDEX repositories_created_by_idx ON repositories (created_by);

CREATE TRIGGER repositories_set_updated_at
    BEFORE UPDATE ON repositories
    FOR EACH ROW EXECUTE FUNCTION set_updated_at();
