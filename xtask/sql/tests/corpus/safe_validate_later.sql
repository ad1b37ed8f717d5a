-- setup: ALTER TABLE orders ADD CONSTRAINT orders_item_fk FOREIGN KEY (item_id) REFERENCES items (id) NOT VALID;
-- expect: safe
ALTER TABLE orders VALIDATE CONSTRAINT orders_item_fk;
