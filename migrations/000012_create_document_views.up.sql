-- Create document_views: the view history (who viewed which document, which version, when).
CREATE TABLE document_views (
    id                  bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    document_id         bigint      NOT NULL REFERENCES documents (id) ON DELETE CASCADE,
    document_version_id bigint      REFERENCES document_versions (id) ON DELETE SET NULL,
    user_id             bigint      REFERENCES users (id) ON DELETE SET NULL,
    viewed_at           timestamptz NOT NULL DEFAULT now(),
    duration_ms         integer,
    client_ip           inet,
    user_agent          text        NOT NULL DEFAULT '',
    CONSTRAINT document_views_duration_non_negative CHECK (duration_ms IS NULL OR duration_ms >= 0)
);

CREATE INDEX document_views_document_user_idx ON document_views (document_id, user_id);
CREATE INDEX document_views_user_id_idx ON document_views (user_id, viewed_at DESC);
CREATE INDEX document_views_document_version_id_idx ON document_views (document_version_id);
