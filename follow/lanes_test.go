package follow_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/jackc/pglogrepl"
	"github.com/stretchr/testify/require"

	"github.com/tenantmover/tenantmover/follow"
	"github.com/tenantmover/tenantmover/internal/pgtest"
	"github.com/tenantmover/tenantmover/migrate"
)

// oneBatch holds every change until a fence (f.sync) commits them, so the
// test decides what one batch holds.
var oneBatch = follow.Config{Lanes: 2, BatchTime: time.Hour, BatchRows: 1_000_000}

// lanesOf groups the sample stores by the lane their changes take, and
// requires every lane to have one (else the test would check nothing).
func lanesOf(t *testing.T, lanes int) [][]string {
	t.Helper()
	by := make([][]string, lanes)
	for i := 1; i <= 4; i++ {
		l := follow.TenantLane(store(i), lanes)
		by[l] = append(by[l], store(i))
	}
	for l, stores := range by {
		require.NotEmpty(t, stores, "no sample store takes lane %d of %d", l, lanes)
	}
	return by
}

// laneInserts reads the inserts each lane of the run's stream applied.
func laneInserts(t *testing.T, f *followed) []int64 {
	t.Helper()
	rows, err := f.dst.Query(context.Background(), `SELECT inserts FROM tenantmover.stream_lanes WHERE stream = $1 ORDER BY lane`, migrate.DefaultRun)
	require.NoError(t, err)
	var out []int64
	for rows.Next() {
		var n int64
		require.NoError(t, rows.Scan(&n))
		out = append(out, n)
	}
	require.NoError(t, rows.Err())
	return out
}

// Different tenants' changes are applied in parallel lanes, and each
// tenant's in its source order: a row updated many times in one batch ends
// with its last value, a key deleted and inserted again exists, a key
// inserted and deleted again does not.
func TestLanesKeepEachTenantsOrder(t *testing.T) {
	t.Parallel()
	f := startFollowing(t, classSchema, storePlan, oneBatch)
	lanesOf(t, 2)
	before := laneInserts(t, f)
	// Products sku-1..4 belong to stores 2, 3, 4 and 1: every store, every
	// lane. Each source transaction commits on its own (COMMIT in DO).
	pgtest.Exec(t, f.src, `DO $$ BEGIN
		FOR k IN 1..40 LOOP
			UPDATE product SET qty = k WHERE sku IN ('sku-1', 'sku-2', 'sku-3', 'sku-4');
			INSERT INTO line (id, sku, n) SELECT 100000 + 10 * k + i, 'sku-' || i, k FROM generate_series(1, 4) i;
			DELETE FROM line WHERE id BETWEEN 100000 + 10 * k + 1 AND 100000 + 10 * k + 2;
			COMMIT;
		END LOOP;
		DELETE FROM line WHERE id IN (1, 2, 3, 4);
		COMMIT;
		INSERT INTO line (id, sku, n) SELECT i, 'sku-' || i, -1 FROM generate_series(1, 4) i;
		COMMIT;
	END $$`)
	f.sync(t)
	f.requireSame(t)
	require.Equal(t, 4, pgtest.Scalar[int](t, f.dst, `SELECT count(*)::int FROM product WHERE sku IN ('sku-1', 'sku-2', 'sku-3', 'sku-4') AND qty = 40`))
	require.Equal(t, 4, pgtest.Scalar[int](t, f.dst, `SELECT count(*)::int FROM line WHERE id IN (1, 2, 3, 4) AND n = -1`))
	after := laneInserts(t, f)
	for l := range after {
		require.Greater(t, after[l], before[l], "lane %d applied inserts", l)
	}
}

// A crash between two lanes' commits: one lane committed the batch, the
// other did not. The rerun streams from the lane behind and applies its
// changes, skipping the ones the other lane committed: nothing is lost and
// nothing applied twice (each lane counts its inserts once).
func TestCrashBetweenLaneCommitsAppliesEachChangeOnce(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	f := startFollowing(t, classSchema, storePlan, oneBatch)
	by := lanesOf(t, 2)
	f.sync(t) // no commit of the follower's start is pending: lane 0 then writes its own record alone
	before := laneInserts(t, f)
	// Lane 1's position record stays locked, so its commit waits while
	// lane 0's goes through.
	lock, err := f.dst.Begin(ctx)
	require.NoError(t, err)
	defer func() { _ = lock.Rollback(ctx) }()
	// It writes the row the way a lane does (a lane's writes commute with
	// the other lanes' on Citus), so only lane 1 waits for it.
	pgtest.Exec(t, lock, `SET LOCAL citus.all_modifications_commutative = on`)
	pgtest.Exec(t, lock, `UPDATE tenantmover.stream_lanes SET applied_at = applied_at WHERE stream = $1 AND lane = 1`, migrate.DefaultRun)

	pgtest.Exec(t, f.src, `DO $$ BEGIN
		FOR k IN 1..20 LOOP
			INSERT INTO line (sku, n) SELECT 'sku-' || i, 1000 + k FROM generate_series(1, 4) i;
			COMMIT;
		END LOOP;
	END $$`)
	var fence pglogrepl.LSN
	require.NoError(t, f.src.QueryRow(ctx, `SELECT pg_logical_emit_message(false, 'tenantmover.fence', $1)`, migrate.DefaultRun).Scan(&fence))
	require.Eventually(t, func() bool {
		var at pglogrepl.LSN
		err := f.dst.QueryRow(ctx, `SELECT applied_lsn FROM tenantmover.stream_lanes WHERE stream = $1 AND lane = 0`, migrate.DefaultRun).Scan(&at)
		return err == nil && at >= fence
	}, 3*time.Minute, 50*time.Millisecond, "lane 0 committed the batch")
	f.stop(t) // lane 1 is still waiting: its transaction rolls back
	require.NoError(t, lock.Rollback(ctx))
	require.Zero(t, pgtest.Scalar[int](t, f.dst, `SELECT count(*)::int FROM line WHERE n > 1000 AND "Store_id" = ANY($1::uuid[])`, by[1]),
		"lane 1's changes are not on the target yet")

	f.start(t, oneBatch)
	f.sync(t)
	f.requireSame(t)
	after := laneInserts(t, f)
	for l, stores := range by {
		require.EqualValues(t, 20*len(stores), after[l]-before[l], "lane %d (stores %v) counted each of its inserts once", l, stores)
	}
}

// With one lane the follower applies everything in one target
// transaction per batch, as before lanes existed.
func TestOneLane(t *testing.T) {
	t.Parallel()
	f := startFollowing(t, classSchema, storePlan, follow.Config{Lanes: 1})
	pgtest.Exec(t, f.src, fmt.Sprintf(`INSERT INTO product (sku, "Store_id", name, price, qty) VALUES ('one', '%s', 'x', 1, 1);
		UPDATE line SET n = n + 1 WHERE id <= 100; DELETE FROM line WHERE id > 900; INSERT INTO country VALUES ('es', 'Spain')`, store(2)))
	f.sync(t)
	f.requireSame(t)
	require.Len(t, laneInserts(t, f), 1)
}
