-- expect: set-not-null
-- evidence: scan orders
ALTER TABLE orders
  ADD COLUMN note text,
  ALTER COLUMN qty SET NOT NULL;
