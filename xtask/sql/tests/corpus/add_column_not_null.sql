-- expect: add-column-not-null
-- evidence: error contains null values
ALTER TABLE items ADD COLUMN sku text NOT NULL;
