-- expect: add-stored-generated
-- evidence: rewrite orders
ALTER TABLE orders ADD COLUMN double_qty int GENERATED ALWAYS AS (qty * 2) STORED;
