-- expect: unique-not-using-index
-- evidence: scan items
ALTER TABLE items ADD CONSTRAINT items_name_key UNIQUE (name);
