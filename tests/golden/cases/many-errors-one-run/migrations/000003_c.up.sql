CREATE TABLE c (x int);
VACUUM c;
