-- xtask:no-transaction
-- expect: safe
CREATE INDEX CONCURRENTLY IF NOT EXISTS items_status_idx ON items (status);
CREATE INDEX CONCURRENTLY IF NOT EXISTS orders_qty_idx ON orders (qty);
