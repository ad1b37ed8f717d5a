-- setup: CREATE MATERIALIZED VIEW item_totals AS SELECT item_id, sum(qty) AS qty FROM orders GROUP BY item_id;
-- setup: CREATE UNIQUE INDEX item_totals_item ON item_totals (item_id);
-- expect: safe
REFRESH MATERIALIZED VIEW CONCURRENTLY item_totals;
