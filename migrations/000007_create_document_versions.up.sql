-- Create document_versions with JSONB variables and text[] tags, both GIN-indexed.
CREATE TABLE document_versions (
    id             bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    document_id    bigint      NOT NULL REFERENCES documents (id) ON DELETE CASCADE,
    version_number integer     NOT NULL,
    content        text        NOT NULL DEFAULT '',
    source_file_id bigint      REFERENCES managed_files (id) ON DELETE SET NULL,
    variables      jsonb       NOT NULL DEFAULT '{}'::jsonb,
    tags           text[]      NOT NULL DEFAULT '{}'::text[],
    change_summary text        NOT NULL DEFAULT '',
    created_by     bigint      NOT NULL REFERENCES users (id) ON DELETE RESTRICT,
    created_at     timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT document_versions_version_positive CHECK (version_number > 0),
    CONSTRAINT document_versions_variables_object CHECK (jsonb_typeof(variables) = 'object'),
    CONSTRAINT document_versions_tags_no_nulls CHECK (array_position(tags, NULL) IS NULL),
    CONSTRAINT document_versions_document_version_key UNIQUE (document_id, version_number),
    -- Target of the composite foreign key documents (id, current_version_id).
    CONSTRAINT document_versions_document_id_id_key UNIQUE (document_id, id)
);

CREATE INDEX document_versions_variables_gin ON document_versions USING gin (variables jsonb_path_ops);
CREATE INDEX document_versions_tags_gin ON document_versions USING gin (tags);
CREATE INDEX document_versions_source_file_id_idx ON document_versions (source_file_id);
CREATE INDEX document_versions_created_by_idx ON document_versions (created_by);
