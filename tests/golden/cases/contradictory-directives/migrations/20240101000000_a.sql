-- migc:no-transaction
-- migrate:up transaction:true
CREATE TABLE a (x int);
-- migrate:down
DROP TABLE a;
