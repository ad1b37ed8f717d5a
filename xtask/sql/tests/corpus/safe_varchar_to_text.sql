-- expect: safe
ALTER TABLE items ALTER COLUMN name TYPE text;
