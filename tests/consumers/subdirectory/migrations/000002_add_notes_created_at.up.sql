ALTER TABLE notes ADD COLUMN created_at timestamptz NOT NULL DEFAULT now();
CREATE INDEX notes_created_at_idx ON notes (created_at);
