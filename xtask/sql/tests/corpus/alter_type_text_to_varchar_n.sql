-- expect: alter-column-type
-- evidence: rewrite items
ALTER TABLE items ALTER COLUMN status TYPE varchar(20);
