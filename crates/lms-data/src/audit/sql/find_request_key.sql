SELECT body_sha256, response
FROM api.idempotency_keys
WHERE actor = $1 AND method = $2 AND request_id = $3
