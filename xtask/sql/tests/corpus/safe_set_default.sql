-- expect: safe
ALTER TABLE items ALTER COLUMN status SET DEFAULT 'active';
