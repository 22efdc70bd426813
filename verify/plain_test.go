package verify_test

import (
	"context"
	"fmt"
	"testing"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/require"

	"github.com/tenantmover/tenantmover/internal/pgtest"
	"github.com/tenantmover/tenantmover/internal/phase"
	"github.com/tenantmover/tenantmover/internal/plan"
	"github.com/tenantmover/tenantmover/internal/sample"
	"github.com/tenantmover/tenantmover/verify"
)

// plainPair is a source monolith (not backfilled: nested tables reach their
// tenant through joins) and a plain PostgreSQL target holding the same
// data with the tenant column on every distributed table.
func plainPair(t *testing.T) (src, dst *pgxpool.Pool, dstURL string, p *plan.Plan) {
	t.Helper()
	ctx := context.Background()
	srcURL := env.NewDB(t)
	dstURL = env.NewDB(t)
	src, dst = open(t, srcURL), open(t, dstURL)
	require.NoError(t, sample.Generate(ctx, src, params()))
	require.NoError(t, sample.Generate(ctx, dst, params()))
	backfill(t, dst)
	return src, dst, dstURL, buildPlan(t, src, "store")
}

func TestPlainTargetMatches(t *testing.T) {
	t.Parallel()
	src, dst, _, p := plainPair(t)
	var events []phase.Event
	res, err := verify.Run(context.Background(), envOf(src, dst, p, func(ev phase.Event) { events = append(events, ev) }), verify.Config{Checksum: true})
	require.NoError(t, err)
	require.True(t, res.Match, "%+v", res.Differences)
	require.Empty(t, res.Differences)
	require.False(t, res.Overview.Citus)
	byTable := map[string]verify.TableSummary{}
	for _, s := range res.Overview.Tables {
		byTable[s.Table] = s
	}
	require.Len(t, byTable, 8)
	require.Equal(t, int64(1200), byTable["public.purchase"].SourceRows)
	require.Equal(t, int64(1200), byTable["public.purchase"].TargetRows)
	require.Equal(t, int64(12), byTable["public.store"].Tenants)
	require.Equal(t, "nested", byTable["public.refund"].Kind)
	require.Equal(t, "reference", byTable["public.auth_user"].Kind)
	// Each step's progress adds up to its planned total, then finishes.
	planned, done, finished := map[string]int64{}, map[string]int64{}, map[string]bool{}
	for _, ev := range events {
		require.Equal(t, verify.Name, ev.Phase)
		require.Empty(t, ev.Table, "a step's events are about the step, not a table (a display would count them there)")
		switch ev.Kind {
		case phase.Planned:
			planned[ev.Step] = ev.Total
		case phase.Advanced:
			done[ev.Step] += ev.Done
		case phase.Finished:
			finished[ev.Step] = true
		}
	}
	require.Contains(t, planned, verify.StepCompare)
	require.Contains(t, planned, verify.StepInvariant)
	for step, total := range planned {
		require.Positive(t, total, step)
		require.Equal(t, total, done[step], step)
		require.True(t, finished[step], step)
	}
}

func TestPlainDeletedRowsNamed(t *testing.T) {
	t.Parallel()
	src, dst, url, p := plainPair(t)
	var tenant int64
	var ids []int64
	require.NoError(t, dst.QueryRow(context.Background(),
		`SELECT store_id, array_agg(id ORDER BY id) FROM (SELECT store_id, id, count(*) OVER (PARTITION BY store_id) n FROM purchase) s
		 WHERE n >= 3 GROUP BY store_id ORDER BY store_id LIMIT 1`).Scan(&tenant, &ids))
	pgtest.Exec(t, dst, `DELETE FROM refund WHERE purchase_id = ANY($1)`, ids[:2])
	pgtest.Exec(t, dst, `DELETE FROM purchase WHERE id = ANY($1)`, ids[:2])

	res := run(t, src, dst, url, p, verify.Config{})
	require.False(t, res.Match)
	diffs := only(res, verify.KindCount, "public.purchase")
	require.Len(t, diffs, 1, "%+v", res.Differences)
	d := diffs[0]
	require.Equal(t, fmt.Sprint(tenant), d.Tenant)
	require.Equal(t, d.Source-2, d.Target)
	require.Equal(t, []string{fmt.Sprint(ids[0]), fmt.Sprint(ids[1])}, d.Keys)
	for _, d := range res.Differences {
		require.Contains(t, []string{"public.purchase", "public.refund"}, d.Table, "%+v", d)
		require.Equal(t, fmt.Sprint(tenant), d.Tenant)
	}
}

func TestPlainChangedRowOnlyWithChecksum(t *testing.T) {
	t.Parallel()
	src, dst, url, p := plainPair(t)
	var id, tenant int64
	require.NoError(t, dst.QueryRow(context.Background(),
		`UPDATE product SET name = name || ' (edited)' WHERE id = (SELECT min(id) + 7 FROM product) RETURNING id, store_id`).Scan(&id, &tenant))

	res := run(t, src, dst, url, p, verify.Config{})
	require.True(t, res.Match, "counts alone cannot see a changed row: %+v", res.Differences)

	res = run(t, src, dst, url, p, verify.Config{Checksum: true})
	require.False(t, res.Match)
	require.Len(t, res.Differences, 1, "%+v", res.Differences)
	d := res.Differences[0]
	require.Equal(t, verify.KindChecksum, d.Kind)
	require.Equal(t, "public.product", d.Table)
	require.Equal(t, fmt.Sprint(tenant), d.Tenant)
	require.Equal(t, d.Source, d.Target)
	require.Equal(t, []string{fmt.Sprint(id)}, d.Keys)
}

func TestPlainReferenceTableComparedWhole(t *testing.T) {
	t.Parallel()
	src, dst, url, p := plainPair(t)
	pgtest.Exec(t, dst, `UPDATE auth_user SET email = 'x@example.com' WHERE id = 3`)
	pgtest.Exec(t, dst, `DELETE FROM company_users WHERE user_id = 5`)
	pgtest.Exec(t, dst, `DELETE FROM auth_user WHERE id = 5`)

	res := run(t, src, dst, url, p, verify.Config{Checksum: true})
	d := only(res, verify.KindCount, "public.auth_user")
	require.Len(t, d, 1, "%+v", res.Differences)
	require.Equal(t, "", d[0].Tenant)
	require.Equal(t, d[0].Source-1, d[0].Target)
	require.Equal(t, []string{"3", "5"}, d[0].Keys, "the deleted and the changed row")
}

func TestPlainInvariantViolationNamed(t *testing.T) {
	t.Parallel()
	src, dst, url, p := plainPair(t)
	// Two refunds swap tenants: every tenant keeps its count, but each
	// refund now disagrees with its purchase.
	var a, b int64
	require.NoError(t, dst.QueryRow(context.Background(),
		`SELECT min(id), (SELECT min(r2.id) FROM refund r2 WHERE r2.store_id <> r.store_id) FROM refund r
		 WHERE id = (SELECT min(id) FROM refund) GROUP BY store_id`).Scan(&a, &b))
	pgtest.Exec(t, dst, `UPDATE refund r SET store_id = o.store_id FROM refund o
		WHERE (r.id, o.id) IN (($1::bigint, $2::bigint), ($2, $1))`, a, b)

	res := run(t, src, dst, url, p, verify.Config{})
	inv := only(res, verify.KindInvariant, "public.refund")
	require.Len(t, inv, 1, "%+v", res.Differences)
	require.Equal(t, int64(2), inv[0].Target)
	require.ElementsMatch(t, []string{fmt.Sprint(a), fmt.Sprint(b)}, inv[0].Keys)
	require.Contains(t, inv[0].Detail, "purchase")
}

// A backfill bug (a purchase given the wrong tenant) that copy carried to
// the target: counts match, the invariant names the row on both sides.
func TestPlainBackfillBugNamedOnBothSides(t *testing.T) {
	t.Parallel()
	src, dst, url, _ := plainPair(t)
	backfill(t, src)
	p := buildPlan(t, src, "store")
	for _, pool := range []*pgxpool.Pool{src, dst} {
		pgtest.Exec(t, pool, `UPDATE purchase SET store_id = store_id % 12 + 1 WHERE id = 10`)
		pgtest.Exec(t, pool, `UPDATE refund SET store_id = store_id % 12 + 1 WHERE purchase_id = 10`)
	}
	res := run(t, src, dst, url, p, verify.Config{Checksum: true})
	require.Len(t, res.Differences, 2, "%+v", res.Differences)
	for _, d := range res.Differences {
		require.Equal(t, verify.KindInvariant, d.Kind)
		require.Equal(t, "public.purchase", d.Table, "refund agrees with its purchase")
		require.Equal(t, []string{"10"}, d.Keys)
		require.Equal(t, int64(1), d.Source+d.Target)
	}
	require.NotEqual(t, res.Differences[0].Source, res.Differences[1].Source, "one difference per side")

	res = run(t, src, dst, url, p, verify.Config{Checksum: true, SkipInvariant: true})
	require.True(t, res.Match, "%+v", res.Differences)
}

func TestPlainTenantAndTableFilters(t *testing.T) {
	t.Parallel()
	src, dst, url, p := plainPair(t)
	pgtest.Exec(t, dst, `DELETE FROM refund WHERE store_id IN (1, 2)`)
	pgtest.Exec(t, dst, `DELETE FROM product WHERE store_id = 2 AND id NOT IN (SELECT product_id FROM purchase)`)

	res := run(t, src, dst, url, p, verify.Config{Tenants: []string{"1", "3"}, Tables: []string{"refund", "store"}})
	require.Len(t, res.Overview.Tables, 2)
	for _, d := range res.Differences {
		require.Equal(t, "public.refund", d.Table)
		require.Equal(t, "1", d.Tenant)
	}
	require.LessOrEqual(t, len(res.Differences), 1)
	for _, s := range res.Overview.Tables {
		require.LessOrEqual(t, s.Tenants, int64(2), s.Table)
	}

	_, err := verify.Run(context.Background(), envOf(src, dst, p, nil), verify.Config{Tables: []string{"nosuch"}})
	require.ErrorContains(t, err, "nosuch")
	_, err = verify.Run(context.Background(), envOf(src, dst, p, nil), verify.Config{MaxSamples: -1})
	require.Error(t, err)
}

func TestPlainMissingTenantAndTable(t *testing.T) {
	t.Parallel()
	src, dst, url, p := plainPair(t)
	pgtest.Exec(t, dst, `DELETE FROM refund WHERE store_id = 4; DELETE FROM purchase WHERE store_id = 4;
		DELETE FROM product WHERE store_id = 4; DELETE FROM store WHERE id = 4; DROP TABLE company_users`)
	res := run(t, src, dst, url, p, verify.Config{})
	for _, table := range []string{"public.store", "public.product"} {
		d := only(res, verify.KindCount, table)
		require.Len(t, d, 1, table)
		require.Equal(t, "4", d[0].Tenant)
		require.Zero(t, d[0].Target)
		require.NotEmpty(t, d[0].Keys)
	}
	d := only(res, verify.KindCount, "public.company_users")
	require.Len(t, d, 1)
	require.Contains(t, d[0].Detail, "does not exist on the target")
}
