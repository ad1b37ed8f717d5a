-- expect: drop-table
-- evidence: breaks SELECT count(*) FROM orders
DROP TABLE orders;
