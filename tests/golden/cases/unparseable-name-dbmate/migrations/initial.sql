-- migrate:up
CREATE TABLE b (x int);
