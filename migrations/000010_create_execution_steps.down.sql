-- Drop the execution_steps table.
DROP TABLE IF EXISTS execution_steps;
