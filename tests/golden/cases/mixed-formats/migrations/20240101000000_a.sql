-- +goose Up
CREATE TABLE a (x int);
