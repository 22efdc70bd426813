// Command bench-verify measures tenantmover verify against the cheapest
// query that could answer the same question: for every table, the plain
//
//	SELECT tenant, count(*) FROM t GROUP BY tenant
//
// run on the source and the target concurrently (reference tables: a plain
// count(*)), with the same number of tables at a time as verify's workers.
// Both are timed in the same run on the same databases, alternately, and
// the medians are printed with their ratio; verify --checksum is timed too,
// and verify --recheck-foreign-keys (the invariant checks that the target's
// foreign keys hold rescanned anyway).
//
// The source is the sample monolith (default size large: 5 million
// purchases) with the tenant column backfilled on the nested tables.
// Without --url, throwaway servers are started (internal/localpg) and
// removed at the end: the source, and a Citus coordinator with two workers
// (or, without Citus, one more server); the targets, a plain PostgreSQL
// database on the coordinator's server and a Citus database, get the
// plan's schema and the source's rows with tenantmover's own copy. Each
// step's CPU seconds per server process (source, coordinator, each
// worker), read from /proc, are printed too: unlike wall time they do not
// depend on what else the machine runs. With --url the target is a
// CREATE DATABASE ... TEMPLATE of the source on the same server, and there
// are no CPU figures.
package main

import (
	"context"
	"flag"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"golang.org/x/sync/errgroup"

	pgcopy "github.com/tenantmover/tenantmover/copy"
	"github.com/tenantmover/tenantmover/internal/db"
	"github.com/tenantmover/tenantmover/internal/ddl"
	"github.com/tenantmover/tenantmover/internal/localpg"
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
	citus      bool
}

// server is one PostgreSQL server process whose CPU time is read.
type server struct {
	name    string
	dataDir string // "" when not on this machine
}

// target is a database verify compares the source with.
type target struct {
	name    string // postgres, citus
	url     string
	servers []server // the source's and the target's servers
}

func run(ctx context.Context) error {
	c := config{Flags: benchkit.AddFlags("keep and reuse the databases tm_bench_source/tm_bench_target if they exist (with --url)")}
	flag.IntVar(&c.runs, "runs", 3, "timed runs of each (the median is reported), after one warm-up")
	flag.IntVar(&c.workers, "workers", verify.DefaultWorkers, "verify workers; the baseline runs as many tables at a time")
	flag.BoolVar(&c.countsOnly, "counts-only", false, "time only the baseline and verify --skip-invariant")
	flag.BoolVar(&c.citus, "citus", true, "also measure a Citus coordinator with 2 workers as the target (without --url, when Citus is installed)")
	flag.Parse()
	srv, err := benchkit.StartServer(ctx, c.URL, serverSettings)
	if err != nil {
		return err
	}
	defer srv.Close()
	c.srv = srv
	if c.URL != "" {
		if err := prepareTemplate(ctx, c); err != nil {
			return err
		}
		return measure(ctx, c, target{name: "postgres", url: srv.URL(targetDB)})
	}
	targets, stop, err := startTargets(ctx, c)
	defer stop()
	if err != nil {
		return err
	}
	for _, t := range targets {
		if err := measure(ctx, c, t); err != nil {
			return fmt.Errorf("%s target: %w", t.name, err)
		}
	}
	return nil
}

// serverSettings are every throwaway server's: room for the tables in
// memory, so runs read from the cache alike.
var serverSettings = map[string]string{"shared_buffers": "'2GB'", "work_mem": "'64MB'"}

const (
	sourceDB = "tm_bench_source"
	targetDB = "tm_bench_target"
)

// prepareTemplate makes the backfilled source and its copy as the target
// on the one server --url names.
func prepareTemplate(ctx context.Context, c config) error {
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
	if err := generate(ctx, c); err != nil {
		return err
	}
	took, err := benchkit.Time(func() error { return c.srv.Create(ctx, targetDB, sourceDB) })
	if err != nil {
		return err
	}
	prog.Logf("target copied in %s", took.Round(time.Second))
	return nil
}

// generate makes the source: the sample monolith, backfilled.
func generate(ctx context.Context, c config) error {
	p, took, err := c.srv.Generate(ctx, sourceDB, c.Size)
	if err != nil {
		return err
	}
	prog.Logf("generated %d purchases in %s", p.Purchases, took.Round(time.Second))
	if took, err = benchkit.Time(func() error { return backfillSource(ctx, c) }); err != nil {
		return err
	}
	prog.Logf("backfilled in %s", took.Round(time.Second))
	return nil
}

// startTargets generates the source on the throwaway server and starts
// the targets' servers: a Citus coordinator and two workers when Citus is
// installed (the plain target is a database on the coordinator's server),
// else one plain server. stop stops them.
func startTargets(ctx context.Context, c config) (targets []target, stop func(), err error) {
	stop = func() {}
	if err := generate(ctx, c); err != nil {
		return nil, stop, err
	}
	src := server{name: "source", dataDir: c.srv.DataDir()}
	var cluster *localpg.Cluster
	if c.citus {
		cluster, err = localpg.StartCluster(localpg.ClusterOptions{Workers: 2})
		if localpg.IsCitusMissing(err) {
			prog.Logf("no Citus target: %v", err)
			cluster, err = nil, nil
		}
		if err != nil {
			return nil, stop, err
		}
	}
	var plainServer *localpg.Server
	if cluster != nil {
		stop = cluster.Close
		plainServer = cluster.Coordinator
	} else {
		if plainServer, err = localpg.Start(localpg.Options{Settings: serverSettings}); err != nil {
			return nil, stop, err
		}
		stop = func() { _ = plainServer.Close() }
	}
	if err := plainServer.CreateDatabase(ctx, targetDB); err != nil {
		return nil, stop, err
	}
	targets = append(targets, target{name: "postgres", url: plainServer.URL(targetDB),
		servers: []server{src, {name: "target", dataDir: plainServer.DataDir()}}})
	if cluster != nil {
		d, err := cluster.CreateDatabase(ctx, "tm_bench_citus")
		if err != nil {
			return nil, stop, err
		}
		t := target{name: "citus", url: d.Coordinator, servers: []server{src, {name: "coordinator", dataDir: cluster.Coordinator.DataDir()}}}
		for i, w := range cluster.Workers {
			t.servers = append(t.servers, server{name: fmt.Sprintf("worker%d", i+1), dataDir: w.DataDir()})
		}
		targets = append(targets, t)
	}
	for _, t := range targets {
		took, err := benchkit.Time(func() error { return load(ctx, c.srv.URL(sourceDB), t.url) })
		if err != nil {
			return nil, stop, fmt.Errorf("loading the %s target: %w", t.name, err)
		}
		prog.Logf("%s target loaded in %s", t.name, took.Round(time.Second))
	}
	return targets, stop, nil
}

// load creates the plan's schema on the target and copies the source into
// it with tenantmover's copy.
func load(ctx context.Context, srcURL, dstURL string) error {
	src, err := db.Open(ctx, srcURL, db.Options{MaxConns: 2})
	if err != nil {
		return err
	}
	defer src.Close()
	dst, err := db.Open(ctx, dstURL, db.Options{MaxConns: 2})
	if err != nil {
		return err
	}
	defer dst.Close()
	p, err := plan.Build(ctx, src, plan.Config{TenantTable: "store"})
	if err != nil {
		return err
	}
	if err := ddl.Apply(ctx, dst, p); err != nil {
		return err
	}
	if _, err := pgcopy.Run(ctx, &phase.Env{Source: srcURL, Target: dstURL, Plan: p, Run: "bench"}, pgcopy.Config{}); err != nil {
		return err
	}
	return benchkit.Exec(ctx, dst, "VACUUM ANALYZE")
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

// step is one thing timed: its runs' wall times and the CPU seconds each
// server spent in them.
type step struct {
	name  string
	note  string // what the last run said about the invariant checks
	fn    func() error
	times []time.Duration
	cpu   []float64 // per server of the target, summed over the runs
}

// measure times, on one target, the baseline and the verify variants
// alternately, and prints their medians, ratios and CPU seconds.
func measure(ctx context.Context, c config, t target) error {
	opts := db.ForProfile(db.ProfileScans)
	opts.Settings = verify.SessionSettings()
	opts.MaxConns = int32(c.workers + 1)
	src, err := db.Open(ctx, c.srv.URL(sourceDB), opts)
	if err != nil {
		return err
	}
	defer src.Close()
	dst, err := db.Open(ctx, t.url, opts)
	if err != nil {
		return err
	}
	defer dst.Close()
	p, err := plan.Build(ctx, src, plan.Config{TenantTable: "store"})
	if err != nil {
		return err
	}
	var rows int64
	var steps []*step
	verifying := func(cfg verify.Config) func() error {
		i := len(steps)
		return func() error {
			cfg.Workers = c.workers
			res, err := verify.Run(ctx, envOf(src, dst, p), cfg)
			if err != nil {
				return err
			}
			rows = totalRows(res)
			if len(res.Invariants) > 0 {
				steps[i].note = fmt.Sprintf("%d of %d invariant checks held by foreign keys", res.HeldInvariants(), len(res.Invariants))
			}
			return matched(res)
		}
	}
	add := func(name string, fn func() error) { steps = append(steps, &step{name: name, fn: fn}) }
	add("baseline GROUP BY", func() error { return baseline(ctx, src, dst, p, c.workers) })
	add("verify --skip-invariant", verifying(verify.Config{SkipInvariant: true}))
	add("verify", verifying(verify.Config{}))
	add("verify --checksum", verifying(verify.Config{Checksum: true}))
	add("verify --recheck-foreign-keys", verifying(verify.Config{RecheckForeignKeys: true}))
	if c.countsOnly {
		steps = steps[:2]
	}
	for r := 0; r <= c.runs; r++ {
		for _, s := range steps {
			took, cpu, err := timed(t.servers, s.fn)
			if err != nil {
				return fmt.Errorf("%s: %w", s.name, err)
			}
			if r == 0 {
				prog.Logf("%s warm-up %s: %s", t.name, s.name, took.Round(time.Millisecond))
				continue
			}
			s.times = append(s.times, took)
			if s.cpu == nil {
				s.cpu = make([]float64, len(cpu))
			}
			for i := range cpu {
				s.cpu[i] += cpu[i]
			}
		}
	}
	report(c, t, rows, steps)
	return nil
}

// timed runs fn and returns its wall time and the CPU seconds each server
// used meanwhile (nil when the servers are not on this machine).
func timed(servers []server, fn func() error) (time.Duration, []float64, error) {
	before, err := cpuSeconds(servers)
	if err != nil {
		return 0, nil, err
	}
	took, err := benchkit.Time(fn)
	if err != nil || before == nil {
		return took, nil, err
	}
	after, err := cpuSeconds(servers)
	for i := range after {
		after[i] -= before[i]
	}
	return took, after, err
}

// cpuSeconds reads each server's CPU seconds; nil when one is remote.
func cpuSeconds(servers []server) ([]float64, error) {
	out := make([]float64, len(servers))
	for i, s := range servers {
		if s.dataDir == "" {
			return nil, nil
		}
		var err error
		if out[i], err = benchkit.CPUSeconds(s.dataDir); err != nil {
			return nil, fmt.Errorf("CPU time of the %s server: %w", s.name, err)
		}
	}
	return out, nil
}

// report prints one target's figures: each step's median wall time and
// its ratio to the baseline's, then the mean CPU seconds of each server per
// run and the ratio of their total to the baseline's.
func report(c config, t target, rows int64, steps []*step) {
	base := upperMedian(steps[0].times)
	var baseCPU float64
	for _, x := range steps[0].cpu {
		baseCPU += x
	}
	fmt.Printf("verify benchmark, %s target: monolith %s, %d rows per side, %d workers, median of %d runs\n", t.name, c.Size, rows, c.workers, c.runs)
	for _, s := range steps {
		m := upperMedian(s.times)
		note := ""
		if s.note != "" {
			note = "; " + s.note
		}
		fmt.Printf("  %-29s %9s  %.2fx baseline  (runs: %v%s)\n", s.name, m.Round(time.Millisecond), benchkit.Ratio(m, base), rounded(s.times), note)
	}
	if steps[0].cpu == nil {
		return
	}
	names := make([]string, len(t.servers))
	for i, s := range t.servers {
		names[i] = s.name
	}
	fmt.Printf("  CPU seconds per run           %s  total  vs baseline\n", strings.Join(names, "  "))
	for _, s := range steps {
		var total float64
		cols := make([]string, len(s.cpu))
		for i, x := range s.cpu {
			cols[i] = fmt.Sprintf("%*.2f", len(names[i]), x/float64(c.runs))
			total += x
		}
		fmt.Printf("  %-29s %s  %5.2f  %.2fx\n", s.name, strings.Join(cols, "  "), total/float64(c.runs), total/baseCPU)
	}
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
