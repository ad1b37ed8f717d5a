-- expect: transaction-control
-- evidence: escapes
BEGIN;
ALTER TABLE items ADD COLUMN note text;
COMMIT;
