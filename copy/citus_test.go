package pgcopy_test

import (
	"context"
	"testing"

	"github.com/stretchr/testify/require"

	pgcopy "github.com/tenantmover/tenantmover/copy"
	"github.com/tenantmover/tenantmover/internal/ddl"
	"github.com/tenantmover/tenantmover/internal/pgtest"
	"github.com/tenantmover/tenantmover/internal/plan"
	"github.com/tenantmover/tenantmover/internal/sample"
)

// citusPair is the backfilled monolith and a Citus target whose schema
// ddl.Apply created (distributed and reference tables).
func citusPair(t *testing.T, params sample.Params) (srcURL, dstURL string, p *plan.Plan) {
	t.Helper()
	cdb := env.NewCitusDB(t)
	srcURL, src := monolithSource(t, params)
	p = storePlan(t, src)
	require.NoError(t, ddl.Apply(context.Background(), pgtest.Pool(t, cdb.Coordinator), p))
	return srcURL, cdb.Coordinator, p
}

// The monolith arrives complete in Citus: every table equal, each chunk and
// its checkpoint committed together by the coordinator's 2PC; a rerun
// copies nothing.
func TestCopyMonolithIntoCitus(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	srcURL, dstURL, p := citusPair(t, sample.Small())
	src, dst := pgtest.Pool(t, srcURL), pgtest.Pool(t, dstURL)
	require.EqualValues(t, 4, pgtest.Scalar[int64](t, dst, "SELECT count(*) FROM pg_dist_partition WHERE partmethod = 'h'"), "distributed tables")

	rep, err := copyRun(ctx, srcURL, dstURL, p, pgcopy.Config{ChunkRows: 4000, Workers: 3}, nil)
	require.NoError(t, err)
	t.Logf("copied %d rows in %d chunks in %.1fs", rep.Rows, rep.ChunksCopied, rep.Seconds)
	requireSame(t, src, dst, p)
	require.Greater(t, tableReport(t, rep, "public.purchase").ChunksCopied, 3)
	require.EqualValues(t, 0, pgtest.Scalar[int64](t, dst, "SELECT count(*) FROM pg_prepared_xacts"), "no 2PC left in doubt")

	pgtest.Exec(t, dst, "INSERT INTO store (name) VALUES ('after the copy')")
	require.EqualValues(t, 51, pgtest.Scalar[int64](t, dst, "SELECT max(id) FROM store"), "sequence set past the copied ids")

	again, err := copyRun(ctx, srcURL, dstURL, p, pgcopy.Config{}, nil)
	require.NoError(t, err)
	require.Zero(t, again.ChunksCopied)
}

// Tenants are copied and re-synced on Citus, each tenant's rows (going to
// one shard group) in one distributed transaction.
func TestTenantsReplaceOnCitus(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	srcURL, dstURL, p := citusPair(t, tinyMonolith())
	src, dst := pgtest.Pool(t, srcURL), pgtest.Pool(t, dstURL)

	_, err := copyRun(ctx, srcURL, dstURL, p, pgcopy.Config{Tenants: []string{"2", "4"}}, nil, runAs{name: "some"})
	require.NoError(t, err)
	requireSameTenants(t, src, dst, p, []int64{2, 4})

	pgtest.Exec(t, src, `DELETE FROM refund WHERE store_id = 2; UPDATE purchase SET amount = 0 WHERE store_id = 4`)
	_, err = copyRun(ctx, srcURL, dstURL, p, pgcopy.Config{Tenants: []string{"2", "4"}, Replace: true}, nil, runAs{name: "resync"})
	require.NoError(t, err)
	requireSameTenants(t, src, dst, p, []int64{2, 4})
}

// --restart on Citus truncates distributed and reference tables together.
func TestRestartOnCitus(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	srcURL, dstURL, p := citusPair(t, tinyMonolith())
	src, dst := pgtest.Pool(t, srcURL), pgtest.Pool(t, dstURL)
	pgtest.Exec(t, dst, "INSERT INTO auth_user (id, username) VALUES (3, 'by hand')")
	_, err := copyRun(ctx, srcURL, dstURL, p, pgcopy.Config{}, nil)
	var refused *pgcopy.ErrTargetNotEmpty
	require.ErrorAs(t, err, &refused)
	rep, err := copyRun(ctx, srcURL, dstURL, p, pgcopy.Config{}, nil, runAs{restart: true})
	require.NoError(t, err)
	require.Len(t, rep.Truncated, 8)
	requireSame(t, src, dst, p)
}

// Three parts of one copy, together into Citus (its foreign keys in
// place, so child tables wait for the parts copying their parents): every
// table arrives equal, each unit copied once by the part that owns it, and
// no two-phase commit is left in doubt.
func TestThreePartsIntoCitus(t *testing.T) {
	t.Parallel()
	srcURL, dstURL, p := citusPair(t, sample.Small())
	src, dst := pgtest.Pool(t, srcURL), pgtest.Pool(t, dstURL)
	reps, _ := copyParts(t, srcURL, dstURL, p, 3, pgcopy.Config{ChunkRows: 2000, Workers: 2})
	requireSame(t, src, dst, p)
	requirePartsCoverRun(t, src, dst, reps)
	require.EqualValues(t, 0, pgtest.Scalar[int64](t, dst, "SELECT count(*) FROM pg_prepared_xacts"), "no 2PC left in doubt")
}
