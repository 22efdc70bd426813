-- tenantmover checkpoint schema. Lives in the database being written (the
-- source for backfill, the target for copy) so that each unit of work and its
-- checkpoint commit in the same transaction. Every statement is idempotent.
CREATE SCHEMA IF NOT EXISTS tenantmover;

-- One row per named run: the command and the options it started with, so a
-- resume with different options can be refused.
CREATE TABLE IF NOT EXISTS tenantmover.runs (
    name        text PRIMARY KEY,
    command     text NOT NULL,
    options     jsonb NOT NULL,
    phase       text NOT NULL DEFAULT '',
    status      text NOT NULL DEFAULT 'running',
    started_at  timestamptz NOT NULL DEFAULT now(),
    updated_at  timestamptz NOT NULL DEFAULT now(),
    finished_at timestamptz
);

-- One row per unit of work: a key range [lo, hi) of a table, or one
-- tenant's rows. lo is the first key of the range and hi the first key past
-- it, each the text form of every key column; NULL is unbounded (below every
-- key for lo, above every key for hi), and a table's units partition its
-- keys. cursor is where a unit walked batch by batch resumes: the keys of
-- [lo, cursor) are done. tenant is set instead of a range for a unit that is
-- one tenant's rows (the tenant key's text form).
CREATE TABLE IF NOT EXISTS tenantmover.units (
    run        text NOT NULL REFERENCES tenantmover.runs (name) ON DELETE CASCADE,
    phase      text NOT NULL,
    table_name text NOT NULL,
    unit       int NOT NULL,
    lo         text[],
    hi         text[],
    cursor     text[],
    state      text NOT NULL DEFAULT 'pending',
    rows       bigint NOT NULL DEFAULT 0,
    bytes      bigint NOT NULL DEFAULT 0,
    updated_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (run, phase, table_name, unit)
);

ALTER TABLE tenantmover.units ADD COLUMN IF NOT EXISTS tenant text;

-- One row per table and phase: its planned total and state, plus any
-- phase-specific facts (orphans, sequence values) as JSON. ceiling is the
-- largest key when the units were planned (inclusive), for phases that walk
-- only the rows that existed then (backfill).
CREATE TABLE IF NOT EXISTS tenantmover.tables (
    run        text NOT NULL REFERENCES tenantmover.runs (name) ON DELETE CASCADE,
    phase      text NOT NULL,
    table_name text NOT NULL,
    state      text NOT NULL DEFAULT 'pending',
    total_rows bigint NOT NULL DEFAULT 0,
    info       jsonb NOT NULL DEFAULT '{}',
    updated_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (run, phase, table_name)
);

ALTER TABLE tenantmover.tables ADD COLUMN IF NOT EXISTS ceiling text[];

-- One row per phase of an orchestrated run (migrate): its state (pending,
-- running, done, failed, interrupted), whether a --restart of the run still
-- has to start it over, and what it did when it last ended.
CREATE TABLE IF NOT EXISTS tenantmover.phases (
    run         text NOT NULL REFERENCES tenantmover.runs (name) ON DELETE CASCADE,
    phase       text NOT NULL,
    state       text NOT NULL DEFAULT 'pending',
    restart     boolean NOT NULL DEFAULT false,
    rows        bigint NOT NULL DEFAULT 0,
    bytes       bigint NOT NULL DEFAULT 0,
    seconds     float8 NOT NULL DEFAULT 0,
    note        text NOT NULL DEFAULT '',
    started_at  timestamptz,
    finished_at timestamptz,
    PRIMARY KEY (run, phase)
);

-- One row per followed stream (copy --follow, migrate --follow): the source's
-- replication slot and publication, the consistent point the copy's snapshot
-- is as of, and applied_lsn, the end of the last source transaction whose
-- changes committed on this database: it is written in the same transaction
-- as those changes, so a restart resumes exactly after them. The counters
-- are changes applied by kind; identity_full the source tables the stream set
-- to REPLICA IDENTITY FULL (restored at its end); stop asks the follower to end (cutover).
CREATE TABLE IF NOT EXISTS tenantmover.streams (
    name            text PRIMARY KEY,
    slot            text NOT NULL,
    publication     text NOT NULL,
    consistent_lsn  pg_lsn NOT NULL,
    applied_lsn     pg_lsn NOT NULL,
    applied_at      timestamptz,
    source_time     timestamptz,
    inserts         bigint NOT NULL DEFAULT 0,
    updates         bigint NOT NULL DEFAULT 0,
    deletes         bigint NOT NULL DEFAULT 0,
    truncates       bigint NOT NULL DEFAULT 0,
    transactions    bigint NOT NULL DEFAULT 0,
    stop            boolean NOT NULL DEFAULT false,
    identity_full   text[] NOT NULL DEFAULT '{}',
    cutover_at      timestamptz,
    created_at      timestamptz NOT NULL DEFAULT now()
);

-- The tenants a stream changed since its snapshot (the tenant key's text
-- form), written with the changes: cutover verifies these.
CREATE TABLE IF NOT EXISTS tenantmover.stream_tenants (
    stream text NOT NULL REFERENCES tenantmover.streams (name) ON DELETE CASCADE,
    tenant text NOT NULL,
    PRIMARY KEY (stream, tenant)
);

-- A stream's apply lanes: the follower applies the changes of different
-- tenants in parallel, one target transaction per lane, each tenant always
-- in the same lane (a hash of its key's text form, modulo the stream's
-- number of lanes, fixed when the stream starts). A lane's row is written in
-- the transaction that applied its changes: applied_lsn is the end of the
-- last source transaction whose changes of that lane's tenants are
-- committed here, with the lane's counters. The stream's applied position
-- is the lowest lane's; a restart resumes there and skips, lane by lane,
-- what a lane had committed. A stream of layout 3 gets one lane.
CREATE TABLE IF NOT EXISTS tenantmover.stream_lanes (
    stream       text NOT NULL REFERENCES tenantmover.streams (name) ON DELETE CASCADE,
    lane         int NOT NULL,
    applied_lsn  pg_lsn NOT NULL,
    applied_at   timestamptz,
    source_time  timestamptz,
    inserts      bigint NOT NULL DEFAULT 0,
    updates      bigint NOT NULL DEFAULT 0,
    deletes      bigint NOT NULL DEFAULT 0,
    truncates    bigint NOT NULL DEFAULT 0,
    transactions bigint NOT NULL DEFAULT 0,
    PRIMARY KEY (stream, lane)
);
INSERT INTO tenantmover.stream_lanes (stream, lane, applied_lsn)
    SELECT s.name, 0, s.applied_lsn FROM tenantmover.streams s
    WHERE NOT EXISTS (SELECT FROM tenantmover.stream_lanes l WHERE l.stream = s.name);

-- Layout 5: the time windows (--until, --for) a run used up, each one ended
-- with work left (status "paused").
-- resumed_at is when the run last started or resumed: status estimates what
-- is left from the rate of the work done since.
ALTER TABLE tenantmover.runs ADD COLUMN IF NOT EXISTS windows int NOT NULL DEFAULT 0;
ALTER TABLE tenantmover.runs ADD COLUMN IF NOT EXISTS resumed_at timestamptz NOT NULL DEFAULT now();

-- Layout 6: the source position of the batch that last changed each tenant
-- (NULL: recorded by an older layout, taken as changed late). A cutover
-- verifies the changed tenants before it blocks writes, and with writes
-- blocked only those changed since then.
ALTER TABLE tenantmover.stream_tenants ADD COLUMN IF NOT EXISTS changed_lsn pg_lsn;

-- Layout 7: the parts of a run that several processes copy together (copy
-- --part K/N): one row per part, its state (running, done, failed,
-- interrupted, paused) and when it last started and ended. Which units are a
-- part's is computed (checkpoints.Part.Owns), not stored.
CREATE TABLE IF NOT EXISTS tenantmover.parts (
    run         text NOT NULL REFERENCES tenantmover.runs (name) ON DELETE CASCADE,
    phase       text NOT NULL,
    part        int NOT NULL,
    parts       int NOT NULL,
    state       text NOT NULL DEFAULT 'running',
    started_at  timestamptz NOT NULL DEFAULT now(),
    updated_at  timestamptz NOT NULL DEFAULT now(),
    finished_at timestamptz,
    PRIMARY KEY (run, phase, part)
);

COMMENT ON SCHEMA tenantmover IS 'tenantmover checkpoints, layout 7';
