package verify_test

import (
	"context"
	"testing"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/require"

	"github.com/tenantmover/tenantmover/internal/db"
	"github.com/tenantmover/tenantmover/internal/pgtest"
	"github.com/tenantmover/tenantmover/internal/phase"
	"github.com/tenantmover/tenantmover/internal/plan"
	"github.com/tenantmover/tenantmover/internal/sample"
	"github.com/tenantmover/tenantmover/verify"
)

var env pgtest.Env

func TestMain(m *testing.M) { env.Main(m, pgtest.WithCitus()) }

// params is a small monolith: enough tenants and rows for every table to
// have several tenants, fast to generate.
func params() sample.Params {
	return sample.Params{Stores: 12, Products: 120, Purchases: 1200, Refunds: 150, Companies: 4, Users: 30,
		CampaignsPerCompany: 3, MembershipsPerCompany: 5, Skew: 1, Seed: 0.42}
}

// open opens a pool as the verify command does (its session settings and
// pool size), where pgtest.Pool would use pgx's defaults.
func open(t *testing.T, url string) *pgxpool.Pool {
	t.Helper()
	opts := db.ForProfile(db.ProfileScans)
	opts.Settings = verify.SessionSettings()
	opts.MaxConns = 8
	pool, err := db.Open(context.Background(), url, opts)
	require.NoError(t, err)
	t.Cleanup(pool.Close)
	return pool
}

func buildPlan(t *testing.T, src *pgxpool.Pool, tenantTable string) *plan.Plan {
	t.Helper()
	p, err := plan.Build(context.Background(), src, plan.Config{TenantTable: tenantTable})
	require.NoError(t, err)
	return p
}

// backfill adds and fills the tenant column of purchase and refund (what
// the backfill phase does on the source and copy carries to the target).
func backfill(t *testing.T, pool *pgxpool.Pool) {
	t.Helper()
	pgtest.Exec(t, pool, `ALTER TABLE purchase ADD COLUMN store_id bigint;
		UPDATE purchase p SET store_id = pr.store_id FROM product pr WHERE pr.id = p.product_id;
		ALTER TABLE refund ADD COLUMN store_id bigint;
		UPDATE refund r SET store_id = p.store_id FROM purchase p WHERE p.id = r.purchase_id`)
}

// envOf is the environment of a verification of p between the databases
// of pools src and dst (nil: none).
func envOf(src, dst *pgxpool.Pool, p *plan.Plan, progress func(phase.Event)) *phase.Env {
	env := &phase.Env{Source: src.Config().ConnString(), Plan: p, Progress: progress}
	if dst != nil {
		env.Target = dst.Config().ConnString()
	}
	return env
}

func run(t *testing.T, src, dst *pgxpool.Pool, url string, p *plan.Plan, cfg verify.Config) *verify.Result {
	t.Helper()
	res, err := verify.Run(context.Background(), envOf(src, dst, p, nil), cfg)
	require.NoError(t, err)
	return res
}

// only returns the differences of one kind on one table.
func only(res *verify.Result, kind, table string) []verify.Difference {
	var out []verify.Difference
	for _, d := range res.Differences {
		if d.Kind == kind && d.Table == table {
			out = append(out, d)
		}
	}
	return out
}
