-- Create execution_attachments: managed files attached to an execution (optionally to one of its steps).
CREATE TABLE execution_attachments (
    id                bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    execution_id      bigint      NOT NULL REFERENCES executions (id) ON DELETE CASCADE,
    execution_step_id bigint,
    -- Deferred NO ACTION rather than RESTRICT: an attached file cannot be deleted on its
    -- own (checked at commit), but deleting a whole repository, which cascades both to
    -- the file and to the executions holding the attachment, still works.
    managed_file_id   bigint      NOT NULL REFERENCES managed_files (id)
                                  ON DELETE NO ACTION DEFERRABLE INITIALLY DEFERRED,
    kind              text        NOT NULL DEFAULT 'output',
    label             text        NOT NULL DEFAULT '',
    attached_by       bigint      REFERENCES users (id) ON DELETE SET NULL,
    created_at        timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT execution_attachments_kind_valid CHECK (kind IN ('input', 'output', 'log', 'evidence')),
    -- A step attachment must reference a step of the same execution.
    CONSTRAINT execution_attachments_step_fkey
        FOREIGN KEY (execution_id, execution_step_id)
        REFERENCES execution_steps (execution_id, id)
        ON DELETE CASCADE,
    CONSTRAINT execution_attachments_execution_file_key UNIQUE (execution_id, managed_file_id)
);

CREATE INDEX execution_attachments_step_idx ON execution_attachments (execution_step_id);
CREATE INDEX execution_attachments_managed_file_id_idx ON execution_attachments (managed_file_id);
