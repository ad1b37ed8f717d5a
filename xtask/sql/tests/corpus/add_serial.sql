-- expect: add-serial-column
-- evidence: rewrite items
ALTER TABLE items ADD COLUMN seq serial;
