-- expect: safe
CREATE TABLE IF NOT EXISTS notes (id bigint PRIMARY KEY, body text NOT NULL);
ALTER TABLE notes ADD COLUMN author text NOT NULL;
