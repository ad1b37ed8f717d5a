-- expect: vacuum-full
-- evidence: error cannot run inside a transaction block
VACUUM FULL items;
