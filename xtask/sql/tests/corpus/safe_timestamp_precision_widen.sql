-- setup: ALTER TABLE orders ADD COLUMN placed_at timestamp(3);
-- expect: safe
ALTER TABLE orders ALTER COLUMN placed_at TYPE timestamp(6);
