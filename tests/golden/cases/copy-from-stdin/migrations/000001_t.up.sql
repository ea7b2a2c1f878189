CREATE TABLE t (a int, b text);
COPY t (a, b) FROM stdin;
1	it's
2	fine
\.
CREATE INDEX t_a ON t (a);
