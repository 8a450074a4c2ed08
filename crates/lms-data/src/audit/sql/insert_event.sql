INSERT INTO api.audit_events (actor, method, resource, code, request_id)
VALUES ($1, $2, $3, $4, $5)
