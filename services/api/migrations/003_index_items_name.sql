-- xtask:no-transaction
-- The item list is looked up by name: build its index without blocking writes to items.
CREATE INDEX CONCURRENTLY IF NOT EXISTS items_name_idx ON items (name);
