-- expect: drop-column
-- evidence: breaks SELECT legacy FROM items
DO $$
BEGIN
  ALTER TABLE items DROP COLUMN legacy;
END
$$;
