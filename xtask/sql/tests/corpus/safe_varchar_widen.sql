-- expect: safe
ALTER TABLE items ALTER COLUMN name TYPE varchar(255);
