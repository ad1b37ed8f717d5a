-- expect: alter-column-type
-- evidence: rewrite orders
ALTER TABLE orders ALTER COLUMN item_id TYPE integer;
