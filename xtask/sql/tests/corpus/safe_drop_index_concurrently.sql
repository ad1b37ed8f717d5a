-- xtask:no-transaction
-- setup: CREATE INDEX orders_item_idx ON orders (item_id);
-- expect: safe
DROP INDEX CONCURRENTLY orders_item_idx;
