-- expect: safe
CREATE VIEW active_items AS SELECT id, name FROM items WHERE status = 'active';
