-- expect: add-serial-column
-- evidence: rewrite orders
ALTER TABLE orders ADD COLUMN seq bigserial;
