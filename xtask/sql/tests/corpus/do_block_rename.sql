-- expect: rename-column
-- evidence: breaks SELECT name FROM items
DO LANGUAGE plpgsql $$
BEGIN
  ALTER TABLE items RENAME COLUMN name TO title;
END $$;
