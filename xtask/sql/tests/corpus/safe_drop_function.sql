-- expect: safe
DROP FUNCTION IF EXISTS nothing_here();
