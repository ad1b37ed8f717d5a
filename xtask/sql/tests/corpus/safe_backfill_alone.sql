-- expect: safe
UPDATE items SET status = 'archived' WHERE id < 10;
