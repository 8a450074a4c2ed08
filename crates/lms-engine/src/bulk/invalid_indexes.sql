-- Indexes of the LMS that are invalid (a build that died halfway).
SELECT i.relname::text AS name, format('%I.%I', n.nspname, i.relname) AS qualified
FROM pg_index x
JOIN pg_class i ON i.oid = x.indexrelid
JOIN pg_namespace n ON n.oid = i.relnamespace
WHERE NOT x.indisvalid AND n.nspname IN ('public', 'migration')
ORDER BY 2;
