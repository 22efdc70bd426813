package pgcopy_test

import (
	"context"
	"testing"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/require"

	pgcopy "github.com/tenantmover/tenantmover/copy"
	"github.com/tenantmover/tenantmover/internal/ddl"
	"github.com/tenantmover/tenantmover/internal/pgtest"
	"github.com/tenantmover/tenantmover/internal/plan"
)

// liveShop is a source with a parent and a child table and its target
// with the foreign key between them.
func liveShop(t *testing.T) (srcURL, dstURL string, src, dst *pgxpool.Pool, p *plan.Plan) {
	t.Helper()
	srcURL, dstURL = env.NewDB(t), env.NewDB(t)
	src, dst = pgtest.Pool(t, srcURL), pgtest.Pool(t, dstURL)
	pgtest.Exec(t, src, `
		CREATE TABLE store (id bigint PRIMARY KEY, name text);
		CREATE TABLE product (id bigint PRIMARY KEY, store_id bigint NOT NULL REFERENCES store, name text);
		INSERT INTO store SELECT g, 'store ' || g FROM generate_series(1, 300) g;
		INSERT INTO product SELECT g, 1 + g % 300, 'product ' || g FROM generate_series(1, 3000) g`)
	var err error
	p, err = plan.Build(context.Background(), src, plan.Config{TenantTable: "store"})
	require.NoError(t, err)
	require.NoError(t, ddl.Apply(context.Background(), dst, p))
	return srcURL, dstURL, src, dst, p
}

// The application keeps writing while copy runs: a store and its product
// inserted while the store table is being copied. Every chunk reads the
// run's one snapshot, so the product (copied later) cannot arrive without
// its store, which the target's foreign key would refuse.
func TestCopyReadsOneSnapshotAcrossTables(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	srcURL, dstURL, src, dst, p := liveShop(t)
	inserted := false
	cfg := pgcopy.WithMidChunkHook(pgcopy.Config{ChunkRows: 100, Workers: 1}, func(table string, chunk int, _ uint32) {
		if table == "public.store" && !inserted {
			inserted = true
			pgtest.Exec(t, src, `INSERT INTO store VALUES (1000, 'new'); INSERT INTO product VALUES (10000, 1000, 'new')`)
		}
	})
	_, err := copyRun(ctx, srcURL, dstURL, p, cfg, nil)
	require.NoError(t, err)
	require.True(t, inserted, "the writer ran during the copy")
	require.Equal(t, int64(300), pgtest.Scalar[int64](t, dst, `SELECT count(*) FROM store`), "as of the snapshot")
	require.Equal(t, int64(3000), pgtest.Scalar[int64](t, dst, `SELECT count(*) FROM product`), "as of the snapshot")
}

// When the connection holding the snapshot is lost, the run stops with a
// message saying to rerun, and the rerun finishes from a new snapshot.
func TestCopyLostSnapshotStopsThenResumes(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	srcURL, dstURL, src, dst, p := liveShop(t)
	killed := false
	cfg := pgcopy.WithMidChunkHook(pgcopy.Config{ChunkRows: 100, Workers: 1}, func(table string, chunk int, _ uint32) {
		if !killed {
			killed = true
			require.Equal(t, int64(1), pgtest.Scalar[int64](t, src, `SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity
				WHERE datname = current_database() AND query = 'SELECT pg_export_snapshot()'`))
		}
	})
	_, err := copyRun(ctx, srcURL, dstURL, p, cfg, nil)
	require.ErrorContains(t, err, "rerun to continue from a new snapshot")

	rep, err := copyRun(ctx, srcURL, dstURL, p, pgcopy.Config{ChunkRows: 100, Workers: 1}, nil)
	require.NoError(t, err)
	require.Positive(t, rep.ChunksSkipped, "the chunk copied before the loss is kept")
	requireSame(t, src, dst, p)
}
