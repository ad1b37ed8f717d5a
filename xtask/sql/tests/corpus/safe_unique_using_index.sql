-- setup: CREATE UNIQUE INDEX CONCURRENTLY items_name_uq ON items (name);
-- expect: safe
ALTER TABLE items ADD CONSTRAINT items_name_key UNIQUE USING INDEX items_name_uq;
