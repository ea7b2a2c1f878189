-- +goose Up
CREATE TABLE b (x int);
