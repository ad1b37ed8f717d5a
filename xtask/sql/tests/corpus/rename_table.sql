-- expect: rename-table
-- evidence: breaks SELECT * FROM orders
ALTER TABLE orders RENAME TO purchases;
