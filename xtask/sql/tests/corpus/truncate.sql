-- expect: truncate
-- evidence: rewrite orders
-- evidence: breaks SELECT 1 / count(*) FROM orders
TRUNCATE orders;
