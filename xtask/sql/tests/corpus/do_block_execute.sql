-- expect: alter-column-type
-- evidence: rewrite orders
DO $do$
BEGIN
  EXECUTE 'ALTER TABLE orders ALTER COLUMN qty TYPE bigint';
END
$do$;
