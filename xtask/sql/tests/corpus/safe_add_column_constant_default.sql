-- expect: safe
ALTER TABLE items ADD COLUMN flagged boolean NOT NULL DEFAULT false;
