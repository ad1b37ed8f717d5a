-- expect: constraint-not-valid
-- evidence: scan orders
ALTER TABLE orders ADD COLUMN discount int DEFAULT 0 CHECK (discount >= 0);
