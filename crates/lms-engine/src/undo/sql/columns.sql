-- The columns of table $1 an undo sets back: all but identity and
-- generated columns, in the table's order.
SELECT a.attname::text AS name
FROM pg_attribute a
WHERE a.attrelid = $1::regclass AND a.attnum > 0 AND NOT a.attisdropped
  AND a.attidentity = '' AND a.attgenerated = ''
ORDER BY a.attnum
