-- expect: safe
CREATE FUNCTION purge_old() RETURNS void LANGUAGE plpgsql AS $$
BEGIN
  DELETE FROM orders WHERE qty = 0;
  DROP TABLE IF EXISTS tmp_orders;
END
$$;
