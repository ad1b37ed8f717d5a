-- expect: create-index-not-concurrently
-- evidence: lock ShareLock orders
CREATE INDEX orders_big ON orders (qty)
  WHERE qty > 10;
