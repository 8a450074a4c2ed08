-- Foreign keys of the LMS that are NOT VALID (added but never checked).
SELECT format('%I.%I', n.nspname, t.relname) AS table_name, c.conname::text AS name
FROM pg_constraint c
JOIN pg_class t ON t.oid = c.conrelid
JOIN pg_namespace n ON n.oid = t.relnamespace
WHERE c.contype = 'f' AND NOT c.convalidated AND n.nspname IN ('public', 'migration')
ORDER BY 1, 2;
