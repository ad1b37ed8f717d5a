-- expect: alter-column-type
-- evidence: rewrite items
ALTER TABLE items ALTER COLUMN name TYPE varchar(50);
