-- setup: ALTER TABLE items ADD COLUMN feeling mood;
-- expect: enum-value-used
-- evidence: error unsafe use of new value
ALTER TYPE mood ADD VALUE 'meh';
UPDATE items SET feeling = 'meh' WHERE id = 1;
