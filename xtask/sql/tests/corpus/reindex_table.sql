-- expect: reindex-not-concurrently
-- evidence: lock ShareLock orders
REINDEX TABLE orders;
