package main

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/tenantmover/tenantmover/backfill"
	"github.com/tenantmover/tenantmover/internal/db"
	"github.com/tenantmover/tenantmover/internal/phase"
	"github.com/tenantmover/tenantmover/internal/plan"
	"github.com/tenantmover/tenantmover/scripts/benchkit"
)

// The plain contender adds the column before it is timed and creates its
// index after; with --index-first the backfill gets both before.
const (
	addColumn   = "ALTER TABLE purchase ADD COLUMN store_id bigint"
	createIndex = "CREATE INDEX ON purchase (store_id)"
)

// runPlain times the single UPDATE (and, apart, an index on the column).
func runPlain(ctx context.Context, c config, purchases int64) (*result, error) {
	pool, err := openWarm(ctx, c.srv.URL(plainDB), 2)
	if err != nil {
		return nil, err
	}
	defer pool.Close()
	if err := benchkit.Exec(ctx, pool, addColumn); err != nil {
		return nil, err
	}
	r := &result{name: "plain UPDATE"}
	err = observe(ctx, c, plainDB, purchases, r, func() error {
		return benchkit.Exec(ctx, pool, "UPDATE purchase SET store_id = product.store_id FROM product WHERE product.id = purchase.product_id")
	})
	if err != nil {
		return nil, err
	}
	prog.Logf("plain UPDATE: %s", r.took.Round(time.Millisecond))
	if r.index, err = benchkit.Time(func() error { return benchkit.Exec(ctx, pool, createIndex) }); err != nil {
		return nil, err
	}
	return r, nil
}

// runTool times backfill.Run on purchase (refund excluded), as the command
// runs it.
func runTool(ctx context.Context, c config, purchases int64, dbname string, indexFirst bool) (*result, error) {
	pool, err := openWarm(ctx, c.srv.URL(dbname), int32(c.workers+4))
	if err != nil {
		return nil, err
	}
	defer pool.Close()
	if indexFirst {
		if err := benchkit.Exec(ctx, pool, addColumn, createIndex); err != nil {
			return nil, err
		}
	}
	p, err := plan.Build(ctx, pool, plan.Config{TenantTable: "store", Excludes: []string{"refund"}})
	if err != nil {
		return nil, err
	}
	name := "tenantmover backfill"
	if indexFirst {
		name += " (index first)"
	}
	r := &result{name: name}
	var fillStart, filled time.Time
	var rep *backfill.Report
	err = observe(ctx, c, dbname, purchases, r, func() error {
		var err error
		env := &phase.Env{Source: pool.Config().ConnString(), Plan: p, Run: "bench", Progress: func(ev phase.Event) {
			switch {
			case ev.Kind == phase.Planned:
				fillStart = time.Now()
			case ev.Kind == phase.Finished && ev.Step == backfill.StepFilled:
				filled = time.Now()
			}
		}}
		rep, err = backfill.Run(ctx, env, backfill.Config{Workers: c.workers, BatchTime: c.batchTime})
		return err
	})
	if err != nil {
		return nil, err
	}
	r.fill = filled.Sub(fillStart)
	r.maxBatch = rep.MaxBatch()
	var nulls int64
	if err := pool.QueryRow(ctx, "SELECT count(*) FROM purchase WHERE store_id IS NULL").Scan(&nulls); err != nil || nulls != 0 {
		return nil, fmt.Errorf("%s left %d NULLs (%v)", name, nulls, err)
	}
	prog.Logf("%s: %s (fill %s, %d batches)", name, r.took.Round(time.Millisecond), r.fill.Round(time.Millisecond), rep.Tables[0].Batches)
	return r, nil
}

// openWarm opens a pool and reads the tables involved once, so neither
// contender pays for a cold cache the other does not, then checkpoints.
func openWarm(ctx context.Context, url string, conns int32) (*pgxpool.Pool, error) {
	opts := db.ForProfile(db.ProfileBatches)
	opts.StatementTimeout = 0
	opts.MaxConns = conns
	pool, err := db.Open(ctx, url, opts)
	if err != nil {
		return nil, err
	}
	if err := benchkit.Exec(ctx, pool, "SELECT count(*) FROM purchase", "SELECT count(*) FROM product", "CHECKPOINT"); err != nil {
		pool.Close()
		return nil, err
	}
	return pool, nil
}
