-- expect: volatile-default
-- evidence: rewrite items
ALTER TABLE items ADD COLUMN token uuid NOT NULL DEFAULT gen_random_uuid();
