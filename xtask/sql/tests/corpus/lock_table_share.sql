-- expect: lock-table
-- evidence: lock ShareLock orders
LOCK TABLE orders IN SHARE MODE;
