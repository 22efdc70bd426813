package pgcopy_test

import (
	"context"
	"testing"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/require"

	pgcopy "github.com/tenantmover/tenantmover/copy"
	"github.com/tenantmover/tenantmover/internal/pgtest"
	"github.com/tenantmover/tenantmover/internal/plan"
)

// requireSameTenants checks the distributed tables hold exactly the given
// stores' rows of the source, and the reference tables all of them.
func requireSameTenants(t *testing.T, src, dst *pgxpool.Pool, p *plan.Plan, stores []int64) {
	t.Helper()
	for _, pt := range p.Tables {
		switch {
		case pt.Kind == plan.Reference:
			require.Equal(t, fingerprint(t, src, pt.Source, ""), fingerprint(t, dst, pt.Source, ""), "%s", pt.Name())
		case pt.Kind.Distributed():
			cond := `"` + pt.TenantColumn + `" = ANY($1)`
			want := fingerprint(t, src, pt.Source, cond, stores)
			require.NotEqual(t, "0:", want, "%s has no rows of %v on the source", pt.Name(), stores)
			require.Equal(t, want, fingerprint(t, dst, pt.Source, cond, stores), "%s", pt.Name())
			require.Equal(t, fingerprint(t, dst, pt.Source, ""), fingerprint(t, dst, pt.Source, cond, stores), "%s holds only those tenants", pt.Name())
		}
	}
}

func TestTenantsCopyAndReplace(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	srcURL, dstURL, src, dst, p := monolithPair(t, tinyMonolith())

	rep, err := copyRun(ctx, srcURL, dstURL, p, pgcopy.Config{Tenants: []string{"1", "3"}}, nil, runAs{name: "some"})
	require.NoError(t, err)
	requireSameTenants(t, src, dst, p, []int64{1, 3})
	require.Equal(t, 2, tableReport(t, rep, "public.purchase").ChunksCopied, "one unit per tenant")

	// The source changes; a re-sync with --replace brings those tenants
	// back in line and leaves the filled reference tables alone.
	pgtest.Exec(t, src, `UPDATE product SET name = 'changed' WHERE store_id = 1;
		DELETE FROM refund WHERE store_id = 3;
		DELETE FROM purchase p WHERE store_id = 3 AND id % 2 = 0;
		INSERT INTO purchase (product_id, store_id, amount) SELECT id, store_id, 1.5 FROM product WHERE store_id = 1 LIMIT 3`)
	pgtest.Exec(t, dst, "UPDATE auth_user SET email = 'target edit' WHERE id = 1")
	rep, err = copyRun(ctx, srcURL, dstURL, p, pgcopy.Config{Tenants: []string{"1", "3"}, Replace: true}, nil, runAs{name: "resync"})
	require.NoError(t, err)
	require.NotEmpty(t, tableReport(t, rep, "public.auth_user").Skipped)
	require.EqualValues(t, 1, pgtest.Scalar[int64](t, dst, "SELECT count(*) FROM auth_user WHERE email = 'target edit'"), "reference tables untouched")
	pgtest.Exec(t, src, "UPDATE auth_user SET email = 'target edit' WHERE id = 1") // so the reference tables compare equal
	requireSameTenants(t, src, dst, p, []int64{1, 3})

	// Without --replace, tenants already on the target are refused.
	_, err = copyRun(ctx, srcURL, dstURL, p, pgcopy.Config{Tenants: []string{"3", "5"}}, nil, runAs{name: "again"})
	var refused *pgcopy.ErrTargetNotEmpty
	require.ErrorAs(t, err, &refused)
	require.Contains(t, err.Error(), "public.store (chunk 0 tenant 3)")
	require.NotContains(t, err.Error(), "tenant 5")

	// Another tenant joins.
	_, err = copyRun(ctx, srcURL, dstURL, p, pgcopy.Config{Tenants: []string{"5"}}, nil, runAs{name: "more"})
	require.NoError(t, err)
	requireSameTenants(t, src, dst, p, []int64{1, 3, 5})
}

func TestReplaceNeedsTenants(t *testing.T) {
	_, err := pgcopy.NewConfig(pgcopy.Config{Replace: true})
	require.ErrorContains(t, err, "--replace needs --tenants")
	_, err = pgcopy.NewConfig(pgcopy.Config{Tenants: []string{"1", "1"}})
	require.ErrorContains(t, err, `tenant "1" listed twice`)
	c, err := pgcopy.NewConfig(pgcopy.Config{})
	require.NoError(t, err)
	require.Equal(t, pgcopy.DefaultWorkers, c.Workers)
	require.EqualValues(t, pgcopy.DefaultChunkRows, c.ChunkRows)
}
