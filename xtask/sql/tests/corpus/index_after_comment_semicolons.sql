-- expect: create-index-not-concurrently
-- evidence: lock ShareLock orders
-- a comment; with semicolons; CREATE TABLE nothing (id int);
/* DROP TABLE items; */
CREATE INDEX orders_qty ON orders (qty);
