-- expect: safe
ALTER INDEX items_pkey RENAME TO items_pk;
