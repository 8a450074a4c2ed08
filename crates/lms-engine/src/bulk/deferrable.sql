-- What a bulk load of one LMS table ($1) drops and rebuilds: every index
-- but the primary key's (which other tables' keys reference), unique
-- constraints included, and its outgoing foreign keys, each with the
-- statement that restores it (and, for a key, the table it references).
SELECT i.relname::text AS name, 'index' AS kind, pg_get_indexdef(x.indexrelid) AS definition,
       NULL::text AS referenced_table
FROM pg_index x
JOIN pg_class i ON i.oid = x.indexrelid
WHERE x.indrelid = ('public.' || $1)::regclass
  AND NOT EXISTS (SELECT 1 FROM pg_constraint c WHERE c.conindid = x.indexrelid AND c.conrelid = x.indrelid)
UNION ALL
SELECT c.conname::text, 'unique',
       format('ALTER TABLE public.%I ADD CONSTRAINT %I %s', $1, c.conname, pg_get_constraintdef(c.oid)),
       NULL
FROM pg_constraint c
WHERE c.conrelid = ('public.' || $1)::regclass AND c.contype = 'u'
UNION ALL
SELECT c.conname::text, 'foreign_key',
       format('ALTER TABLE public.%I ADD CONSTRAINT %I %s', $1, c.conname, pg_get_constraintdef(c.oid)),
       (SELECT r.relname::text FROM pg_class r WHERE r.oid = c.confrelid)
FROM pg_constraint c
WHERE c.conrelid = ('public.' || $1)::regclass AND c.contype = 'f'
ORDER BY 2, 1;
