-- expect: table-rewrite
-- evidence: rewrite orders
ALTER TABLE orders SET UNLOGGED;
