-- setup: ALTER TABLE items ADD CONSTRAINT items_name_nn CHECK (name IS NOT NULL) NOT VALID;
-- setup: ALTER TABLE items VALIDATE CONSTRAINT items_name_nn;
-- expect: safe
ALTER TABLE items ALTER COLUMN name SET NOT NULL;
ALTER TABLE items DROP CONSTRAINT items_name_nn;
