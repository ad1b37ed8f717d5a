-- setup: ALTER TABLE items ADD CONSTRAINT items_name_nn CHECK (name IS NOT NULL) NOT VALID;
-- expect: set-not-null
-- evidence: scan items
ALTER TABLE items ALTER COLUMN name SET NOT NULL;
