CREATE TABLE d (x int);
