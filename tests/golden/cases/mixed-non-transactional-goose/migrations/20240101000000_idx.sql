-- +goose Up
CREATE TABLE e (a int);
CREATE INDEX CONCURRENTLY e_a ON e (a);
-- +goose Down
DROP TABLE e;
