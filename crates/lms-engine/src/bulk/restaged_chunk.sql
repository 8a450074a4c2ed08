-- A stage chunk's range staged again (before its table's resolve): its rows
-- and their fingerprint are the ones staged now.
UPDATE migration.chunks
SET stats = stats || jsonb_build_object('rows', $2::bigint, 'fingerprint', $3::text)
WHERE id = $1
