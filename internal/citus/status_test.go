package citus_test

import (
	"context"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/tenantmover/tenantmover/internal/citus"
)

// A few huge tenants and many small ones: status names the huge ones with
// their node, row and byte shares, and the node holding the largest is the
// most loaded, which the skew figure shows.
func TestStatusShowsSkew(t *testing.T) {
	t.Parallel()
	cdb := env.NewCitusDB(t)
	ctx := context.Background()
	pool := openPool(t, cdb.Coordinator)
	createSkewedStores(t, pool, defaultSkew)

	st, err := citus.Status(ctx, pool, citus.StatusOptions{TopTenants: 5})
	require.NoError(t, err)
	require.Len(t, st.Nodes, 2, "the two workers; the coordinator holds no shards")
	require.Len(t, st.Tenants, 5)

	// The largest tenants are the big stores, in order, with all their rows:
	// the store row, its products and its purchases.
	for i, rows := range defaultSkew.BigStores {
		tn := st.Tenants[i]
		require.Equal(t, []string{"1", "2", "3"}[i], tn.Tenant)
		require.Equal(t, int64(1+rows/10+rows), tn.Rows)
		require.Equal(t, "store", tn.Table.Name, "the group is named by its tenant table")
		require.Positive(t, tn.Bytes)
		require.False(t, tn.Isolated)
		shard, err := citus.ShardForValue(ctx, pool, name("store"), tn.Tenant)
		require.NoError(t, err)
		require.Equal(t, shard, tn.ShardID)
		shards, err := citus.Shards(ctx, pool, name("store"))
		require.NoError(t, err)
		for _, s := range shards {
			if s.ShardID == shard {
				require.Equal(t, s.Placements[0].Node.Addr(), tn.Node.Addr())
			}
		}
	}
	var total int64
	require.NoError(t, pool.QueryRow(ctx, `SELECT (SELECT count(*) FROM store) + (SELECT count(*) FROM product) + (SELECT count(*) FROM purchase)`).Scan(&total))
	require.InDelta(t, float64(st.Tenants[0].Rows)/float64(total), st.Tenants[0].RowShare, 1e-9)
	require.Greater(t, st.Tenants[0].ByteShare, 0.3, "store 1 holds over half the rows, so a large share of the bytes")

	var largest citus.NodeStatus
	var sum int64
	for _, n := range st.Nodes {
		require.Equal(t, int64(defaultSkew.ShardCount*3/2), n.Shards, "8 shards of 3 tables over 2 workers")
		require.Positive(t, n.Bytes)
		require.Positive(t, n.ReferenceBytes)
		sum += n.Bytes
		if n.Bytes > largest.Bytes {
			largest = n
		}
	}
	require.Equal(t, sum, st.TotalBytes)
	require.Equal(t, "bytes", st.SkewBasis)
	require.InDelta(t, float64(largest.Bytes)/(float64(sum)/2), st.Skew, 1e-9)
	require.Greater(t, st.Skew, 1.1, "the big store makes its node the heavier one")
	require.Equal(t, st.Tenants[0].Node.Addr(), largest.Node.Addr(), "the largest tenant's node is the most loaded")

	// Skipping the tenant scan still gives the node figures.
	quick, err := citus.Status(ctx, pool, citus.StatusOptions{TopTenants: -1})
	require.NoError(t, err)
	require.Empty(t, quick.Tenants)
	// Within 1%: the byte sizes include the free-space and visibility maps,
	// which autovacuum may add to a freshly filled shard between the calls.
	require.InEpsilon(t, st.Skew, quick.Skew, 0.01)
	require.Equal(t, st.SkewBasis, quick.SkewBasis)
}
