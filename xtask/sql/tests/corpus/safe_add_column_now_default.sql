-- expect: safe
ALTER TABLE items ADD COLUMN updated_at timestamptz NOT NULL DEFAULT now();
