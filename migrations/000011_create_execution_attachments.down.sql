-- Drop the execution_attachments table.
DROP TABLE IF EXISTS execution_attachments;
