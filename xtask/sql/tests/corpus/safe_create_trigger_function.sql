-- expect: safe
CREATE OR REPLACE FUNCTION touch() RETURNS trigger LANGUAGE plpgsql AS $fn$
BEGIN
  NEW.created_at := now();
  UPDATE orders SET qty = qty WHERE id = -1;
  RETURN NEW;
END
$fn$;
