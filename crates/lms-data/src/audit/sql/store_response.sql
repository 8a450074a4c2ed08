UPDATE api.idempotency_keys
SET resource = $4, response = $5
WHERE actor = $1 AND method = $2 AND request_id = $3
