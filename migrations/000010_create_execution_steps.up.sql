-- Create execution_steps: the ordered steps of an execution.
CREATE TABLE execution_steps (
    id           bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    execution_id bigint      NOT NULL REFERENCES executions (id) ON DELETE CASCADE,
    step_index   integer     NOT NULL,
    name         text        NOT NULL,
    status       text        NOT NULL DEFAULT 'pending',
    output       text        NOT NULL DEFAULT '',
    started_at   timestamptz,
    finished_at  timestamptz,
    created_at   timestamptz NOT NULL DEFAULT now(),
    updated_at   timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT execution_steps_step_index_non_negative CHECK (step_index >= 0),
    CONSTRAINT execution_steps_name_not_empty CHECK (btrim(name) <> ''),
    CONSTRAINT execution_steps_status_valid CHECK (
        status IN ('pending', 'running', 'succeeded', 'failed', 'skipped')
    ),
    CONSTRAINT execution_steps_finished_after_started CHECK (
        finished_at IS NULL OR (started_at IS NOT NULL AND finished_at >= started_at)
    ),
    CONSTRAINT execution_steps_execution_step_key UNIQUE (execution_id, step_index),
    -- Target of the composite foreign key from execution_attachments.
    CONSTRAINT execution_steps_execution_id_id_key UNIQUE (execution_id, id)
);

CREATE TRIGGER execution_steps_set_updated_at
    BEFORE UPDATE ON execution_steps
    FOR EACH ROW EXECUTE FUNCTION set_updated_at();
