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

-- One row per unit of work: a copy chunk (fixed key range) or a backfill
-- segment (fixed key range walked by a cursor). Bounds and cursor hold the
-- text form of each key column; NULL means unbounded.
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

-- One row per table and phase: its planned total and state, plus any
-- phase-specific facts (orphans, sequence values) as JSON.
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
