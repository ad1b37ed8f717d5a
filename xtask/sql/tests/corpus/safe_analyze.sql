-- expect: safe
ANALYZE items;
