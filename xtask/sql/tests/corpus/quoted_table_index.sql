-- setup: CREATE TABLE "Events" (id int, kind text);
-- setup: INSERT INTO "Events" SELECT g, 'k' FROM generate_series(1, 500) g;
-- expect: create-index-not-concurrently
-- evidence: lock ShareLock Events
CREATE TABLE "X" (id int);
CREATE INDEX events_kind ON "Events" (kind);
