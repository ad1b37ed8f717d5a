-- expect: safe
INSERT INTO items (id, name, price, status) VALUES (100001, 'new; item', 1, 'active');
