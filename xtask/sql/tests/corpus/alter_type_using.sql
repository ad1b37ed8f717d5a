-- expect: alter-column-type
-- evidence: rewrite items
ALTER TABLE items ALTER COLUMN price TYPE numeric(10,2) USING round(price, 2);
