-- expect: backfill-with-ddl
-- evidence: scan items
ALTER TABLE items ADD COLUMN sku text;
UPDATE items SET sku = 'sku-' || id;
