package citus_test

import (
	"context"
	"strconv"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/tenantmover/tenantmover/internal/citus"
)

func TestMetadata(t *testing.T) {
	t.Parallel()
	cdb := env.NewCitusDB(t)
	ctx := context.Background()
	pool := openPool(t, cdb.Coordinator)
	createSkewedStores(t, pool, skew{ShardCount: 4, BigStores: []int{100}, SmallStores: 5, SmallRows: 10})

	version, err := citus.RequireCoordinator(ctx, pool)
	require.NoError(t, err)
	require.NotEmpty(t, version)

	nodes, err := citus.Nodes(ctx, pool)
	require.NoError(t, err)
	require.Len(t, nodes, 3, "coordinator and two workers")
	require.True(t, nodes[0].IsCoordinator())
	require.False(t, nodes[1].IsCoordinator())

	tables, err := citus.Tables(ctx, pool)
	require.NoError(t, err)
	byName := map[string]citus.Table{}
	for _, tb := range tables {
		byName[tb.Name.Name] = tb
	}
	require.Equal(t, "reference", byName["country"].Type)
	require.Equal(t, "id", byName["store"].DistColumn)
	require.Equal(t, "store_id", byName["purchase"].DistColumn)
	require.True(t, byName["purchase"].IsHashDistributed())
	require.Equal(t, byName["store"].ColocationID, byName["purchase"].ColocationID)

	group, err := citus.ColocatedTables(ctx, pool, byName["store"].ColocationID)
	require.NoError(t, err)
	require.Len(t, group, 3)

	_, err = citus.TableInfo(ctx, pool, name("nope"))
	var nct *citus.NotCitusTableError
	require.ErrorAs(t, err, &nct)

	shards, err := citus.Shards(ctx, pool, name("purchase"))
	require.NoError(t, err)
	require.Len(t, shards, 4)
	require.Equal(t, int32(-2147483648), shards[0].MinValue)
	require.Equal(t, int32(2147483647), shards[3].MaxValue)
	for i, s := range shards {
		require.True(t, s.HasRange)
		require.Len(t, s.Placements, 1)
		require.False(t, s.Placements[0].Node.IsCoordinator())
		if i > 0 {
			require.Equal(t, shards[i-1].MaxValue+1, s.MinValue, "ranges are contiguous")
		}
	}

	// Every row of every store sits in the shard its hash falls in, and
	// that shard really is on the worker the metadata names.
	for store := 1; store <= 6; store++ {
		v := strconv.Itoa(store)
		id, err := citus.ShardForValue(ctx, pool, name("purchase"), v)
		require.NoError(t, err)
		h, err := citus.HashValue(ctx, pool, byName["purchase"], v)
		require.NoError(t, err)
		var shard citus.Shard
		for _, s := range shards {
			if s.Contains(h) {
				shard = s
			}
		}
		require.Equal(t, id, shard.ShardID, "store %d", store)
		worker := openPool(t, citus.WorkerURL(cdb.Coordinator, shard.Placements[0].Node))
		var n, want int
		require.NoError(t, worker.QueryRow(ctx, "SELECT count(*) FROM "+shard.Name.Quoted()+" WHERE store_id = $1", store).Scan(&n))
		require.NoError(t, pool.QueryRow(ctx, "SELECT count(*) FROM purchase WHERE store_id = $1", store).Scan(&want))
		require.Equal(t, want, n, "store %d on %s", store, shard.Placements[0].Node.Addr())
		require.Positive(t, n)
	}

	ref, err := citus.Shards(ctx, pool, name("country"))
	require.NoError(t, err)
	require.Len(t, ref, 1)
	require.False(t, ref[0].HasRange)
	require.Len(t, ref[0].Placements, 3, "reference tables are on every node")
}
