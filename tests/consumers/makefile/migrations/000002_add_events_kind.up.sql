ALTER TABLE events ADD COLUMN kind text NOT NULL DEFAULT 'unknown';
