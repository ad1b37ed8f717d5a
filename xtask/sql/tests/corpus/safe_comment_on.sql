-- expect: safe
COMMENT ON TABLE items IS 'things we sell; DROP TABLE items; -- not code';
