-- expect: transaction-control
-- evidence: escapes
CREATE TABLE audit (id int);
COMMIT;
CREATE TABLE audit_two (id int);
