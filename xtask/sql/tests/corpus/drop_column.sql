-- expect: drop-column
-- evidence: breaks SELECT legacy FROM items
ALTER TABLE items DROP COLUMN legacy;
