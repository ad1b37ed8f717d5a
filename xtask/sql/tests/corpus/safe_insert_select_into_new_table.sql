-- expect: safe
CREATE TABLE archived_orders (LIKE orders INCLUDING ALL);
INSERT INTO archived_orders SELECT * FROM orders WHERE qty > 100;
