-- expect: cluster
-- evidence: rewrite items
CLUSTER items USING items_pkey;
