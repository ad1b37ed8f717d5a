-- expect: constraint-not-valid
-- evidence: scan orders
ALTER TABLE orders ADD CONSTRAINT orders_item_fk
  FOREIGN KEY (item_id) REFERENCES items (id);
