-- xtask:no-transaction
-- expect: safe
REINDEX INDEX CONCURRENTLY orders_pkey;
