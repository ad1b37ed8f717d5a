-- setup: CREATE INDEX orders_item_idx ON orders (item_id);
-- expect: drop-index-not-concurrently
-- evidence: lock AccessExclusiveLock orders
DROP INDEX orders_item_idx;
