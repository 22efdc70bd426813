package checkpoints_test

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/tenantmover/tenantmover/checkpoints"
	"github.com/tenantmover/tenantmover/internal/pgtest"
)

// Each lane of a stream keeps its own position: a transaction records the
// lanes it applied, a lane already past a position keeps its own, and the
// stream's applied position is the lowest lane's, its counts their sum.
func TestStreamLanesKeepTheirOwnPositions(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	pool, store := open(t)
	require.NoError(t, store.StartStream(ctx, "s", "slot", "pub", "0/100", nil, 3))
	lanes, err := store.Lanes(ctx, "s")
	require.NoError(t, err)
	require.Equal(t, []string{"0/100", "0/100", "0/100"}, lanes)

	record := func(lsn string, lanes []int, inserts int64, tenants ...string) {
		tx, err := pool.Begin(ctx)
		require.NoError(t, err)
		defer func() { _ = tx.Rollback(ctx) }()
		require.NoError(t, checkpoints.RecordApplied(ctx, tx, "s", checkpoints.Applied{LSN: lsn, SourceTime: time.Now(), Lanes: lanes,
			Counts: checkpoints.ChangeCount{Inserts: inserts, Transactions: 1}, Tenants: tenants}))
		require.NoError(t, tx.Commit(ctx))
	}
	record("0/300", []int{1}, 5, "a")
	record("0/200", []int{0, 2, 1}, 2, "b") // lane 1 is past 0/200 already
	lanes, err = store.Lanes(ctx, "s")
	require.NoError(t, err)
	require.Equal(t, []string{"0/200", "0/300", "0/200"}, lanes)

	st, err := store.Stream(ctx, "s")
	require.NoError(t, err)
	require.Equal(t, "0/200", st.AppliedLSN)
	require.Equal(t, 3, st.Lanes)
	require.Equal(t, checkpoints.ChangeCount{Inserts: 7, Transactions: 2}, st.Counts)
	require.Equal(t, 2, st.TenantsCount)

	// A cleaned-up stream takes its lanes with it: recording fails.
	pgtest.Exec(t, pool, `DELETE FROM tenantmover.streams WHERE name = 's'`)
	tx, err := pool.Begin(ctx)
	require.NoError(t, err)
	defer func() { _ = tx.Rollback(ctx) }()
	require.ErrorContains(t, checkpoints.RecordApplied(ctx, tx, "s", checkpoints.Applied{LSN: "0/400", Lanes: []int{0}}), "gone")
}

// A stream recorded before lanes existed (layout 3) gets one lane at its
// applied position when the store is opened, and keeps its counts.
func TestStreamOfAnOlderLayoutGetsOneLane(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	pool, _ := open(t)
	pgtest.Exec(t, pool, `INSERT INTO tenantmover.streams (name, slot, publication, consistent_lsn, applied_lsn, inserts, transactions)
			VALUES ('old', 'slot', 'pub', '0/100', '0/500', 9, 3);
		COMMENT ON SCHEMA tenantmover IS 'tenantmover checkpoints, layout 3'`)
	store, err := checkpoints.Open(ctx, pool)
	require.NoError(t, err)
	lanes, err := store.Lanes(ctx, "old")
	require.NoError(t, err)
	require.Equal(t, []string{"0/500"}, lanes)
	st, err := store.Stream(ctx, "old")
	require.NoError(t, err)
	require.Equal(t, "0/500", st.AppliedLSN)
	require.Equal(t, checkpoints.ChangeCount{Inserts: 9, Transactions: 3}, st.Counts)
}
