-- xtask:no-transaction
-- expect: vacuum-full
-- evidence: rewrite items
VACUUM FULL items;
