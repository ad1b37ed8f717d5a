-- expect: backfill-with-ddl
-- evidence: scan items
UPDATE items SET status = 'archived' WHERE price < 10;
ALTER TABLE items ADD COLUMN note text;
