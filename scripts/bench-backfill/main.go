// Command bench-backfill measures tenantmover backfill against the one
// statement a DBA would otherwise run:
//
//	UPDATE purchase SET store_id = product.store_id FROM product WHERE product.id = purchase.product_id
//
// on identical copies of the sample monolith (CREATE DATABASE ... TEMPLATE;
// default size large: 5 million purchases), in the same run, and prints the
// times and their ratio. During each, a single-row writer updates random
// purchases (about 200 a second, as an application would) and its latency
// percentiles are printed: the plain UPDATE holds every row it touched until
// it commits, a backfill batch only for its own short transaction (writes
// that were due while the writer waited count, as in HdrHistogram). The
// longest time any batch held its locks is printed against 4 x --batch-time.
//
// Both run -rounds times, alternating which goes first, on fresh copies,
// because a shared machine's load drifts; medians and each round's ratio
// are printed. The backfill fills purchase only (refund is excluded from its plan), like
// the statement. Its total includes what the statement does not do: the
// trigger, the index on the column and the completeness proof; the fill
// phase alone is printed too, and the statement plus a CREATE INDEX for a
// like-for-like comparison. With -index-first a third copy measures the
// fill with the index created before it (the design choice in
// backfill/ddl.go). Without --url a throwaway server is started and removed.
package main

import (
	"context"
	"flag"
	"fmt"
	"math/rand/v2"
	"os"
	"os/signal"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/tenantmover/tenantmover/backfill"
	"github.com/tenantmover/tenantmover/internal/db"
	"github.com/tenantmover/tenantmover/internal/pgtest"
	"github.com/tenantmover/tenantmover/internal/plan"
	"github.com/tenantmover/tenantmover/scripts/monolith"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	if err := run(ctx); err != nil {
		fmt.Fprintln(os.Stderr, "bench-backfill:", db.RedactError(err))
		os.Exit(1)
	}
}

type config struct {
	url        func(dbname string) string
	size       string
	workers    int
	batchTime  time.Duration
	reuse      bool
	indexFirst bool
	writeRate  int
	rounds     int
}

const (
	baseDB  = "tm_bb_base"
	plainDB = "tm_bb_plain"
	toolDB  = "tm_bb_tool"
	firstDB = "tm_bb_index_first"
)

func run(ctx context.Context) error {
	admin := flag.String("url", "", "a server to use: URL of any database on it, as a superuser (default: start a throwaway server)")
	c := config{}
	flag.StringVar(&c.size, "size", "large", "monolith size preset: small, medium, large")
	flag.IntVar(&c.workers, "workers", 2, "backfill --workers")
	flag.DurationVar(&c.batchTime, "batch-time", 200*time.Millisecond, "backfill --batch-time")
	flag.BoolVar(&c.reuse, "reuse", false, "reuse the generated monolith in database "+baseDB+" if it exists")
	flag.BoolVar(&c.indexFirst, "index-first", false, "also time the fill with the index on the column created before it")
	flag.IntVar(&c.writeRate, "write-rate", 200, "single-row writes per second during each run")
	flag.IntVar(&c.rounds, "rounds", 2, "rounds of plain UPDATE and backfill, alternating which goes first (the machine's load drifts)")
	flag.Parse()
	if *admin == "" {
		srv, err := pgtest.Start(pgtest.Options{Settings: map[string]string{
			"shared_buffers": "'2GB'", "max_wal_size": "'8GB'", "checkpoint_timeout": "'30min'",
		}})
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
	purchases, err := prepare(ctx, c)
	if err != nil {
		return err
	}
	return measure(ctx, c, purchases)
}

// prepare generates the monolith once; each contender works on a copy.
func prepare(ctx context.Context, c config) (int64, error) {
	adminPool, err := db.Open(ctx, c.url("postgres"), db.Options{})
	if err != nil {
		return 0, err
	}
	defer adminPool.Close()
	var exists bool
	if err := adminPool.QueryRow(ctx, `SELECT EXISTS (SELECT FROM pg_database WHERE datname = $1)`, baseDB).Scan(&exists); err != nil {
		return 0, err
	}
	if !exists || !c.reuse {
		if err := generate(ctx, c, adminPool); err != nil {
			return 0, err
		}
	}
	pool, err := db.Open(ctx, c.url(baseDB), db.Options{})
	if err != nil {
		return 0, err
	}
	defer pool.Close()
	var n int64
	return n, pool.QueryRow(ctx, "SELECT count(*) FROM purchase").Scan(&n)
}

func generate(ctx context.Context, c config, adminPool *pgxpool.Pool) error {
	p, err := monolith.Size(c.size)
	if err != nil {
		return err
	}
	for _, sql := range []string{"DROP DATABASE IF EXISTS " + db.Ident(baseDB) + " WITH (FORCE)", "CREATE DATABASE " + db.Ident(baseDB)} {
		if _, err := adminPool.Exec(ctx, sql); err != nil {
			return err
		}
	}
	pool, err := db.Open(ctx, c.url(baseDB), db.Options{MaxConns: 4})
	if err != nil {
		return err
	}
	defer pool.Close()
	start := time.Now()
	if err := monolith.Generate(ctx, pool, p, monolith.WithWorkers(2)); err != nil {
		return err
	}
	if _, err := pool.Exec(ctx, "VACUUM ANALYZE"); err != nil {
		return err
	}
	logf("generated %d purchases in %s", p.Purchases, time.Since(start).Round(time.Second))
	return nil
}

// result is one contender's measurement.
type result struct {
	name     string
	took     time.Duration
	fill     time.Duration // backfill: its fill phase
	index    time.Duration // plain: a CREATE INDEX after the UPDATE
	maxBatch time.Duration
	writes   latencies
	// cpu is the CPU time the server spent for the contender: its own
	// backends and the autovacuum workers in its database (the writer's
	// backend excluded). Unlike wall time it hardly depends on what else
	// the machine runs.
	cpu time.Duration
	// writeErrors are the writer's failed statements (none expected: it
	// has no lock_timeout, like an application).
	writeErrors int
}

func measure(ctx context.Context, c config, purchases int64) error {
	var plains, tools []*result
	for round := 0; round < c.rounds; round++ {
		order := []bool{false, true} // plain first on even rounds
		if round%2 == 1 {
			order = []bool{true, false}
		}
		for _, tool := range order {
			var r *result
			var err error
			if tool {
				r, err = onCopy(ctx, c, toolDB, func() (*result, error) { return runTool(ctx, c, purchases, toolDB, false) })
				tools = append(tools, r)
			} else {
				r, err = onCopy(ctx, c, plainDB, func() (*result, error) { return runPlain(ctx, c, purchases) })
				plains = append(plains, r)
			}
			if err != nil {
				return err
			}
		}
	}
	var first *result
	if c.indexFirst {
		var err error
		if first, err = onCopy(ctx, c, firstDB, func() (*result, error) { return runTool(ctx, c, purchases, firstDB, true) }); err != nil {
			return err
		}
	}
	report(c, purchases, plains, tools, first)
	return nil
}

// onCopy runs fn on a fresh copy of the monolith called name, dropped after.
func onCopy(ctx context.Context, c config, name string, fn func() (*result, error)) (*result, error) {
	adminPool, err := db.Open(ctx, c.url("postgres"), db.Options{})
	if err != nil {
		return nil, err
	}
	defer adminPool.Close()
	drop := "DROP DATABASE IF EXISTS " + db.Ident(name) + " WITH (FORCE)"
	for _, sql := range []string{drop, "CREATE DATABASE " + db.Ident(name) + " TEMPLATE " + db.Ident(baseDB)} {
		if _, err := adminPool.Exec(ctx, sql); err != nil {
			return nil, err
		}
	}
	r, err := fn()
	if _, derr := adminPool.Exec(ctx, drop); err == nil {
		err = derr
	}
	return r, err
}

// runPlain times the single UPDATE (and, apart, an index on the column).
func runPlain(ctx context.Context, c config, purchases int64) (*result, error) {
	pool, err := openWarm(ctx, c.url(plainDB), 2)
	if err != nil {
		return nil, err
	}
	defer pool.Close()
	if _, err := pool.Exec(ctx, "ALTER TABLE purchase ADD COLUMN store_id bigint"); err != nil {
		return nil, err
	}
	r := &result{name: "plain UPDATE"}
	w, err := startWriter(ctx, c.url(plainDB), purchases, c.writeRate)
	if err != nil {
		return nil, err
	}
	cpu, err := startCPUMeter(ctx, c, plainDB)
	if err != nil {
		return nil, err
	}
	start := time.Now()
	_, err = pool.Exec(ctx, "UPDATE purchase SET store_id = product.store_id FROM product WHERE product.id = purchase.product_id")
	r.took = time.Since(start)
	r.cpu = cpu.stop()
	r.writes, r.writeErrors = w.stop()
	if err != nil {
		return nil, err
	}
	logf("plain UPDATE: %s", r.took.Round(time.Millisecond))
	start = time.Now()
	if _, err := pool.Exec(ctx, "CREATE INDEX ON purchase (store_id)"); err != nil {
		return nil, err
	}
	r.index = time.Since(start)
	return r, nil
}

// runTool times backfill.Run on purchase (refund excluded), as the command
// runs it.
func runTool(ctx context.Context, c config, purchases int64, dbname string, indexFirst bool) (*result, error) {
	pool, err := openWarm(ctx, c.url(dbname), int32(c.workers+4))
	if err != nil {
		return nil, err
	}
	defer pool.Close()
	if indexFirst {
		for _, sql := range []string{"ALTER TABLE purchase ADD COLUMN store_id bigint", "CREATE INDEX ON purchase (store_id)"} {
			if _, err := pool.Exec(ctx, sql); err != nil {
				return nil, err
			}
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
	w, err := startWriter(ctx, c.url(dbname), purchases, c.writeRate)
	if err != nil {
		return nil, err
	}
	cpu, err := startCPUMeter(ctx, c, dbname)
	if err != nil {
		return nil, err
	}
	start := time.Now()
	rep, err := backfill.Run(ctx, pool, p, backfill.Config{Workers: c.workers, BatchTime: c.batchTime, RunName: "bench"}, func(pr backfill.Progress) {
		switch pr.Stage {
		case backfill.StagePrepare:
			fillStart = time.Now()
		case backfill.StageFilled:
			filled = time.Now()
		}
	})
	r.took = time.Since(start)
	r.cpu = cpu.stop()
	r.writes, r.writeErrors = w.stop()
	if err != nil {
		return nil, err
	}
	r.fill = filled.Sub(fillStart)
	r.maxBatch = rep.MaxBatch()
	var nulls int64
	if err := pool.QueryRow(ctx, "SELECT count(*) FROM purchase WHERE store_id IS NULL").Scan(&nulls); err != nil || nulls != 0 {
		return nil, fmt.Errorf("%s left %d NULLs (%v)", name, nulls, err)
	}
	logf("%s: %s (fill %s, %d batches)", name, r.took.Round(time.Millisecond), r.fill.Round(time.Millisecond), rep.Tables[0].Batches)
	return r, nil
}

// openWarm opens a pool and reads the tables involved once, so neither
// contender pays for a cold cache the other does not, then checkpoints.
func openWarm(ctx context.Context, url string, conns int32) (*pgxpool.Pool, error) {
	opts := db.ForPhase(db.PhaseBackfill)
	opts.StatementTimeout = 0
	opts.MaxConns = conns
	pool, err := db.Open(ctx, url, opts)
	if err != nil {
		return nil, err
	}
	for _, sql := range []string{"SELECT count(*) FROM purchase", "SELECT count(*) FROM product", "CHECKPOINT"} {
		if _, err := pool.Exec(ctx, sql); err != nil {
			pool.Close()
			return nil, err
		}
	}
	return pool, nil
}

// latencies are one writer's statement durations.
type latencies []time.Duration

func (l latencies) pct(p float64) time.Duration {
	if len(l) == 0 {
		return 0
	}
	s := slices.Clone(l)
	slices.Sort(s)
	return s[min(int(float64(len(s))*p), len(s)-1)]
}

type writer struct {
	pool     *pgxpool.Pool
	quit     chan struct{}
	wg       sync.WaitGroup
	interval time.Duration
	lat      latencies
	errors   int
}

// startWriter updates one random purchase every 1/rate seconds on its own
// connection with the server's default settings (no lock_timeout), the way
// an application would, timing each statement. A write that waits for a
// lock also delays the writes that were due meanwhile; they are recorded
// too (the HdrHistogram correction for coordinated omission), so a writer
// stuck behind the plain UPDATE shows in the percentiles, not only in the
// maximum.
func startWriter(ctx context.Context, url string, purchases int64, rate int) (*writer, error) {
	cfg, err := pgxpool.ParseConfig(url)
	if err != nil {
		return nil, err
	}
	cfg.ConnConfig.RuntimeParams["application_name"] = writerApp
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, err
	}
	w := &writer{pool: pool, quit: make(chan struct{}), interval: time.Second / time.Duration(max(rate, 1))}
	w.wg.Add(1)
	go func() {
		defer w.wg.Done()
		tick := time.NewTicker(w.interval)
		defer tick.Stop()
		for {
			select {
			case <-w.quit:
				return
			case <-ctx.Done():
				return
			case <-tick.C:
			}
			// The write in flight when the contender ends is let finish:
			// its wait is the figure that matters.
			start := time.Now()
			if _, err := pool.Exec(ctx, "UPDATE purchase SET amount = amount WHERE id = $1", 1+rand.Int64N(purchases)); err != nil {
				w.errors++
				continue
			}
			w.record(time.Since(start))
		}
	}()
	return w, nil
}

// writerApp names the writer's sessions, which the CPU meter leaves out.
const writerApp = "bench-writer"

// cpuMeter sums the CPU time of a database's server processes, read from
// /proc (the server runs on this machine) every 200ms; a process's last
// reading counts, so a process that ends loses at most its last 200ms.
type cpuMeter struct {
	cancel context.CancelFunc
	done   chan struct{}
	ticks  map[int]int64 // pid -> utime+stime in clock ticks
}

// clockTicks is USER_HZ, 100 on Linux.
const clockTicks = 100

func startCPUMeter(ctx context.Context, c config, dbname string) (*cpuMeter, error) {
	pool, err := db.Open(ctx, c.url("postgres"), db.Options{MaxConns: 1})
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithCancel(ctx)
	m := &cpuMeter{cancel: cancel, done: make(chan struct{}), ticks: map[int]int64{}}
	go func() {
		defer close(m.done)
		defer pool.Close()
		tick := time.NewTicker(200 * time.Millisecond)
		defer tick.Stop()
		for {
			m.sample(ctx, pool, dbname)
			select {
			case <-ctx.Done():
				return
			case <-tick.C:
			}
		}
	}()
	return m, nil
}

func (m *cpuMeter) sample(ctx context.Context, pool *pgxpool.Pool, dbname string) {
	rows, err := pool.Query(ctx, `SELECT pid FROM pg_stat_activity WHERE datname = $1 AND application_name <> $2`, dbname, writerApp)
	if err != nil {
		return
	}
	pids, err := pgx.CollectRows(rows, pgx.RowTo[int])
	if err != nil {
		return
	}
	for _, pid := range pids {
		if t, ok := procTicks(pid); ok {
			m.ticks[pid] = t
		}
	}
}

// procTicks reads utime+stime of a process from /proc/<pid>/stat.
func procTicks(pid int) (int64, bool) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, false
	}
	// Fields after the command name, which is in parentheses and may
	// contain spaces: state is field 3, utime 14, stime 15.
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	if i < 0 {
		return 0, false
	}
	f := strings.Fields(s[i+1:])
	if len(f) < 13 {
		return 0, false
	}
	u, err1 := strconv.ParseInt(f[11], 10, 64)
	st, err2 := strconv.ParseInt(f[12], 10, 64)
	return u + st, err1 == nil && err2 == nil
}

func (m *cpuMeter) stop() time.Duration {
	m.cancel()
	<-m.done
	var t int64
	for _, v := range m.ticks {
		t += v
	}
	return time.Duration(t) * time.Second / clockTicks
}

func (w *writer) record(d time.Duration) {
	w.lat = append(w.lat, d)
	for missed := d - w.interval; missed >= w.interval; missed -= w.interval {
		w.lat = append(w.lat, missed)
	}
}

func (w *writer) stop() (latencies, int) {
	close(w.quit)
	w.wg.Wait()
	w.pool.Close()
	return w.lat, w.errors
}

func report(c config, purchases int64, plains, tools []*result, first *result) {
	fmt.Printf("\nbench-backfill: %d purchases, --workers %d, --batch-time %s, writer %d/s, %d rounds\n\n", purchases, c.workers, c.batchTime, c.writeRate, c.rounds)
	fmt.Printf("%-34s %10s %9s   %s\n", "", "time", "cpu", "concurrent single-row writer: p50 / p99 / max (writes due, errors)")
	line := func(name string, took time.Duration, r *result) {
		fmt.Printf("%-34s %9.1fs %8.1fs   %s / %s / %s (%d, %d)\n", name, took.Seconds(), r.cpu.Seconds(),
			r.writes.pct(0.5).Round(100*time.Microsecond), r.writes.pct(0.99).Round(100*time.Microsecond),
			r.writes.pct(1).Round(time.Millisecond), len(r.writes), r.writeErrors)
	}
	var maxBatch time.Duration
	for i := range plains {
		fmt.Printf("round %d\n", i+1)
		line("  "+plains[i].name, plains[i].took, plains[i])
		line("  "+tools[i].name, tools[i].took, tools[i])
		fmt.Printf("%-34s %9.1fs\n", "    of which the fill phase", tools[i].fill.Seconds())
		fmt.Printf("%-34s %9.1fs\n", "  plain UPDATE + CREATE INDEX", (plains[i].took + plains[i].index).Seconds())
		fmt.Printf("  ratio backfill / plain UPDATE: %.2fx\n", ratio(tools[i].took, plains[i].took))
		maxBatch = max(maxBatch, tools[i].maxBatch)
	}
	if first != nil {
		line(first.name, first.took, first)
		fmt.Printf("%-34s %9.1fs\n", "  of which the fill phase", first.fill.Seconds())
	}
	plain, tool := median(plains, func(r *result) time.Duration { return r.took }), median(tools, func(r *result) time.Duration { return r.took })
	fill := median(tools, func(r *result) time.Duration { return r.fill })
	withIndex := median(plains, func(r *result) time.Duration { return r.took + r.index })
	fmt.Println()
	fmt.Printf("median plain UPDATE %.1fs, backfill %.1fs (fill phase %.1fs)\n", plain.Seconds(), tool.Seconds(), fill.Seconds())
	fmt.Printf("ratio backfill / plain UPDATE:                  %.2fx (target <= 1.3x)\n", ratio(tool, plain))
	cpuPlain, cpuTool := median(plains, func(r *result) time.Duration { return r.cpu }), median(tools, func(r *result) time.Duration { return r.cpu })
	fmt.Printf("ratio of server CPU time, backfill / plain:     %.2fx (%.1fs / %.1fs: what the wall-time ratio tends to on a\n", ratio(cpuTool, cpuPlain), cpuTool.Seconds(), cpuPlain.Seconds())
	fmt.Printf("                                                  busy machine; with %d free cores it is about that / %d)\n", c.workers, c.workers)
	fmt.Printf("ratio backfill fill phase / plain UPDATE:       %.2fx\n", ratio(fill, plain))
	fmt.Printf("ratio backfill / (plain UPDATE + CREATE INDEX): %.2fx\n", ratio(tool, withIndex))
	if first != nil {
		fmt.Printf("ratio fill with index first / fill without:     %.2fx\n", ratio(first.fill, fill))
	}
	fmt.Printf("longest batch lock hold: %s (limit about 4 x --batch-time = %s)\n", maxBatch, 4*c.batchTime)
	fmt.Printf("writer p99 over all rounds: plain UPDATE %s, backfill %s\n", pooled(plains).pct(0.99).Round(time.Millisecond), pooled(tools).pct(0.99).Round(time.Millisecond))
}

func median(rs []*result, f func(*result) time.Duration) time.Duration {
	ds := make([]time.Duration, len(rs))
	for i, r := range rs {
		ds[i] = f(r)
	}
	slices.Sort(ds)
	if len(ds)%2 == 1 {
		return ds[len(ds)/2]
	}
	return (ds[len(ds)/2-1] + ds[len(ds)/2]) / 2
}

func pooled(rs []*result) latencies {
	var all latencies
	for _, r := range rs {
		all = append(all, r.writes...)
	}
	return all
}

func ratio(a, b time.Duration) float64 {
	if b <= 0 {
		return 0
	}
	return float64(a) / float64(b)
}

func logf(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "bench-backfill: "+format+"\n", args...)
}
