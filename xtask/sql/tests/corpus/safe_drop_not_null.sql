-- setup: ALTER TABLE orders ALTER COLUMN qty SET NOT NULL;
-- expect: safe
ALTER TABLE orders ALTER COLUMN qty DROP NOT NULL;
