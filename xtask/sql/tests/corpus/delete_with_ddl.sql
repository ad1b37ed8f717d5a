-- expect: backfill-with-ddl
-- evidence: scan orders
ALTER TABLE orders ADD COLUMN note text;
DELETE FROM orders WHERE qty > 5;
