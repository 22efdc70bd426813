package pgcopy_test

import (
	"context"
	"testing"

	"github.com/stretchr/testify/require"

	pgcopy "github.com/tenantmover/tenantmover/copy"
	"github.com/tenantmover/tenantmover/internal/ddl"
	"github.com/tenantmover/tenantmover/internal/pgtest"
	"github.com/tenantmover/tenantmover/internal/plan"
)

// TestTablesWithoutPrimaryKey copies a distributed and a reference table
// that have no primary key, with duplicate rows (an audit log, a lookup
// list): each is one chunk, copied exactly once, and a rerun skips it.
func TestTablesWithoutPrimaryKey(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	srcURL, dstURL := env.NewDB(t), env.NewDB(t)
	src, dst := pgtest.Pool(t, srcURL), pgtest.Pool(t, dstURL)
	pgtest.Exec(t, src, `
		CREATE TABLE store (id bigint PRIMARY KEY);
		CREATE TABLE visit (store_id bigint NOT NULL REFERENCES store, path text);
		CREATE TABLE country (code text, name text);
		INSERT INTO store SELECT generate_series(1, 5);
		INSERT INTO visit SELECT s, '/p/' || g FROM generate_series(1, 5) s, generate_series(1, 40) g;
		INSERT INTO visit SELECT s, '/dup' FROM generate_series(1, 5) s, generate_series(1, 3);
		INSERT INTO country VALUES ('DE', 'Germany'), ('DE', 'Germany'), ('FR', NULL)`)
	p, err := plan.Build(ctx, src, plan.Config{TenantTable: "store"})
	require.NoError(t, err)
	require.Empty(t, p.Blocking(), "a table without a key that needs no backfill is copied in one chunk")
	require.NoError(t, ddl.Apply(ctx, dst, p))

	cfg := pgcopy.Config{ChunkRows: 10}
	rep, err := copyRun(ctx, srcURL, dstURL, p, cfg, nil)
	require.NoError(t, err)
	chunks := map[string]int{}
	for _, tr := range rep.Tables {
		chunks[tr.Table] = tr.Chunks
	}
	require.Equal(t, 1, chunks["public.visit"])
	require.Equal(t, 1, chunks["public.country"])
	requireSame(t, src, dst, p)

	rep, err = copyRun(ctx, srcURL, dstURL, p, cfg, nil)
	require.NoError(t, err)
	require.Zero(t, rep.ChunksCopied, "the rerun copies nothing again")
	requireSame(t, src, dst, p)
}

// Citus refuses rows whose distribution column is NULL; the chunk's error
// says which table, why, and what to do.
func TestNullTenantOnCitusIsExplained(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	cdb := env.NewCitusDB(t)
	srcURL := env.NewDB(t)
	src, dst := pgtest.Pool(t, srcURL), pgtest.Pool(t, cdb.Coordinator)
	pgtest.Exec(t, src, `
		CREATE TABLE store (id bigint PRIMARY KEY);
		CREATE TABLE coupon (id bigint PRIMARY KEY, store_id bigint REFERENCES store, code text);
		INSERT INTO store SELECT generate_series(1, 3);
		INSERT INTO coupon VALUES (1, 1, 'a'), (2, NULL, 'b')`)
	p, err := plan.Build(ctx, src, plan.Config{TenantTable: "store"})
	require.NoError(t, err)
	require.NoError(t, ddl.Apply(ctx, dst, p))
	_, err = copyRun(ctx, srcURL, cdb.Coordinator, p, pgcopy.Config{}, nil)
	require.ErrorContains(t, err, "rows of public.coupon have no tenant")
	require.Zero(t, pgtest.Scalar[int64](t, dst, `SELECT count(*) FROM coupon`), "the chunk rolled back")
}
