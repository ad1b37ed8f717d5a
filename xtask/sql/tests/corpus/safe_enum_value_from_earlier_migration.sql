-- setup: ALTER TYPE mood ADD VALUE 'meh';
-- expect: safe
ALTER TABLE items ADD COLUMN feeling mood DEFAULT 'meh';
