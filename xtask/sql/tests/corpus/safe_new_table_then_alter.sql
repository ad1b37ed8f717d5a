-- expect: safe
CREATE TABLE wishlist (id int);
ALTER TABLE wishlist ADD COLUMN item_id bigint NOT NULL;
CREATE INDEX wishlist_item ON wishlist (item_id);
ALTER TABLE wishlist ADD CONSTRAINT wishlist_pk PRIMARY KEY (id);
ALTER TABLE wishlist ALTER COLUMN item_id TYPE numeric;
