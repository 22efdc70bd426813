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
// is started (internal/pgtest) and removed at the end.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"sort"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"golang.org/x/sync/errgroup"

	"github.com/tenantmover/tenantmover/internal/db"
	"github.com/tenantmover/tenantmover/internal/pgtest"
	"github.com/tenantmover/tenantmover/internal/plan"
	"github.com/tenantmover/tenantmover/scripts/monolith"
	"github.com/tenantmover/tenantmover/verify"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	if err := run(ctx); err != nil {
		fmt.Fprintln(os.Stderr, "bench-verify:", db.RedactError(err))
		os.Exit(1)
	}
}

type config struct {
	url     func(dbname string) string
	size    string
	runs    int
	workers int
	reuse   bool
	// countsOnly leaves out the slower verify variants.
	countsOnly bool
}

func run(ctx context.Context) error {
	admin := flag.String("url", "", "a server to use: URL of any database on it, as a superuser (default: start a throwaway server)")
	size := flag.String("size", "large", "monolith size preset: small, medium, large")
	runs := flag.Int("runs", 3, "timed runs of each (the median is reported), after one warm-up")
	workers := flag.Int("workers", verify.DefaultWorkers, "verify workers; the baseline runs as many tables at a time")
	reuse := flag.Bool("reuse", false, "keep and reuse the databases tm_bench_source/tm_bench_target if they exist")
	countsOnly := flag.Bool("counts-only", false, "time only the baseline and verify --skip-invariant")
	flag.Parse()
	c := config{size: *size, runs: *runs, workers: *workers, reuse: *reuse, countsOnly: *countsOnly}
	if *admin == "" {
		srv, err := pgtest.Start(pgtest.Options{Settings: map[string]string{"shared_buffers": "'2GB'", "work_mem": "'64MB'"}})
		if err != nil {
			return err
		}
		defer srv.Close()
		c.url = srv.URL
	} else {
		cfg, err := pgx.ParseConfig(*admin)
		if err != nil {
			return err
		}
		c.url = func(name string) string {
			return fmt.Sprintf("postgres://%s@%s:%d/%s?sslmode=disable", cfg.User, cfg.Host, cfg.Port, name)
		}
	}
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
	adminPool, err := db.Open(ctx, c.url("postgres"), db.Options{})
	if err != nil {
		return err
	}
	defer adminPool.Close()
	var exists bool
	if err := adminPool.QueryRow(ctx, `SELECT EXISTS (SELECT FROM pg_database WHERE datname = $1)`, targetDB).Scan(&exists); err != nil {
		return err
	}
	if exists && c.reuse {
		logf("reusing %s and %s", sourceDB, targetDB)
		return nil
	}
	for _, d := range []string{targetDB, sourceDB} {
		if _, err := adminPool.Exec(ctx, "DROP DATABASE IF EXISTS "+db.Ident(d)+" WITH (FORCE)"); err != nil {
			return err
		}
	}
	if _, err := adminPool.Exec(ctx, "CREATE DATABASE "+db.Ident(sourceDB)); err != nil {
		return err
	}
	if err := fillSource(ctx, c); err != nil {
		return err
	}
	start := time.Now()
	if _, err := adminPool.Exec(ctx, "CREATE DATABASE "+db.Ident(targetDB)+" TEMPLATE "+db.Ident(sourceDB)); err != nil {
		return err
	}
	logf("target copied in %s", time.Since(start).Round(time.Second))
	return nil
}

func fillSource(ctx context.Context, c config) error {
	p, err := monolith.Size(c.size)
	if err != nil {
		return err
	}
	pool, err := db.Open(ctx, c.url(sourceDB), db.Options{MaxConns: 4})
	if err != nil {
		return err
	}
	defer pool.Close()
	start := time.Now()
	if err := monolith.Generate(ctx, pool, p, monolith.WithWorkers(2)); err != nil {
		return err
	}
	logf("generated %d purchases in %s", p.Purchases, time.Since(start).Round(time.Second))
	start = time.Now()
	// What backfill leaves on the source: the tenant column filled on
	// the nested tables.
	for _, sql := range []string{
		`ALTER TABLE purchase ADD COLUMN store_id bigint`,
		`UPDATE purchase p SET store_id = pr.store_id FROM product pr WHERE pr.id = p.product_id`,
		`ALTER TABLE refund ADD COLUMN store_id bigint`,
		`UPDATE refund r SET store_id = p.store_id FROM purchase p WHERE p.id = r.purchase_id`,
		`VACUUM ANALYZE`,
	} {
		if _, err := pool.Exec(ctx, sql); err != nil {
			return fmt.Errorf("%s: %w", sql, err)
		}
	}
	logf("backfilled in %s", time.Since(start).Round(time.Second))
	return nil
}

// measure times baseline, verify and verify --checksum alternately.
func measure(ctx context.Context, c config) error {
	opts := db.ForPhase(db.PhaseVerify)
	opts.Settings = verify.SessionSettings()
	opts.MaxConns = int32(c.workers + 1)
	src, err := db.Open(ctx, c.url(sourceDB), opts)
	if err != nil {
		return err
	}
	defer src.Close()
	dst, err := db.Open(ctx, c.url(targetDB), opts)
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
			res, err := verify.Run(ctx, src, dst, c.url(targetDB), p, verify.Config{Workers: c.workers, SkipInvariant: true}, nil)
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
			start := time.Now()
			if err := steps[i].fn(); err != nil {
				return fmt.Errorf("%s: %w", steps[i].name, err)
			}
			took := time.Since(start)
			if r == 0 {
				logf("warm-up %s: %s", steps[i].name, took.Round(time.Millisecond))
				continue
			}
			steps[i].times = append(steps[i].times, took)
		}
	}
	base := median(steps[0].times)
	fmt.Printf("verify benchmark: monolith %s, %d rows per side, %d workers, median of %d runs\n", c.size, rows, c.workers, c.runs)
	for _, s := range steps {
		m := median(s.times)
		fmt.Printf("  %-36s %9s  %.2fx baseline  (runs: %v)\n", s.name, m.Round(time.Millisecond), float64(m)/float64(base), rounded(s.times))
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

func verifyWith(ctx context.Context, src, dst *pgxpool.Pool, c config, p *plan.Plan, cfg verify.Config) error {
	cfg.Workers = c.workers
	res, err := verify.Run(ctx, src, dst, c.url(targetDB), p, cfg, nil)
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
	for _, t := range res.Summary.Tables {
		n += t.SourceRows
	}
	return n
}

func median(ds []time.Duration) time.Duration {
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

func logf(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "bench-verify: "+format+"\n", args...)
}
