-- expect: safe
CREATE TABLE reviews (id bigint PRIMARY KEY, item_id bigint NOT NULL, body text);
CREATE INDEX reviews_item ON reviews (item_id);
