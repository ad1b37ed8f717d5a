-- expect: create-index-not-concurrently
-- evidence: lock ShareLock items
DO $$
BEGIN
  IF NOT EXISTS (SELECT 1 FROM pg_indexes WHERE indexname = 'items_status_idx') THEN
    CREATE INDEX items_status_idx ON items (status);
  END IF;
END
$$;
