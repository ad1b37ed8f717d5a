-- setup: CREATE SEQUENCE item_numbers;
-- expect: volatile-default
-- evidence: rewrite items
ALTER TABLE items ADD COLUMN n bigint DEFAULT nextval('item_numbers');
