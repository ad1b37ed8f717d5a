-- xtask:no-transaction
-- expect: safe
CREATE INDEX CONCURRENTLY items_name_idx ON items (name);
