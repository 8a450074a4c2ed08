-- The single-column foreign keys that reference the tables in $1: a row the
-- undo removes must not be referenced by a row it leaves.
SELECT k.conrelid::regclass::text AS referencing_table,
       a.attname::text AS referencing_column,
       k.confrelid::regclass::text AS referenced_table
FROM pg_constraint k
JOIN pg_attribute a ON a.attrelid = k.conrelid AND a.attnum = k.conkey[1]
WHERE k.contype = 'f' AND cardinality(k.conkey) = 1
  AND k.confrelid::regclass::text = ANY($1)
ORDER BY 1, 2
