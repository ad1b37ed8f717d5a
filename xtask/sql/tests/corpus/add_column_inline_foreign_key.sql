-- expect: constraint-not-valid
-- evidence: scan orders
ALTER TABLE orders ADD COLUMN parent_id bigint DEFAULT 1 REFERENCES items (id);
