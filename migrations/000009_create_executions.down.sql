-- Drop the executions table.
DROP TABLE IF EXISTS executions;
