-- expect: set-not-null
-- evidence: scan items
ALTER TABLE items ALTER COLUMN name SET NOT NULL;
