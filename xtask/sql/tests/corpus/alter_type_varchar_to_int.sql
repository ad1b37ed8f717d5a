-- setup: ALTER TABLE orders ADD COLUMN code varchar(10);
-- setup: UPDATE orders SET code = '7';
-- expect: alter-column-type
-- evidence: rewrite orders
ALTER TABLE orders ALTER COLUMN code TYPE integer USING code::integer;
