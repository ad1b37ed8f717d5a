-- expect: safe
CREATE TABLE carts (
  id bigserial PRIMARY KEY,
  item_id bigint REFERENCES items (id),
  token uuid DEFAULT gen_random_uuid() UNIQUE
);
