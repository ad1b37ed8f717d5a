-- expect: alter-column-type
-- evidence: rewrite orders
ALTER TABLE orders ALTER COLUMN qty TYPE bigint;
