-- setup: CREATE MATERIALIZED VIEW item_totals AS SELECT item_id, sum(qty) AS qty FROM orders GROUP BY item_id;
-- expect: refresh-not-concurrently
-- evidence: lock AccessExclusiveLock item_totals
REFRESH MATERIALIZED VIEW item_totals;
