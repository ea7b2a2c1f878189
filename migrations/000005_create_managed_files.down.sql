-- Drop the managed_files table.
DROP TABLE IF EXISTS managed_files;
