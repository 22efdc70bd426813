package main

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/tenantmover/tenantmover/internal/pgtest"
)

// A migration whose source gained a table (here one without a primary
// key) is rerun with --restart: the schema phase creates the new table
// even though the old ones hold the restarted run's rows.
func TestMigrateRestartCreatesNewTables(t *testing.T) {
	t.Parallel()
	src, dst := sampleSource(t), env.NewDB(t)
	args := []string{"migrate", "--source", src, "--target", dst, "--tenant-table", "store", "--no-progress"}
	code, _, stderr := runCLI(t, args...)
	require.Equal(t, exitOK, code, stderr)

	pgtest.Exec(t, pgtest.Pool(t, src), `CREATE TABLE visit (store_id bigint NOT NULL REFERENCES store, path text);
		INSERT INTO visit SELECT id, '/home' FROM store; INSERT INTO visit SELECT id, '/home' FROM store`)
	code, _, stderr = runCLI(t, append(args, "--restart")...)
	require.Equal(t, exitOK, code, stderr)
	code, _, status := runCLI(t, "status", "--target", dst, "--run", "migrate")
	require.Equal(t, exitOK, code, status)
	require.Contains(t, status, "status=done")
	require.NotContains(t, status, "--restart still to do", "no restart is left to do")
	require.Regexp(t, `copy\s+done`, status, "the run's phases are listed")
	require.Contains(t, stderr, "verified: every tenant of every table matches")
	dstPool := pgtest.Pool(t, dst)
	require.Equal(t, 2*pgtest.Scalar[int64](t, dstPool, `SELECT count(*) FROM store`),
		pgtest.Scalar[int64](t, dstPool, `SELECT count(*) FROM visit`), "duplicate rows of a table without a key both arrive")
}

// Rows whose foreign keys point at another tenant's rows stop the
// migration after backfill, before anything is written to the target.
func TestMigrateStopsOnCrossTenantReferences(t *testing.T) {
	t.Parallel()
	src, dst := sampleSource(t), env.NewDB(t)
	// A refund of store 2's purchase filed under a purchase of store 1:
	// refund -> purchase is the path, so make a second key that crosses.
	pgtest.Exec(t, pgtest.Pool(t, src), `
		ALTER TABLE refund ADD COLUMN replaces_id bigint REFERENCES purchase;
		UPDATE refund SET replaces_id = (SELECT p.id FROM purchase p JOIN product pr ON pr.id = p.product_id WHERE pr.store_id = 1 LIMIT 1)
		WHERE id = (SELECT r.id FROM refund r JOIN purchase p ON p.id = r.purchase_id JOIN product pr ON pr.id = p.product_id WHERE pr.store_id = 2 LIMIT 1)`)
	code, _, stderr := runCLI(t, "migrate", "--source", src, "--target", dst, "--tenant-table", "store", "--no-progress")
	require.Equal(t, exitError, code, stderr)
	require.Contains(t, stderr, "tenant-check: 1 rows reference a row of another tenant")
	require.Contains(t, stderr, "(replaces_id → id)")
	require.Zero(t, pgtest.Scalar[int64](t, pgtest.Pool(t, dst),
		`SELECT count(*) FROM pg_tables WHERE schemaname = 'public'`), "nothing was created on the target")
}

// Rows of a direct table whose tenant column is NULL would stop the copy
// on Citus ("the partition column cannot be NULL") after every earlier
// table was copied: migrate finds them first, on the source.
func TestMigrateStopsOnRowsWithoutTenant(t *testing.T) {
	t.Parallel()
	src, dst := sampleSource(t), env.NewDB(t)
	pgtest.Exec(t, pgtest.Pool(t, src), `
		CREATE TABLE coupon (id int PRIMARY KEY, store_id bigint REFERENCES store, code text);
		INSERT INTO coupon SELECT g, CASE WHEN g % 4 = 0 THEN NULL ELSE (SELECT min(id) FROM store) END, 'c' || g FROM generate_series(1, 20) g`)
	code, _, stderr := runCLI(t, "migrate", "--source", src, "--target", dst, "--tenant-table", "store", "--no-progress")
	require.Equal(t, exitError, code, stderr)
	require.Contains(t, stderr, "tenant-check: 5 rows have no tenant")
	require.Regexp(t, `no_tenant\s+public.coupon\s.*4,8,12,16,20`, stderr, "the rows are named by key")
	code, _, status := runCLI(t, "status", "--target", dst, "--run", "migrate")
	require.Equal(t, exitOK, code, status)
	require.Contains(t, status, `run "migrate" (migrate) phase=tenant-check status=failed`)
	require.Regexp(t, `tenant-check\s+failed`, status)
	require.NotContains(t, stderr+status, "every row has a tenant", "a failed check says no success")
	require.Zero(t, pgtest.Scalar[int64](t, pgtest.Pool(t, dst),
		`SELECT count(*) FROM pg_tables WHERE schemaname = 'public'`), "nothing was created on the target")

	// Skipping the check, the copy meets the rows: the target's composite
	// key makes the tenant column NOT NULL (Citus refuses NULLs anyway).
	code, _, stderr = runCLI(t, "migrate", "--source", src, "--target", dst, "--tenant-table", "store", "--no-progress", "--skip-tenant-check")
	require.Equal(t, exitError, code, stderr)
	require.Regexp(t, `tenant-check\s+skipped.*--skip-tenant-check`, stderr)
	require.Contains(t, stderr, "rows of public.coupon have no value in store_id, which the target requires")
}
