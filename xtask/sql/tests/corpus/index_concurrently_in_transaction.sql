-- expect: needs-no-transaction
-- evidence: error cannot run inside a transaction block
CREATE INDEX CONCURRENTLY items_name_idx ON items (name);
