-- expect: drop-table
-- evidence: breaks SELECT count(*) FROM orders
DROP TABLE IF EXISTS orders CASCADE;
