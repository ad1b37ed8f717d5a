-- expect: safe
ALTER TABLE items ADD COLUMN slug text DEFAULT lower('X');
