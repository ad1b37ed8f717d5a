-- setup: CREATE TABLE tags (name text NOT NULL);
-- setup: INSERT INTO tags SELECT 'tag' || g FROM generate_series(1, 2000) g;
-- expect: unique-not-using-index
-- evidence: scan tags
ALTER TABLE tags ADD PRIMARY KEY (name);
