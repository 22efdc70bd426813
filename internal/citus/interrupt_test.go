package citus_test

import (
	"context"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/require"

	"github.com/tenantmover/tenantmover/internal/citus"
	"github.com/tenantmover/tenantmover/internal/pgtest"
)

// A shard move interrupted by its source worker going down and coming back
// is reported as a failure, never as done, even though Citus keeps the job
// alive to retry it. Afterwards, a worker without wal_level=logical or
// without citus among its output plugins fails the transfer preconditions,
// each named with its fix.
func TestInterruptedMoveIsReportedAsFailed(t *testing.T) {
	t.Parallel()
	pgtest.RequireCitus(t)
	cluster, err := pgtest.StartCluster(pgtest.ClusterOptions{Workers: 2, ShardCount: pgtest.TestShardCount})
	require.NoError(t, err)
	t.Cleanup(cluster.Close)
	cdb := cluster.NewDB(t, "interrupted")
	ctx := context.Background()
	pool := openPool(t, cdb.Coordinator)
	w1, w2 := cluster.Workers[0], cluster.Workers[1]

	// Every shard starts on worker 1, so the rebalancer moves half of them
	// from it to worker 2.
	setShouldHaveShards(t, pool, w2.Port, false)
	createSkewedStores(t, pool, skew{ShardCount: 4, BigStores: []int{2000}, SmallStores: 10, SmallRows: 10})
	setShouldHaveShards(t, pool, w2.Port, true)
	tables, err := citus.Tables(ctx, pool)
	require.NoError(t, err)
	before, err := citus.CountTenants(ctx, pool, tables)
	require.NoError(t, err)

	// Hold every shard on worker 1 so the first move blocks there.
	shardNames := lockShards(t, cdb.Workers[0], pool)

	start := citus.StartCall(citus.RebalanceOptions{Strategy: "by_shard_count"})
	var job int64
	require.NoError(t, pool.QueryRow(ctx, start.SQL, start.Args...).Scan(&job))
	type outcome struct {
		job *citus.Job
		err error
	}
	done := make(chan outcome, 1)
	go func() {
		j, err := citus.FollowJob(ctx, pool, job, citus.FollowOptions{Interval: 100 * time.Millisecond}, nil)
		done <- outcome{j, err}
	}()

	waitForLockWaiter(t, cdb.Workers[0], shardNames)
	require.NoError(t, w1.Stop(), "the worker goes down in the middle of the move")
	res := <-done
	require.NoError(t, w1.Start())

	require.Error(t, res.err, "an interrupted move must not be reported as done")
	var je *citus.JobError
	require.ErrorAs(t, res.err, &je)
	require.True(t, je.Retrying, "Citus keeps the job to retry the move: %v", res.err)
	require.False(t, res.job.Finished())
	require.NotEmpty(t, res.job.Errored())
	require.Contains(t, res.err.Error(), "citus_move_shard_placement")

	// Stopping the job ends it as cancelled, which is a failure too.
	stopped, err := citus.StopRebalance(ctx, pool)
	require.NoError(t, err)
	require.Equal(t, job, stopped)
	final, err := citus.FollowJob(ctx, pool, job, citus.FollowOptions{Interval: 100 * time.Millisecond, MaxRetries: 100}, nil)
	require.ErrorAs(t, err, &je)
	require.False(t, je.Retrying)
	require.Contains(t, []string{"cancelled", "cancelling"}, final.State)
	after, err := citus.CountTenants(ctx, pool, tables)
	require.NoError(t, err)
	require.Empty(t, citus.Diff(before, after), "an interrupted move loses and duplicates nothing")

	require.NoError(t, citus.CheckTransfer(ctx, pool, citus.TransferAuto, tables))
	require.NoError(t, w2.Exec(ctx, "postgres", "ALTER SYSTEM SET wal_level = replica"))
	if w2.HasSetting("output_plugin_libraries") {
		require.NoError(t, w2.Exec(ctx, "postgres", "ALTER SYSTEM SET output_plugin_libraries = 'pgoutput'"))
	}
	require.NoError(t, w2.Restart())
	err = citus.CheckTransfer(ctx, pool, citus.TransferForceLogical, tables)
	var pe *citus.PreconditionError
	require.ErrorAs(t, err, &pe)
	require.Equal(t, "wal_level", pe.Problems[0].Check)
	require.Contains(t, pe.Problems[0].Node, ":"+itoa(w2.Port))
	require.Contains(t, err.Error(), "wal_level is replica")
	if w2.HasSetting("output_plugin_libraries") {
		require.Len(t, pe.Problems, 2)
		require.Equal(t, "output_plugin_libraries", pe.Problems[1].Check)
		require.Contains(t, err.Error(), "ALTER SYSTEM SET output_plugin_libraries = 'pgoutput, citus'")
	}
	require.NoError(t, citus.CheckTransfer(ctx, pool, citus.TransferBlockWrites, tables))
}

func setShouldHaveShards(t *testing.T, q citus.Querier, port int, v bool) {
	t.Helper()
	pgtest.Exec(t, q, `SELECT citus_set_node_property('127.0.0.1', $1, 'shouldhaveshards', $2)`, port, v)
}

// lockShards opens a transaction on the worker that holds an exclusive lock
// on every distributed shard there, until the worker stops.
func lockShards(t *testing.T, workerURL string, q citus.Querier) []string {
	t.Helper()
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, workerURL)
	require.NoError(t, err)
	t.Cleanup(func() { _ = conn.Close(context.Background()) })
	tx, err := conn.Begin(ctx)
	require.NoError(t, err)
	pgtest.Exec(t, tx, "SET LOCAL citus.enable_manual_changes_to_shards = on")
	var names []string
	for _, tb := range []string{"store", "product", "purchase"} {
		shards, err := citus.Shards(ctx, q, name(tb))
		require.NoError(t, err)
		for _, s := range shards {
			pgtest.Exec(t, tx, "LOCK TABLE "+s.Name.Quoted()+" IN ACCESS EXCLUSIVE MODE")
			names = append(names, s.Name.Quoted())
		}
	}
	return names
}

// waitForLockWaiter waits until some session on the worker waits for a
// lock on one of the shards: the move has reached the worker.
func waitForLockWaiter(t *testing.T, workerURL string, shards []string) {
	t.Helper()
	ctx := context.Background()
	pool := openPool(t, workerURL)
	require.Eventually(t, func() bool {
		var waiting bool
		err := pool.QueryRow(ctx, `
			SELECT EXISTS (SELECT FROM pg_locks l WHERE NOT l.granted
			               AND l.relation = ANY (SELECT to_regclass(s) FROM unnest($1::text[]) s))`, shards).Scan(&waiting)
		return err == nil && waiting
	}, 2*time.Minute, 100*time.Millisecond, "no move reached worker 1")
}
