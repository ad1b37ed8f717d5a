-- expect: enum-value-used
-- evidence: error unsafe use of new value
ALTER TYPE mood ADD VALUE 'angry';
SELECT 'angry'::mood;
