package main

import (
	"context"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/require"

	"github.com/tenantmover/tenantmover/checkpoints"
	"github.com/tenantmover/tenantmover/internal/pgtest"
)

// copy --follow, status, cutover and cleanup through the command line, on
// Citus: the rows written while following arrive, status shows the
// stream, the cutover pauses writes and the source refuses them after,
// and an abandoned stream's slot is dropped by cleanup.
func TestCopyFollowCutoverCommands(t *testing.T) {
	t.Parallel()
	srcURL, cdb, src, dst := followable(t)
	tenant := []string{"--tenant-table", "store"}

	following := runCLIAsync(t, append([]string{"copy", "--follow", "--source", srcURL, "--target", cdb.Coordinator, "--no-progress"}, tenant...)...)
	awaitStream(t, dst, "copy", following)
	pgtest.Exec(t, src, `INSERT INTO purchase (product_id, ordered_at, amount) SELECT id, now(), 1.25 FROM product WHERE id <= 30`)
	pgtest.Exec(t, src, `UPDATE product SET price = 1 WHERE id <= 10`)

	code, _, stderr := runCLI(t, "status", "--source", srcURL, "--target", cdb.Coordinator)
	require.Equal(t, exitOK, code, stderr)
	require.Contains(t, stderr, `stream "copy"`)
	require.Contains(t, stderr, "lag:")

	code, _, stderr = runCLI(t, append([]string{"cutover", "--source", srcURL, "--target", cdb.Coordinator, "--no-progress"}, tenant...)...)
	require.Equal(t, exitOK, code, stderr)
	require.Contains(t, stderr, "writes paused")
	require.Contains(t, stderr, "verified with checksums")
	r := awaitCLI(t, following)
	require.Equal(t, exitOK, r.code, r.stderr)
	require.Contains(t, r.stderr, "stop requested")
	require.Equal(t, 30, pgtest.Scalar[int](t, dst, `SELECT count(*)::int FROM purchase WHERE amount = 1.25`))
	_, err := src.Exec(context.Background(), `INSERT INTO purchase (product_id, amount) VALUES (1, 2)`)
	require.ErrorContains(t, err, "was cut over to Citus")
	require.Zero(t, pgtest.Scalar[int](t, src, `SELECT count(*)::int FROM pg_replication_slots WHERE database = current_database()`))

	code, _, stderr = runCLI(t, append([]string{"verify", "--source", srcURL, "--target", cdb.Coordinator, "--checksum", "--no-progress"}, tenant...)...)
	require.Equal(t, exitOK, code, stderr)
}

// An abandoned followed run keeps a slot on the source until cleanup
// drops it; the follower of that run stops.
func TestCleanupEndsAnAbandonedStream(t *testing.T) {
	t.Parallel()
	srcURL, cdb, src, dst := followable(t)
	tenant := []string{"--tenant-table", "store"}
	following := runCLIAsync(t, append([]string{"copy", "--follow", "--run", "abandoned", "--source", srcURL, "--target", cdb.Coordinator, "--no-progress"}, tenant...)...)
	awaitStream(t, dst, "abandoned", following)
	require.Equal(t, 1, pgtest.Scalar[int](t, src, `SELECT count(*)::int FROM pg_replication_slots WHERE database = current_database()`))

	code, _, stderr := runCLI(t, "cleanup", "--source", srcURL, "--target", cdb.Coordinator)
	require.Equal(t, exitOK, code, stderr)
	require.Contains(t, stderr, `stream "abandoned" ended`)
	r := awaitCLI(t, following)
	require.Equal(t, exitOK, r.code, r.stderr)
	require.Zero(t, pgtest.Scalar[int](t, src, `SELECT count(*)::int FROM pg_replication_slots WHERE database = current_database()`))
	require.Zero(t, pgtest.Scalar[int](t, src, `SELECT count(*)::int FROM pg_publication`))
	require.Zero(t, pgtest.Scalar[int](t, src, `SELECT count(*)::int FROM pg_class WHERE relkind = 'r' AND relreplident = 'f' AND relnamespace = 'public'::regnamespace`),
		"the replica identity is restored")
}

// followable is the small sample shop backfilled with its fill triggers
// kept, and a Citus target with the plan's schema: what copy --follow
// starts from.
func followable(t *testing.T) (srcURL string, cdb pgtest.ClusterDB, src, dst *pgxpool.Pool) {
	t.Helper()
	srcURL = sampleSource(t)
	cdb = env.NewCitusDB(t)
	tenant := []string{"--tenant-table", "store"}
	code, _, stderr := runCLI(t, append([]string{"plan", "--source", srcURL, "--target", cdb.Coordinator, "--apply"}, tenant...)...)
	require.Equal(t, exitOK, code, stderr)
	code, _, stderr = runCLI(t, append([]string{"backfill", "--source", srcURL, "--keep-triggers", "--no-progress"}, tenant...)...)
	require.Equal(t, exitOK, code, stderr)
	return srcURL, cdb, pgtest.Pool(t, srcURL), pgtest.Pool(t, cdb.Coordinator)
}

// awaitStream waits until run's copy is done and its follower streams.
func awaitStream(t *testing.T, dst *pgxpool.Pool, run string, ended <-chan cliResult) {
	t.Helper()
	store := checkpoints.Attach(dst)
	for {
		select {
		case r := <-ended:
			t.Fatalf("copy --follow ended early (%d): %s", r.code, r.stderr)
		case <-time.After(100 * time.Millisecond):
		}
		runs, err := store.Status(context.Background(), run)
		if err != nil || len(runs) == 0 || runs[0].Status != checkpoints.Done {
			continue
		}
		if _, err := store.Stream(context.Background(), run); err == nil {
			return
		}
	}
}

// TestMigrateFollowCreatesTriggersAtCutover: migrate --follow leaves the
// target's triggers out while the follower replays the source's changes
// (a trigger there would fire for them: this one counts updates, so the
// replayed rows would differ and the cutover's verify would refuse), and
// the cutover creates them while writes are paused.
func TestMigrateFollowCreatesTriggersAtCutover(t *testing.T) {
	t.Parallel()
	srcURL := sampleSource(t)
	src := pgtest.Pool(t, srcURL)
	pgtest.Exec(t, src, `ALTER TABLE product ADD COLUMN touches int NOT NULL DEFAULT 0;
CREATE FUNCTION count_touch() RETURNS trigger LANGUAGE plpgsql AS $$BEGIN NEW.touches := NEW.touches + 1; RETURN NEW; END$$;
CREATE TRIGGER product_touch BEFORE UPDATE ON product FOR EACH ROW EXECUTE FUNCTION count_touch();`)
	cdb := env.NewCitusDB(t)
	dst := pgtest.Pool(t, cdb.Coordinator)
	tenant := []string{"--tenant-table", "store"}
	following := runCLIAsync(t, append([]string{"migrate", "--follow", "--source", srcURL, "--target", cdb.Coordinator, "--no-progress"}, tenant...)...)
	store := checkpoints.Attach(dst)
	for {
		select {
		case r := <-following:
			t.Fatalf("migrate --follow ended early (%d): %s", r.code, r.stderr)
		case <-time.After(200 * time.Millisecond):
		}
		_, err := store.Stream(context.Background(), "migrate")
		fks := pgtest.Scalar[int](t, dst, `SELECT count(*)::int FROM pg_constraint WHERE conname = 'product_store_id_fkey'`)
		if err == nil && fks == 1 {
			break
		}
	}
	pgtest.Exec(t, src, `UPDATE product SET price = price + 1 WHERE id <= 20`)
	require.Zero(t, pgtest.Scalar[int](t, dst, `SELECT count(*)::int FROM pg_trigger WHERE tgname = 'product_touch'`),
		"no trigger on the target while the follower writes")

	code, _, stderr := runCLI(t, append([]string{"cutover", "--source", srcURL, "--target", cdb.Coordinator, "--no-progress"}, tenant...)...)
	require.Equal(t, exitOK, code, stderr)
	require.Contains(t, stderr, "verified with checksums")
	r := awaitCLI(t, following)
	require.Equal(t, exitOK, r.code, r.stderr)
	require.Equal(t, 20, pgtest.Scalar[int](t, dst, `SELECT count(*)::int FROM product WHERE touches = 1`), "each replayed update counted once")
	pgtest.Exec(t, dst, `UPDATE product SET price = price + 1 WHERE id = 1`)
	require.Equal(t, 2, pgtest.Scalar[int](t, dst, `SELECT touches FROM product WHERE id = 1`), "the trigger works on the target after the cutover")
}
