package pgcopy_test

import (
	"context"
	"fmt"
	"strings"
	"testing"

	pgcopy "github.com/tenantmover/tenantmover/copy"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/require"

	"github.com/tenantmover/tenantmover/internal/db"
	"github.com/tenantmover/tenantmover/internal/ddl"
	"github.com/tenantmover/tenantmover/internal/pgtest"
	"github.com/tenantmover/tenantmover/internal/phase"
	"github.com/tenantmover/tenantmover/internal/plan"
	"github.com/tenantmover/tenantmover/internal/sample"
	"github.com/tenantmover/tenantmover/internal/schema"
)

var env pgtest.Env

func TestMain(m *testing.M) { env.Main(m, pgtest.WithCitus()) }

// runAs names a test copy's run (default "copy") and whether it restarts.
type runAs struct {
	name    string
	restart bool
}

// copyRun copies p from srcURL to dstURL with cfg, as run "copy" unless as
// says otherwise.
func copyRun(ctx context.Context, srcURL, dstURL string, p *plan.Plan, cfg pgcopy.Config, progress func(phase.Event), as ...runAs) (*pgcopy.Report, error) {
	env := &phase.Env{Source: srcURL, Target: dstURL, Plan: p, Run: "copy", Progress: progress}
	for _, a := range as {
		if a.name != "" {
			env.Run = a.name
		}
		env.Restart = a.restart
	}
	return pgcopy.Run(ctx, env, cfg)
}

// kinds says what each table of a hand-made plan is: "root", "direct:col",
// "nested:col", "reference". Tables not named are excluded.
type kinds map[string]string

// handPlan builds a plan from the source catalog and explicit kinds; the
// tests that do not depend on plan.Build's classification use it.
func handPlan(t *testing.T, src *pgxpool.Pool, k kinds) *plan.Plan {
	t.Helper()
	cat, err := schema.Load(context.Background(), src, nil)
	require.NoError(t, err)
	ordered, _ := cat.Order()
	p := &plan.Plan{Catalog: cat, TenantColumn: "store_id"}
	for _, st := range ordered {
		spec, ok := k[st.Name.String()]
		if !ok {
			spec = "excluded"
		}
		kind, col, _ := strings.Cut(spec, ":")
		pt := &plan.Table{Source: st, Kind: plan.Kind(kind), TenantColumn: col}
		pt.HasTenantColumn = col != "" && st.Column(col) != nil
		if pt.Kind == plan.Root {
			p.Root = pt
			p.RootKey = st.PrimaryKey.Columns[0]
			pt.TenantColumn = p.RootKey
			pt.HasTenantColumn = true
		}
		p.Tables = append(p.Tables, pt)
	}
	return p
}

// monolithSource generates the small sample monolith and simulates the
// backfill of store_id on the nested tables.
func monolithSource(t *testing.T, p sample.Params) (string, *pgxpool.Pool) {
	t.Helper()
	url := env.NewDB(t)
	pool := pgtest.Pool(t, url)
	require.NoError(t, sample.Generate(context.Background(), pool, p))
	backfill(t, pool)
	return url, pool
}

func backfill(t *testing.T, pool *pgxpool.Pool) {
	t.Helper()
	pgtest.Exec(t, pool, `ALTER TABLE purchase ADD COLUMN store_id bigint;
		UPDATE purchase p SET store_id = pr.store_id FROM product pr WHERE pr.id = p.product_id;
		ALTER TABLE refund ADD COLUMN store_id bigint;
		UPDATE refund r SET store_id = p.store_id FROM purchase p WHERE p.id = r.purchase_id;
		ANALYZE`)
}

// storePlan plans the monolith with --tenant-table store, as the copy
// command does: from the source after backfill.
func storePlan(t *testing.T, src *pgxpool.Pool) *plan.Plan {
	t.Helper()
	p, err := plan.Build(context.Background(), src, plan.Config{TenantTable: "store"})
	require.NoError(t, err)
	require.Empty(t, p.Blocking())
	require.Equal(t, plan.Nested, p.Table(schema.Name{Schema: "public", Name: "refund"}).Kind)
	return p
}

// appliedTarget creates the plan's target schema (plan --apply) on a new
// plain PostgreSQL database.
func appliedTarget(t *testing.T, p *plan.Plan) (string, *pgxpool.Pool) {
	t.Helper()
	url := env.NewDB(t)
	pool := pgtest.Pool(t, url)
	require.NoError(t, ddl.Apply(context.Background(), pool, p))
	return url, pool
}

// monolithPair is the backfilled small monolith, its plan and an applied
// plain target.
func monolithPair(t *testing.T, params sample.Params) (srcURL, dstURL string, src, dst *pgxpool.Pool, p *plan.Plan) {
	t.Helper()
	srcURL, src = monolithSource(t, params)
	p = storePlan(t, src)
	dstURL, dst = appliedTarget(t, p)
	return srcURL, dstURL, src, dst, p
}

// fingerprint is a table's row count and a hash of its rows in key order,
// over the source's columns by name (so column order does not matter).
func fingerprint(t *testing.T, pool *pgxpool.Pool, table *schema.Table, where string, args ...any) string {
	t.Helper()
	cols := table.ColumnNames()
	order := db.Idents(cols)
	if table.PrimaryKey != nil {
		order = db.Idents(table.PrimaryKey.Columns)
	}
	if where != "" {
		where = " WHERE " + where
	}
	sql := fmt.Sprintf("SELECT count(*)::text || ':' || coalesce(md5(string_agg(ROW(%s)::text, ',' ORDER BY %s)), '') FROM %s%s",
		db.Idents(cols), order, table.Name.Quoted(), where)
	return pgtest.Scalar[string](t, pool, sql, args...)
}

// requireSame checks that every table of p has the same rows on both sides.
func requireSame(t *testing.T, src, dst *pgxpool.Pool, p *plan.Plan) {
	t.Helper()
	for _, pt := range p.Tables {
		if pt.Kind == plan.Excluded {
			continue
		}
		want := fingerprint(t, src, pt.Source, "")
		require.False(t, strings.HasPrefix(want, "0:"), "%s is empty on the source: the test proves nothing", pt.Name())
		require.Equal(t, want, fingerprint(t, dst, pt.Source, ""), "table %s", pt.Name())
	}
}

func hasSchema(t *testing.T, pool *pgxpool.Pool, name string) bool {
	t.Helper()
	return pgtest.Scalar[bool](t, pool, "SELECT EXISTS (SELECT FROM pg_namespace WHERE nspname = $1)", name)
}
