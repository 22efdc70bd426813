package citus_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/tenantmover/tenantmover/internal/citus"
	"github.com/tenantmover/tenantmover/internal/pgtest"
)

// With a third worker added, the rebalancer plans moves onto it, the
// background job spreads shards over all three while FollowJob reports
// progress, an interrupted follow leaves the job running, and no tenant's
// rows change.
func TestRebalanceOntoThirdWorker(t *testing.T) {
	t.Parallel()
	cluster := env.Cluster(t)
	// Started before the database so its cleanup (stopping it) runs after
	// the database's (dropping it on every node).
	third, err := cluster.StartNode()
	require.NoError(t, err)
	t.Cleanup(func() { _ = third.Close() })
	cdb := env.NewCitusDB(t)
	ctx := context.Background()
	pool := openPool(t, cdb.Coordinator)
	createSkewedStores(t, pool, skew{ShardCount: 6, BigStores: []int{3000}, SmallStores: 20, SmallRows: 20})
	tables, err := citus.Tables(ctx, pool)
	require.NoError(t, err)
	before, err := citus.CountTenants(ctx, pool, tables)
	require.NoError(t, err)

	cdb.AddNode(t, third)

	opts := citus.RebalanceOptions{Strategy: "by_shard_count"}
	plan, err := citus.RebalancePlan(ctx, pool, opts.Strategy)
	require.NoError(t, err)
	require.NotEmpty(t, plan.Moves)
	for _, m := range plan.Moves {
		require.Positive(t, m.Bytes, "shard %d: moves carry the shard's real size", m.ShardID)
	}
	require.Len(t, plan.After, 3)
	for _, n := range plan.After {
		require.Equal(t, int64(6), n.Shards, "%s: 18 shards over 3 nodes after the plan", n.Node)
	}

	job, err := citus.StartRebalance(ctx, pool, opts)
	require.NoError(t, err)
	_, err = citus.StartRebalance(ctx, pool, opts)
	var running *citus.AlreadyRunningError
	require.ErrorAs(t, err, &running)
	require.Equal(t, job, running.JobID)

	// Follow until the job is seen running, then stop following as Ctrl-C
	// would: the job carries on in the background.
	followCtx, stopFollowing := context.WithCancel(ctx)
	_, err = citus.FollowJob(followCtx, pool, job, citus.FollowOptions{Interval: 100 * time.Millisecond}, func(j *citus.Job) {
		if !j.Terminal() {
			stopFollowing()
		}
	})
	if !errors.Is(err, context.Canceled) {
		require.NoError(t, err, "the job may only have finished before the first poll")
	} else {
		id, err := citus.RunningRebalance(ctx, pool)
		require.NoError(t, err)
		require.Equal(t, job, id, "the job keeps running after the follower stops")
	}

	var polls []*citus.Job
	final, err := citus.FollowJob(ctx, pool, job, citus.FollowOptions{Interval: 200 * time.Millisecond}, func(j *citus.Job) { polls = append(polls, j) })
	require.NoError(t, err)
	require.True(t, final.Finished())
	require.NotEmpty(t, polls, "progress was reported")
	require.Equal(t, len(final.Tasks), final.Done())
	require.Same(t, final, polls[len(polls)-1])

	st, err := citus.Status(ctx, pool, citus.StatusOptions{TopTenants: -1})
	require.NoError(t, err)
	require.Len(t, st.Nodes, 3)
	for _, n := range st.Nodes {
		require.Equal(t, int64(6), n.Shards, "%s holds its share after the rebalance", n.Node.Addr())
	}
	after, err := citus.CountTenants(ctx, pool, tables)
	require.NoError(t, err)
	require.Empty(t, citus.Diff(before, after))

	again, err := citus.RebalancePlan(ctx, pool, opts.Strategy)
	require.NoError(t, err)
	require.Empty(t, again.Moves, "balanced now")
	_, err = citus.StartRebalance(ctx, pool, opts)
	require.ErrorIs(t, err, citus.ErrNothingToMove)
	_, err = citus.StopRebalance(ctx, pool)
	require.ErrorIs(t, err, citus.ErrNoRebalance)
}

// Tables without a primary key or replica identity cannot move with
// logical replication in auto mode; the check names them and block_writes
// needs no check.
func TestCheckTransferReplicaIdentity(t *testing.T) {
	t.Parallel()
	cdb := env.NewCitusDB(t)
	ctx := context.Background()
	pool := openPool(t, cdb.Coordinator)
	for _, sql := range []string{
		`CREATE TABLE keyed (tenant bigint PRIMARY KEY)`,
		`CREATE TABLE "Event Log" (tenant bigint, payload text)`,
		`CREATE TABLE indexed (tenant bigint NOT NULL, n int NOT NULL)`,
		`CREATE UNIQUE INDEX indexed_key ON indexed (tenant, n)`,
		`ALTER TABLE indexed REPLICA IDENTITY USING INDEX indexed_key`,
		`SELECT create_distributed_table('keyed', 'tenant', shard_count => 2)`,
		`SELECT create_distributed_table('"Event Log"', 'tenant', colocate_with => 'keyed')`,
		`SELECT create_distributed_table('indexed', 'tenant', colocate_with => 'keyed')`,
	} {
		pgtest.Exec(t, pool, sql)
	}
	tables, err := citus.Tables(ctx, pool)
	require.NoError(t, err)

	err = citus.CheckTransfer(ctx, pool, citus.TransferAuto, tables)
	var pe *citus.PreconditionError
	require.ErrorAs(t, err, &pe)
	require.Len(t, pe.Problems, 1)
	require.Equal(t, "replica_identity", pe.Problems[0].Check)
	require.Equal(t, "Event Log", pe.Problems[0].Table.Name)
	require.Contains(t, err.Error(), `ALTER TABLE public."Event Log" REPLICA IDENTITY FULL`)
	require.Contains(t, err.Error(), "--transfer-mode block_writes")

	require.NoError(t, citus.CheckTransfer(ctx, pool, citus.TransferForceLogical, tables), "force_logical accepts tables without identity")
	require.NoError(t, citus.CheckTransfer(ctx, pool, citus.TransferBlockWrites, tables))

	pgtest.Exec(t, pool, `ALTER TABLE "Event Log" REPLICA IDENTITY FULL`)
	require.NoError(t, citus.CheckTransfer(ctx, pool, citus.TransferAuto, tables))
}
