package citus_test

import (
	"context"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/tenantmover/tenantmover/internal/citus"
)

// Isolating the biggest tenant gives it a shard group of its own (its hash
// is the shard's whole range, in every colocated table), moves that group
// to the other worker, and changes no tenant's row count.
func TestIsolateBigTenantAndMoveIt(t *testing.T) {
	t.Parallel()
	cdb := env.NewCitusDB(t)
	ctx := context.Background()
	pool := openPool(t, cdb.Coordinator)
	createSkewedStores(t, pool, defaultSkew)
	store, err := citus.TableInfo(ctx, pool, name("store"))
	require.NoError(t, err)
	group, err := citus.ColocatedTables(ctx, pool, store.ColocationID)
	require.NoError(t, err)
	before, err := citus.CountTenants(ctx, pool, group)
	require.NoError(t, err)
	require.Len(t, before, 3)

	plan, err := citus.PlanIsolate(ctx, pool, citus.IsolateOptions{Table: name("store"), Tenant: "1"})
	require.NoError(t, err)
	require.False(t, plan.AlreadyIsolated)
	other := otherWorker(t, pool, plan.Source)

	var steps []string
	res, err := citus.Isolate(ctx, pool, citus.IsolateOptions{Table: name("store"), Tenant: "1", To: other.Addr()},
		func(s string) { steps = append(steps, s) })
	require.NoError(t, err)
	require.True(t, res.Moved)
	require.Equal(t, other.ID, res.Node.ID)
	require.Len(t, steps, 2, "isolate, then move")
	require.Len(t, res.Calls, 2)

	hash, err := citus.HashValue(ctx, pool, store, "1")
	require.NoError(t, err)
	for _, tb := range group {
		shards, err := citus.Shards(ctx, pool, tb.Name)
		require.NoError(t, err)
		var own []citus.Shard
		for _, s := range shards {
			if s.Contains(hash) {
				own = append(own, s)
			}
		}
		require.Len(t, own, 1, tb.Name.String())
		require.Equal(t, hash, own[0].MinValue, "%s: the tenant's shard covers exactly its hash", tb.Name)
		require.Equal(t, hash, own[0].MaxValue, tb.Name.String())
		require.Equal(t, other.ID, own[0].Placements[0].Node.ID, "%s: moved to the other worker", tb.Name)
		if tb.Name.Name == "store" {
			require.Equal(t, res.ShardID, own[0].ShardID)
		}
		// The shard on the worker holds exactly the tenant's rows.
		worker := openPool(t, citus.WorkerURL(cdb.Coordinator, other))
		var n, tenants int64
		require.NoError(t, worker.QueryRow(ctx, "SELECT count(*), count(DISTINCT "+quote(tb.DistColumn)+") FROM "+own[0].Name.Quoted()).Scan(&n, &tenants))
		require.Equal(t, before[tb.Name]["1"], n, tb.Name.String())
		require.Equal(t, int64(1), tenants, tb.Name.String())
	}

	after, err := citus.CountTenants(ctx, pool, group)
	require.NoError(t, err)
	require.Empty(t, citus.Diff(before, after), "per-tenant counts are identical before and after")
	require.Equal(t, before.Rows(), after.Rows())

	st, err := citus.Status(ctx, pool, citus.StatusOptions{TopTenants: 1})
	require.NoError(t, err)
	require.True(t, st.Tenants[0].Isolated)
	require.Equal(t, other.ID, st.Tenants[0].Node.ID)

	// A second isolation finds the tenant alone already: nothing to split,
	// and asked to stay, nothing to do.
	again, err := citus.PlanIsolate(ctx, pool, citus.IsolateOptions{Table: name("purchase"), Tenant: "1", To: other.Addr()})
	require.NoError(t, err)
	require.True(t, again.AlreadyIsolated)
	require.Empty(t, again.Calls)
}

// otherWorker is a worker that is not n.
func otherWorker(t *testing.T, q citus.Querier, n citus.Node) citus.Node {
	t.Helper()
	nodes, err := citus.Nodes(context.Background(), q)
	require.NoError(t, err)
	for _, o := range nodes {
		if !o.IsCoordinator() && o.ID != n.ID {
			return o
		}
	}
	t.Fatal("no other worker")
	return citus.Node{}
}
