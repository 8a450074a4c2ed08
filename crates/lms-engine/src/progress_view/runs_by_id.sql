-- The runs named ($1, uuid[]), as progress shows them.
SELECT id, status, error, created_at, finished_at, failed_chunk_id, entities, kind,
       request_id, chunk_size, on_conflict, hold_preview
FROM migration.runs
WHERE id = ANY($1)
