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
	"time"

	"github.com/tenantmover/tenantmover/internal/db"
	"github.com/tenantmover/tenantmover/scripts/benchkit"
)

const prog = benchkit.Program("bench-backfill")

func main() { prog.Main(run) }

type config struct {
	*benchkit.Flags
	srv        *benchkit.Server
	workers    int
	batchTime  time.Duration
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
	c := config{Flags: benchkit.AddFlags("reuse the generated monolith in database " + baseDB + " if it exists")}
	flag.IntVar(&c.workers, "workers", 2, "backfill --workers")
	flag.DurationVar(&c.batchTime, "batch-time", 200*time.Millisecond, "backfill --batch-time")
	flag.BoolVar(&c.indexFirst, "index-first", false, "also time the fill with the index on the column created before it")
	flag.IntVar(&c.writeRate, "write-rate", 200, "single-row writes per second during each run")
	flag.IntVar(&c.rounds, "rounds", 2, "rounds of plain UPDATE and backfill, alternating which goes first (the machine's load drifts)")
	flag.Parse()
	srv, err := benchkit.StartServer(ctx, c.URL, map[string]string{
		"shared_buffers": "'2GB'", "max_wal_size": "'8GB'", "checkpoint_timeout": "'30min'",
	})
	if err != nil {
		return err
	}
	defer srv.Close()
	c.srv = srv
	purchases, err := prepare(ctx, c)
	if err != nil {
		return err
	}
	return measure(ctx, c, purchases)
}

// prepare generates the monolith once; each contender works on a copy.
func prepare(ctx context.Context, c config) (int64, error) {
	exists, err := c.srv.Exists(ctx, baseDB)
	if err != nil {
		return 0, err
	}
	if !exists || !c.Reuse {
		p, took, err := c.srv.Generate(ctx, baseDB, c.Size, "VACUUM ANALYZE")
		if err != nil {
			return 0, err
		}
		prog.Logf("generated %d purchases in %s", p.Purchases, took.Round(time.Second))
	}
	pool, err := db.Open(ctx, c.srv.URL(baseDB), db.Options{})
	if err != nil {
		return 0, err
	}
	defer pool.Close()
	var n int64
	return n, pool.QueryRow(ctx, "SELECT count(*) FROM purchase").Scan(&n)
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
	if err := c.srv.Create(ctx, name, baseDB); err != nil {
		return nil, err
	}
	r, err := fn()
	if derr := c.srv.Drop(ctx, name); err == nil {
		err = derr
	}
	return r, err
}
