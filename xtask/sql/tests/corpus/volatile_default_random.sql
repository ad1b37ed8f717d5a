-- expect: volatile-default
-- evidence: rewrite orders
ALTER TABLE orders ADD COLUMN r double precision DEFAULT random();
