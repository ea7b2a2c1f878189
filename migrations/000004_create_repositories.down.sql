-- Drop the repositories table.
DROP TABLE IF EXISTS repositories;
