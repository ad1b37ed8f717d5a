-- expect: drop-column
-- evidence: breaks SELECT legacy FROM items
ALTER TABLE IF EXISTS items DROP COLUMN IF EXISTS legacy CASCADE;
