-- expect: safe
ALTER TABLE orders ADD COLUMN placed_at timestamptz DEFAULT CURRENT_TIMESTAMP;
