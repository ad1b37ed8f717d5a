-- expect: create-index-not-concurrently
-- evidence: lock ShareLock items
CREATE UNIQUE INDEX items_name_uq ON items (name);
