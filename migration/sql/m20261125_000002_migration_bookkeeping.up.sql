-- The migration engine's own state, kept apart from the domain in schema
-- "migration": runs, their plan (steps and chunks), and the ledger that
-- records one outcome per legacy row.

CREATE SCHEMA migration;

CREATE TABLE migration.runs (
    id             uuid PRIMARY KEY,
    -- A client's idempotency key: starting a run twice with one key gives one run.
    request_id     text UNIQUE,
    kind           text NOT NULL DEFAULT 'full' CHECK (kind IN ('full', 'retry_rejected')),
    status         text NOT NULL
                   CHECK (status IN ('running', 'succeeded', 'failed', 'cancelling', 'cancelled')),
    entities       text[] NOT NULL,
    chunk_size     integer NOT NULL CHECK (chunk_size > 0),
    dry_run        boolean NOT NULL DEFAULT false,
    created_at     timestamptz NOT NULL DEFAULT now(),
    finished_at    timestamptz,
    error          text,
    failed_chunk_id bigint
);
-- At most one run is active at a time.
CREATE UNIQUE INDEX runs_one_active ON migration.runs ((true)) WHERE status IN ('running', 'cancelling');
CREATE INDEX runs_created_at_idx ON migration.runs (created_at DESC);

-- One step per entity and phase. A step becomes ready when every step it
-- depends on is done; it is done when all its chunks are.
CREATE TABLE migration.run_steps (
    id                   bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    run_id               uuid NOT NULL REFERENCES migration.runs (id) ON DELETE CASCADE,
    entity               text NOT NULL,
    phase                text NOT NULL CHECK (phase IN ('stage', 'resolve', 'apply', 'finalize')),
    state                text NOT NULL CHECK (state IN ('waiting', 'ready', 'done', 'failed', 'cancelled')),
    pending_dependencies integer NOT NULL CHECK (pending_dependencies >= 0),
    chunks_total         integer NOT NULL DEFAULT 0,
    chunks_done          integer NOT NULL DEFAULT 0,
    started_at           timestamptz,
    finished_at          timestamptz,
    UNIQUE (run_id, entity, phase)
);

CREATE TABLE migration.step_dependencies (
    step_id    bigint NOT NULL REFERENCES migration.run_steps (id) ON DELETE CASCADE,
    depends_on bigint NOT NULL REFERENCES migration.run_steps (id) ON DELETE CASCADE,
    PRIMARY KEY (step_id, depends_on)
);
CREATE INDEX step_dependencies_depends_on_idx ON migration.step_dependencies (depends_on);

-- A chunk: one job. Stage and apply chunks cover a legacy id range
-- (last_legacy_id NULL: no upper bound); resolve and finalize chunks cover
-- their whole entity.
CREATE TABLE migration.chunks (
    id              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    run_id          uuid NOT NULL REFERENCES migration.runs (id) ON DELETE CASCADE,
    step_id         bigint NOT NULL REFERENCES migration.run_steps (id) ON DELETE CASCADE,
    first_legacy_id bigint,
    last_legacy_id  bigint,
    state           text NOT NULL CHECK (state IN ('waiting', 'queued', 'done', 'failed', 'cancelled')),
    attempts        integer NOT NULL DEFAULT 0,
    queued_at       timestamptz,
    started_at      timestamptz,
    finished_at     timestamptz,
    worker          text,
    last_error      text,
    stats           jsonb NOT NULL DEFAULT '{}'
);
CREATE INDEX chunks_run_id_state_idx ON migration.chunks (run_id, state);
CREATE INDEX chunks_step_id_idx ON migration.chunks (step_id);
ALTER TABLE migration.runs
    ADD CONSTRAINT runs_failed_chunk_id_fkey FOREIGN KEY (failed_chunk_id) REFERENCES migration.chunks (id);
CREATE INDEX runs_failed_chunk_id_idx ON migration.runs (failed_chunk_id);

-- One row per legacy row ever seen: its latest outcome and why.
-- run_id names the run that last changed the row; it is deliberately not a
-- foreign key (a per-row trigger on the bulk path, and ledger rows outlive
-- the question of which run wrote them).
CREATE TABLE migration.ledger (
    entity             text NOT NULL,
    legacy_id          bigint NOT NULL,
    outcome            text NOT NULL CHECK (outcome IN ('migrated', 'merged', 'rejected')),
    reason             text CHECK (reason IN ('orphan_reference', 'invalid_value')),
    warnings           text[] NOT NULL DEFAULT '{}',
    -- The LMS row it became (merged rows: the survivor's).
    target_id          bigint,
    -- For merged rows: the legacy row that survived.
    survivor_legacy_id bigint,
    -- What exactly was wrong, for rejected and warned rows.
    detail             text,
    -- xxh3 of the legacy row as read: a changed hash means a changed row.
    source_hash        bigint NOT NULL,
    run_id             uuid NOT NULL,
    recorded_at        timestamptz NOT NULL DEFAULT now(),
    -- Set when the legacy row disappeared; its target is flagged likewise.
    source_deleted_at  timestamptz,
    PRIMARY KEY (entity, legacy_id),
    CHECK ((outcome = 'rejected') = (reason IS NOT NULL)),
    CHECK (outcome <> 'merged' OR survivor_legacy_id IS NOT NULL)
);
