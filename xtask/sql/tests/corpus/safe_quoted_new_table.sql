-- expect: safe
CREATE TABLE "Audit" (id int);
CREATE INDEX audit_id ON "Audit" (id);
