-- expect: safe
CREATE TABLE big_orders AS SELECT * FROM orders WHERE qty > 1;
CREATE INDEX big_orders_item ON big_orders (item_id);
