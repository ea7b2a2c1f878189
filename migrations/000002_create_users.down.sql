-- Drop the users table.
DROP TABLE IF EXISTS users;
