// Command bench-verify measures tenantmover verify against the cheapest
// query that could answer the same question: for every table, the plain
//
//	SELECT tenant, count(*) FROM t GROUP BY tenant
//
// run on the source and the target concurrently (reference tables: a plain
// count(*)), with the same number of tables at a time as verify's workers.
// Both are timed in the same run on the same databases, alternately, and
// the medians are printed with their ratio; verify --checksum is timed too.
//
// The databases are the sample monolith (default size large: 5 million
// purchases) with the tenant column backfilled on the nested tables, and a
// target made from it with CREATE DATABASE ... TEMPLATE: a plain
// PostgreSQL target holding the same rows. Without --url a throwaway server
// is started (internal/localpg) and removed at the end.
package main

import (
	"context"
	"flag"
	"fmt"
	"sort"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"golang.org/x/sync/errgroup"

	"github.com/tenantmover/tenantmover/internal/db"
	"github.com/tenantmover/tenantmover/internal/phase"
	"github.com/tenantmover/tenantmover/internal/plan"
	"github.com/tenantmover/tenantmover/scripts/benchkit"
	"github.com/tenantmover/tenantmover/verify"
)

const prog = benchkit.Program("bench-verify")

func main() { prog.Main(run) }

type config struct {
	*benchkit.Flags
	srv     *benchkit.Server
	runs    int
	workers int
	// countsOnly leaves out the slower verify variants.
	countsOnly bool
}

func run(ctx context.Context) error {
	c := config{Flags: benchkit.AddFlags("keep and reuse the databases tm_bench_source/tm_bench_target if they exist")}
	flag.IntVar(&c.runs, "runs", 3, "timed runs of each (the median is reported), after one warm-up")
	flag.IntVar(&c.workers, "workers", verify.DefaultWorkers, "verify workers; the baseline runs as many tables at a time")
	flag.BoolVar(&c.countsOnly, "counts-only", false, "time only the baseline and verify --skip-invariant")
	flag.Parse()
	srv, err := benchkit.StartServer(ctx, c.URL, map[string]string{"shared_buffers": "'2GB'", "work_mem": "'64MB'"})
	if err != nil {
		return err
	}
	defer srv.Close()
	c.srv = srv
	if err := prepare(ctx, c); err != nil {
		return err
	}
	return measure(ctx, c)
}

const (
	sourceDB = "tm_bench_source"
	targetDB = "tm_bench_target"
)

// prepare makes the backfilled source and its copy as the target.
func prepare(ctx context.Context, c config) error {
	exists, err := c.srv.Exists(ctx, targetDB)
	if err != nil {
		return err
	}
	if exists && c.Reuse {
		prog.Logf("reusing %s and %s", sourceDB, targetDB)
		return nil
	}
	if err := c.srv.Drop(ctx, targetDB); err != nil {
		return err
	}
	p, took, err := c.srv.Generate(ctx, sourceDB, c.Size)
	if err != nil {
		return err
	}
	prog.Logf("generated %d purchases in %s", p.Purchases, took.Round(time.Second))
	if took, err = benchkit.Time(func() error { return backfillSource(ctx, c) }); err != nil {
		return err
	}
	prog.Logf("backfilled in %s", took.Round(time.Second))
	if took, err = benchkit.Time(func() error { return c.srv.Create(ctx, targetDB, sourceDB) }); err != nil {
		return err
	}
	prog.Logf("target copied in %s", took.Round(time.Second))
	return nil
}

// backfillSource does on the source what backfill leaves there: the tenant
// column filled on the nested tables.
func backfillSource(ctx context.Context, c config) error {
	pool, err := db.Open(ctx, c.srv.URL(sourceDB), db.Options{MaxConns: 4})
	if err != nil {
		return err
	}
	defer pool.Close()
	return benchkit.Exec(ctx, pool,
		`ALTER TABLE purchase ADD COLUMN store_id bigint`,
		`UPDATE purchase p SET store_id = pr.store_id FROM product pr WHERE pr.id = p.product_id`,
		`ALTER TABLE refund ADD COLUMN store_id bigint`,
		`UPDATE refund r SET store_id = p.store_id FROM purchase p WHERE p.id = r.purchase_id`,
		`VACUUM ANALYZE`,
	)
}

// measure times baseline, verify and verify --checksum alternately.
func measure(ctx context.Context, c config) error {
	opts := db.ForProfile(db.ProfileScans)
	opts.Settings = verify.SessionSettings()
	opts.MaxConns = int32(c.workers + 1)
	src, err := db.Open(ctx, c.srv.URL(sourceDB), opts)
	if err != nil {
		return err
	}
	defer src.Close()
	dst, err := db.Open(ctx, c.srv.URL(targetDB), opts)
	if err != nil {
		return err
	}
	defer dst.Close()
	p, err := plan.Build(ctx, src, plan.Config{TenantTable: "store"})
	if err != nil {
		return err
	}
	var rows int64
	steps := []struct {
		name  string
		fn    func() error
		times []time.Duration
	}{
		{name: "baseline GROUP BY", fn: func() error { return baseline(ctx, src, dst, p, c.workers) }},
		{name: "verify --skip-invariant", fn: func() error {
			res, err := verify.Run(ctx, envOf(src, dst, p), verify.Config{Workers: c.workers, SkipInvariant: true})
			if err == nil {
				rows = totalRows(res)
				err = matched(res)
			}
			return err
		}},
		{name: "verify", fn: func() error { return verifyWith(ctx, src, dst, c, p, verify.Config{}) }},
		{name: "verify --checksum --skip-invariant", fn: func() error {
			return verifyWith(ctx, src, dst, c, p, verify.Config{Checksum: true, SkipInvariant: true})
		}},
	}
	if c.countsOnly {
		steps = steps[:2]
	}
	for r := 0; r <= c.runs; r++ {
		for i := range steps {
			took, err := benchkit.Time(steps[i].fn)
			if err != nil {
				return fmt.Errorf("%s: %w", steps[i].name, err)
			}
			if r == 0 {
				prog.Logf("warm-up %s: %s", steps[i].name, took.Round(time.Millisecond))
				continue
			}
			steps[i].times = append(steps[i].times, took)
		}
	}
	base := upperMedian(steps[0].times)
	fmt.Printf("verify benchmark: monolith %s, %d rows per side, %d workers, median of %d runs\n", c.Size, rows, c.workers, c.runs)
	for _, s := range steps {
		m := upperMedian(s.times)
		fmt.Printf("  %-36s %9s  %.2fx baseline  (runs: %v)\n", s.name, m.Round(time.Millisecond), benchkit.Ratio(m, base), rounded(s.times))
	}
	return nil
}

// baseline runs, for every table verify compares, the plain per-tenant
// count on both sides at once, reading every group as verify does, biggest
// tables first as verify schedules them.
func baseline(ctx context.Context, src, dst *pgxpool.Pool, p *plan.Plan, workers int) error {
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(workers)
	tables := append([]*plan.Table(nil), p.Tables...)
	sort.SliceStable(tables, func(i, j int) bool { return tables[i].Source.Bytes > tables[j].Source.Bytes })
	for _, t := range tables {
		if t.Kind == plan.Excluded {
			continue
		}
		sql := "SELECT count(*) FROM " + t.Name().Quoted()
		if t.Kind.Distributed() {
			col := db.Ident(t.TenantColumn)
			sql = "SELECT " + col + ", count(*) FROM " + t.Name().Quoted() + " GROUP BY " + col
		}
		g.Go(func() error {
			both, bctx := errgroup.WithContext(gctx)
			for _, pool := range []*pgxpool.Pool{src, dst} {
				both.Go(func() error { return drain(bctx, pool, sql) })
			}
			return both.Wait()
		})
	}
	return g.Wait()
}

func drain(ctx context.Context, pool *pgxpool.Pool, sql string) error {
	rows, err := pool.Query(ctx, sql)
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		if _, err := rows.Values(); err != nil {
			return err
		}
	}
	return rows.Err()
}

// envOf is the environment of a verification of p between the databases
// of pools src and dst.
func envOf(src, dst *pgxpool.Pool, p *plan.Plan) *phase.Env {
	return &phase.Env{Source: src.Config().ConnString(), Target: dst.Config().ConnString(), Plan: p}
}

func verifyWith(ctx context.Context, src, dst *pgxpool.Pool, c config, p *plan.Plan, cfg verify.Config) error {
	cfg.Workers = c.workers
	res, err := verify.Run(ctx, envOf(src, dst, p), cfg)
	if err != nil {
		return err
	}
	return matched(res)
}

func matched(res *verify.Result) error {
	if !res.Match {
		return fmt.Errorf("source and target differ: %+v", res.Differences[0])
	}
	return nil
}

func totalRows(res *verify.Result) int64 {
	var n int64
	for _, t := range res.Overview.Tables {
		n += t.SourceRows
	}
	return n
}

// upperMedian is the median of an odd number of runs and the upper of the
// two middle ones of an even number: the figure this benchmark has always
// printed (benchkit.Median would average the two).
func upperMedian(ds []time.Duration) time.Duration {
	s := append([]time.Duration(nil), ds...)
	sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
	return s[len(s)/2]
}

func rounded(ds []time.Duration) []string {
	out := make([]string, len(ds))
	for i, d := range ds {
		out[i] = d.Round(time.Millisecond).String()
	}
	return out
}
