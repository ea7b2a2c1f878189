-- Drop group_members and groups.
DROP TABLE IF EXISTS group_members;
DROP TABLE IF EXISTS groups;
