-- expect: safe
ALTER TABLE orders ADD CONSTRAINT orders_item_fk
  FOREIGN KEY (item_id) REFERENCES items (id) NOT VALID;
