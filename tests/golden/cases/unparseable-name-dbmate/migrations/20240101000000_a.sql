-- migrate:up
CREATE TABLE a (x int);
