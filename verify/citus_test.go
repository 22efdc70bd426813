package verify_test

import (
	"context"
	"fmt"
	"testing"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/require"

	"github.com/tenantmover/tenantmover/internal/citus"
	"github.com/tenantmover/tenantmover/internal/db"
	"github.com/tenantmover/tenantmover/internal/pgtest"
	"github.com/tenantmover/tenantmover/internal/phase"
	"github.com/tenantmover/tenantmover/internal/plan"
	"github.com/tenantmover/tenantmover/verify"
	"github.com/tenantmover/tenantmover/verify/verifytest"
)

// citusPair is a source monolith and a Citus target holding the same rows.
type citusPair struct {
	src, dst *pgxpool.Pool
	url      string // coordinator
	p        *plan.Plan
}

func newCitusPair(t *testing.T, replication int) citusPair {
	t.Helper()
	cdb := env.NewCitusDB(t)
	srcURL := env.NewDB(t)
	verifytest.LoadCitus(t, srcURL, cdb.Coordinator, replication)
	c := citusPair{src: open(t, srcURL), dst: open(t, cdb.Coordinator), url: cdb.Coordinator}
	c.p = buildPlan(t, c.src, "store")
	return c
}

func (c citusPair) run(t *testing.T, cfg verify.Config) *verify.Result {
	t.Helper()
	return run(t, c.src, c.dst, c.url, c.p, cfg)
}

// node opens the test database directly on a node (every node has a
// database of the same name).
func (c citusPair) node(t *testing.T, node citus.Node) *pgxpool.Pool {
	t.Helper()
	return open(t, citus.WorkerURL(c.url, node))
}

func (c citusPair) shards(t *testing.T, table string) []citus.Shard {
	t.Helper()
	shards, err := citus.Shards(context.Background(), c.dst, db.QualifiedName{Schema: "public", Name: table})
	require.NoError(t, err)
	return shards
}

func TestCitusMatchesAfterCopy(t *testing.T) {
	t.Parallel()
	c := newCitusPair(t, 1)
	res := c.run(t, verify.Config{Checksum: true})
	require.True(t, res.Match, "%+v", res.Differences)
	require.True(t, res.Overview.Citus)
	var shards int
	for _, table := range []string{"store", "product", "purchase", "refund", "auth_user", "company", "campaign", "company_users"} {
		shards += len(c.shards(t, table))
	}
	require.Equal(t, shards, res.Overview.Shards)
	require.Greater(t, res.Overview.Placements, res.Overview.Shards, "reference tables have a placement on every node")
}

func TestCitusDeletedRowsNamed(t *testing.T) {
	t.Parallel()
	c := newCitusPair(t, 1)
	var tenant int64
	var ids []string
	require.NoError(t, c.dst.QueryRow(context.Background(),
		`SELECT store_id, array_agg(id::text ORDER BY id::text) FROM (SELECT store_id, id FROM purchase
		 WHERE store_id = (SELECT max(store_id) FROM purchase) ORDER BY id LIMIT 3) s GROUP BY 1`).Scan(&tenant, &ids))
	pgtest.Exec(t, c.dst, `DELETE FROM refund WHERE store_id = $1 AND purchase_id::text = ANY($2)`, tenant, ids)
	pgtest.Exec(t, c.dst, `DELETE FROM purchase WHERE store_id = $1 AND id::text = ANY($2)`, tenant, ids)

	res := c.run(t, verify.Config{})
	require.False(t, res.Match)
	d := only(res, verify.KindCount, "public.purchase")
	require.Len(t, d, 1, "%+v", res.Differences)
	require.Equal(t, fmt.Sprint(tenant), d[0].Tenant)
	require.Equal(t, d[0].Source-3, d[0].Target)
	require.Equal(t, ids, d[0].Keys)
	for _, d := range res.Differences {
		require.Equal(t, fmt.Sprint(tenant), d.Tenant, "%+v", d)
		require.Equal(t, verify.KindCount, d.Kind, "%+v", d)
	}
}

func TestCitusChangedRowOnlyWithChecksum(t *testing.T) {
	t.Parallel()
	c := newCitusPair(t, 1)
	var id, tenant string
	require.NoError(t, c.dst.QueryRow(context.Background(),
		`UPDATE purchase SET amount = amount + 0.01 WHERE (store_id, id) = (SELECT store_id, id FROM purchase ORDER BY id LIMIT 1)
		 RETURNING id::text, store_id::text`).Scan(&id, &tenant))

	res := c.run(t, verify.Config{})
	require.True(t, res.Match, "counts alone cannot see a changed row: %+v", res.Differences)

	res = c.run(t, verify.Config{Checksum: true})
	require.Len(t, res.Differences, 1, "%+v", res.Differences)
	d := res.Differences[0]
	require.Equal(t, verify.KindChecksum, d.Kind)
	require.Equal(t, "public.purchase", d.Table)
	require.Equal(t, tenant, d.Tenant)
	require.Equal(t, []string{id}, d.Keys)
}

// A row written straight into a shard whose hash range does not hold its
// tenant is invisible to queries for that tenant: verify names the shard.
func TestCitusRowInWrongShard(t *testing.T) {
	t.Parallel()
	c := newCitusPair(t, 1)
	ctx := context.Background()
	const tenant = "3"
	table, err := citus.TableInfo(ctx, c.dst, db.QualifiedName{Schema: "public", Name: "product"})
	require.NoError(t, err)
	h, err := citus.HashValue(ctx, c.dst, table, tenant)
	require.NoError(t, err)
	var wrong citus.Shard
	for _, s := range c.shards(t, "product") {
		if !s.Contains(h) {
			wrong = s
			break
		}
	}
	require.NotZero(t, wrong.ShardID)
	node := c.node(t, wrong.Placements[0].Node)
	pgtest.Exec(t, node, `INSERT INTO `+wrong.Name.Quoted()+` (id, store_id, name) VALUES (999999, 3, 'stray')`)

	res := c.run(t, verify.Config{})
	require.False(t, res.Match)
	d := only(res, verify.KindMisplaced, "public.product")
	require.Len(t, d, 1, "%+v", res.Differences)
	require.Equal(t, tenant, d[0].Tenant)
	require.Equal(t, wrong.ShardID, d[0].Shard)
	require.Equal(t, int64(1), d[0].Target)
	require.Equal(t, []string{"999999"}, d[0].Keys)
	require.Contains(t, d[0].Detail, fmt.Sprint(h))

	res = c.run(t, verify.Config{Tenants: []string{"3", "5"}, Tables: []string{"product"}})
	require.Len(t, only(res, verify.KindMisplaced, "public.product"), 1, "%+v", res.Differences)
	res = c.run(t, verify.Config{Tenants: []string{"4", "5"}})
	require.True(t, res.Match, "tenant 3 is not asked about: %+v", res.Differences)
}

// One placement of a replicated shard loses a row, another placement's row
// changes content: both are named by shard, tenant and key.
func TestCitusReplicaDiverges(t *testing.T) {
	t.Parallel()
	c := newCitusPair(t, 2)
	ctx := context.Background()
	var tenant, id string
	require.NoError(t, c.dst.QueryRow(ctx, `SELECT store_id::text, min(id)::text FROM purchase GROUP BY 1 ORDER BY count(*) DESC LIMIT 1`).Scan(&tenant, &id))
	shardID, err := citus.ShardForValue(ctx, c.dst, db.QualifiedName{Schema: "public", Name: "purchase"}, tenant)
	require.NoError(t, err)
	var shard citus.Shard
	for _, s := range c.shards(t, "purchase") {
		if s.ShardID == shardID {
			shard = s
		}
	}
	require.Len(t, shard.Placements, 2)
	second := c.node(t, shard.Placements[1].Node)
	pgtest.Exec(t, second, `DELETE FROM `+shard.Name.Quoted()+` WHERE id::text = $1`, id)

	res := c.run(t, verify.Config{})
	d := only(res, verify.KindPlacement, "public.purchase")
	require.Len(t, d, 1, "%+v", res.Differences)
	require.Equal(t, tenant, d[0].Tenant)
	require.Equal(t, shardID, d[0].Shard)
	require.Equal(t, d[0].Source-1, d[0].Target)
	require.Equal(t, []string{id}, d[0].Keys)
	require.Contains(t, d[0].Detail, shard.Placements[1].Node.Addr())

	// Put the row back with different content: same counts, so only the
	// checksum sees the placements disagree.
	var other string
	first := c.node(t, shard.Placements[0].Node)
	require.NoError(t, first.QueryRow(ctx, `SELECT ROW(p.*)::text FROM `+shard.Name.Quoted()+` p WHERE id::text = $1`, id).Scan(&other))
	pgtest.Exec(t, second, `INSERT INTO `+shard.Name.Quoted()+` SELECT (r).* FROM (SELECT $1::text::`+shard.Name.Quoted()+` AS r) s`, other)
	pgtest.Exec(t, second, `UPDATE `+shard.Name.Quoted()+` SET billing_address = 'elsewhere' WHERE id::text = $1`, id)
	res = c.run(t, verify.Config{})
	require.Empty(t, only(res, verify.KindPlacement, "public.purchase"))
	res = c.run(t, verify.Config{Checksum: true})
	d = only(res, verify.KindPlacement, "public.purchase")
	require.Len(t, d, 1, "%+v", res.Differences)
	require.Equal(t, d[0].Source, d[0].Target)
	require.Equal(t, []string{id}, d[0].Keys)
	require.Contains(t, d[0].Detail, "different content")
}

// Two refunds trade tenants: every tenant keeps its count, and each refund
// now sits with a tenant its purchase does not belong to.
func TestCitusChildTenantDisagreesWithParent(t *testing.T) {
	t.Parallel()
	c := newCitusPair(t, 1)
	ctx := context.Background()
	var a, b string
	var ta, tb int64
	require.NoError(t, c.dst.QueryRow(ctx, `SELECT id::text, store_id FROM refund ORDER BY id LIMIT 1`).Scan(&a, &ta))
	require.NoError(t, c.dst.QueryRow(ctx, `SELECT id::text, store_id FROM refund WHERE store_id <> $1 ORDER BY id LIMIT 1`, ta).Scan(&b, &tb))
	pgtest.Exec(t, c.dst, `CREATE TABLE swap AS SELECT * FROM refund WHERE id::text IN ($1, $2)`, a, b)
	pgtest.Exec(t, c.dst, `DELETE FROM refund WHERE id::text IN ($1, $2)`, a, b)
	pgtest.Exec(t, c.dst, `INSERT INTO refund SELECT id, purchase_id, amount, reason, created_at,
		CASE WHEN store_id = $1 THEN $2::bigint ELSE $1 END FROM swap`, ta, tb)

	res := c.run(t, verify.Config{})
	require.False(t, res.Match)
	require.Len(t, res.Differences, 1, "%+v", res.Differences)
	d := res.Differences[0]
	require.Equal(t, verify.KindInvariant, d.Kind)
	require.Equal(t, "public.refund", d.Table)
	require.Equal(t, int64(2), d.Target)
	require.ElementsMatch(t, []string{a, b}, d.Keys)
}

// A shard that moves to another node while verify runs (its old placement
// dropped) is found where it went, not reported as an error.
func TestCitusShardMovesDuringVerify(t *testing.T) {
	t.Parallel()
	c := newCitusPair(t, 1)
	ctx := context.Background()
	refund := c.shards(t, "refund")
	last := refund[len(refund)-1]
	nodes, err := citus.Nodes(ctx, c.dst)
	require.NoError(t, err)
	var to citus.Node
	for _, n := range nodes {
		if !n.IsCoordinator() && n.GroupID != last.Placements[0].GroupID {
			to = n
		}
	}
	from := last.Placements[0].Node
	moved := false
	onProgress := func(p phase.Event) {
		if p.Step != verify.StepShards || moved {
			return
		}
		moved = true
		pgtest.Exec(t, c.dst, `SELECT citus_move_shard_placement($1, $2, $3, $4, $5, shard_transfer_mode => 'block_writes')`,
			last.ShardID, from.Name, from.Port, to.Name, to.Port)
		pgtest.Exec(t, c.dst, `CALL citus_cleanup_orphaned_resources()`)
	}
	res, err := verify.Run(ctx, envOf(c.src, c.dst, c.p, onProgress), verify.Config{Workers: 1})
	require.NoError(t, err)
	require.True(t, moved)
	require.True(t, res.Match, "%+v", res.Differences)
	require.Equal(t, to.Addr(), c.shards(t, "refund")[len(refund)-1].Placements[0].Node.Addr())
	var stale bool
	require.NoError(t, c.node(t, from).QueryRow(ctx, `SELECT to_regclass($1) IS NOT NULL`, last.Name.Quoted()).Scan(&stale))
	require.False(t, stale, "the old placement must be gone for this test to exercise the retry")
}
