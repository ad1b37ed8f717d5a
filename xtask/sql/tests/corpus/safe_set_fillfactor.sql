-- expect: safe
ALTER TABLE items SET (fillfactor = 90);
