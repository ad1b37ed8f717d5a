-- expect: volatile-default
-- evidence: rewrite items
ALTER TABLE items ADD COLUMN seen_at timestamptz DEFAULT clock_timestamp();
