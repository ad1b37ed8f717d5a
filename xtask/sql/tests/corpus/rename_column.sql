-- expect: rename-column
-- evidence: breaks SELECT name FROM items
ALTER TABLE items RENAME COLUMN name TO title;
