-- expect: lock-table
-- evidence: lock AccessExclusiveLock items
LOCK TABLE items IN ACCESS EXCLUSIVE MODE;
UPDATE items SET status = 'checked' WHERE id = 1;
