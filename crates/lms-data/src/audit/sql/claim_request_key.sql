-- A twin inserting the same key waits here until the first transaction
-- ends: then it finds the row (committed) or inserts its own (rolled back).
INSERT INTO api.idempotency_keys (actor, method, request_id, body_sha256)
VALUES ($1, $2, $3, $4)
ON CONFLICT (actor, method, request_id) DO NOTHING
RETURNING true AS claimed
