-- setup: CREATE INDEX orders_item_idx ON orders (item_id);
-- expect: needs-no-transaction
-- evidence: error cannot run inside a transaction block
DROP INDEX CONCURRENTLY orders_item_idx;
