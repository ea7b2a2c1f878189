-- migrate:up
CREATE TABLE c (x int);
-- migrate:up
CREATE TABLE c2 (x int);
