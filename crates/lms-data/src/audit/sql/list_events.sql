-- Newest first; the page token is the last id seen.
SELECT id, at, actor, method, resource, code, request_id
FROM api.audit_events
WHERE ($1::bigint IS NULL OR id < $1)
  AND ($2::text IS NULL OR actor = $2)
  AND ($3::text IS NULL OR method = $3)
  AND ($4::text IS NULL OR resource = $4)
  AND ($5::timestamptz IS NULL OR at >= $5)
  AND ($6::timestamptz IS NULL OR at < $6)
ORDER BY id DESC
LIMIT $7
