-- Create executions: a run of a document version by a user.
CREATE TABLE executions (
    id                  bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    document_version_id bigint      NOT NULL REFERENCES document_versions (id) ON DELETE CASCADE,
    executed_by         bigint      REFERENCES users (id) ON DELETE SET NULL,
    status              text        NOT NULL DEFAULT 'pending',
    parameters          jsonb       NOT NULL DEFAULT '{}'::jsonb,
    error_message       text,
    started_at          timestamptz,
    finished_at         timestamptz,
    created_at          timestamptz NOT NULL DEFAULT now(),
    updated_at          timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT executions_status_valid CHECK (
        status IN ('pending', 'running', 'succeeded', 'failed', 'cancelled')
    ),
    CONSTRAINT executions_parameters_object CHECK (jsonb_typeof(parameters) = 'object'),
    CONSTRAINT executions_finished_after_started CHECK (
        finished_at IS NULL OR (started_at IS NOT NULL AND finished_at >= started_at)
    ),
    CONSTRAINT executions_terminal_has_finish CHECK (
        status NOT IN ('succeeded', 'failed') OR finished_at IS NOT NULL
    )
);

CREATE INDEX executions_document_version_id_idx ON executions (document_version_id);
CREATE INDEX executions_executed_by_idx ON executions (executed_by, created_at DESC);
-- Workers poll for unfinished executions.
CREATE INDEX executions_active_idx ON executions (created_at) WHERE status IN ('pending', 'running');

CREATE TRIGGER executions_set_updated_at
    BEFORE UPDATE ON executions
    FOR EACH ROW EXECUTE FUNCTION set_updated_at();
