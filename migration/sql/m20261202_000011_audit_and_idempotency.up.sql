-- The API's own bookkeeping, apart from the domain (public) and the
-- migration's (migration): who wrote what through the API, and the
-- request ids of creates that clients may retry (AIP-155).
CREATE SCHEMA api;

-- One row per write call of lms.v1 (Create, Update, Delete) and per
-- migration-control call (StartRun, CancelRun, RetryRejected, ...). A
-- domain write's row with code 0 (OK) is inserted in the write's own
-- transaction, so it exists if and only if the write committed; a call that
-- failed is recorded afterwards with its code. Kept indefinitely.
CREATE TABLE api.audit_events (
    id         bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    at         timestamptz NOT NULL DEFAULT clock_timestamp(),
    -- The name of the caller's token (auth.tokens[].name).
    actor      text NOT NULL,
    -- The gRPC path, e.g. /lms.v1.StudentService/CreateStudent.
    method     text NOT NULL,
    -- The resource written, e.g. students/12 or runs/<uuid>; NULL when a
    -- call failed before naming one.
    resource   text,
    -- The google.rpc.Code of the call's outcome (0 is OK).
    code       smallint NOT NULL CHECK (code BETWEEN 0 AND 16),
    -- The AIP-155 request id the call carried, if any.
    request_id text
);
CREATE INDEX audit_events_method ON api.audit_events (method, id);
CREATE INDEX audit_events_resource ON api.audit_events (resource, id);
CREATE INDEX audit_events_at ON api.audit_events (at);

-- The request ids of creates, scoped to the caller's token and the method.
-- The row is inserted first in the create's transaction (a concurrent twin
-- waits on the primary key until it commits or rolls back) and holds the
-- first response, written in that same transaction. Rows older than the
-- retention (24 hours) are purged by the server.
CREATE TABLE api.idempotency_keys (
    actor       text NOT NULL,
    method      text NOT NULL,
    request_id  text NOT NULL,
    -- SHA-256 of the request without its request_id.
    body_sha256 bytea NOT NULL CHECK (length(body_sha256) = 32),
    -- The resource created and the encoded response; NULL only inside the
    -- creating transaction, before the create has stored them.
    resource    text,
    response    bytea,
    created_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (actor, method, request_id)
);
CREATE INDEX idempotency_keys_created_at ON api.idempotency_keys (created_at);
