-- expect: alter-column-type
-- evidence: rewrite items
ALTER TABLE items ALTER COLUMN price TYPE numeric(12,4);
