-- expect: create-index-not-concurrently
-- evidence: lock ShareLock items
CREATE INDEX items_name_idx ON items (name);
