-- expect: drop-column
-- evidence: breaks SELECT qty FROM orders
ALTER TABLE ONLY orders DROP COLUMN qty;
