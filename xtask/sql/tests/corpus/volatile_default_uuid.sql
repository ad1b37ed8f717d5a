-- expect: volatile-default
-- evidence: rewrite items
ALTER TABLE items ADD COLUMN uid uuid DEFAULT gen_random_uuid();
