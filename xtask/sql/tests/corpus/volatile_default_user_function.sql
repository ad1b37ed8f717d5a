-- setup: CREATE FUNCTION next_code() RETURNS int LANGUAGE plpgsql AS $$ BEGIN RETURN 7; END $$;
-- expect: volatile-default
-- evidence: rewrite orders
ALTER TABLE orders ADD COLUMN code int DEFAULT next_code();
