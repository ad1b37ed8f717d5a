-- expect: unique-not-using-index
-- evidence: scan orders
ALTER TABLE orders ADD CONSTRAINT orders_one_per_item EXCLUDE USING btree (item_id WITH =);
