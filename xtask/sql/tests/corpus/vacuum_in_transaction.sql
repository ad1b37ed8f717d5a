-- expect: needs-no-transaction
-- evidence: error cannot run inside a transaction block
VACUUM items;
