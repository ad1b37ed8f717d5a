-- expect: add-serial-column
-- evidence: rewrite orders
ALTER TABLE orders ADD COLUMN n bigint GENERATED ALWAYS AS IDENTITY;
