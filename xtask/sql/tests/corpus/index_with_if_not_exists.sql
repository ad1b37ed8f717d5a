-- expect: create-index-not-concurrently
-- evidence: lock ShareLock orders
CREATE INDEX IF NOT EXISTS orders_item_idx ON orders USING btree (item_id);
