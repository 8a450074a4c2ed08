DROP TABLE api.idempotency_keys;
DROP TABLE api.audit_events;
DROP SCHEMA api;
