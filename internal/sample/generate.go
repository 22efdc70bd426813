package sample

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"golang.org/x/sync/errgroup"
)

// chunkRows is how many ids one INSERT generates. It is part of the data's
// definition (each chunk has its own seed), so changing it changes the data.
const chunkRows = 500_000

// Option tunes Generate without changing the data it makes.
type Option func(*options)

type options struct {
	workers  int
	progress func(step string, took time.Duration)
}

// WithWorkers generates up to n chunks at once, each on its own pooled
// connection (default 1). The data is the same whatever n is.
func WithWorkers(n int) Option { return func(o *options) { o.workers = max(n, 1) } }

// WithProgress calls fn after each step ("schema", a table name,
// "constraints", "analyze") with how long it took; tables are timed from
// the start of the load, since their chunks overlap. Calls never overlap.
func WithProgress(fn func(step string, took time.Duration)) Option {
	return func(o *options) { o.progress = fn }
}

// Generate creates the monolith's tables in the current schema of pool's
// connections and fills them as p says. The tables must not exist yet (Drop
// removes them). On error the tables are left as far as they got.
func Generate(ctx context.Context, pool *pgxpool.Pool, p Params, opts ...Option) error {
	if err := p.Validate(); err != nil {
		return err
	}
	o := options{workers: 1, progress: func(string, time.Duration) {}}
	for _, opt := range opts {
		opt(&o)
	}
	g := generator{pool: pool, p: p, o: o}
	phases := []struct {
		name string
		run  func(context.Context) error
	}{
		{"creating tables", g.createTables},
		{"loading", g.load},
		{"adding foreign keys and indexes", g.addConstraints},
		{"vacuuming and analyzing", g.analyze},
	}
	for _, ph := range phases {
		if err := ph.run(ctx); err != nil {
			return fmt.Errorf("generating monolith: %s: %w", ph.name, err)
		}
	}
	return nil
}

type generator struct {
	pool *pgxpool.Pool
	p    Params
	o    options
}

// timed runs fn and reports it as step.
func (g *generator) timed(step string, fn func() error) error {
	start := time.Now()
	if err := fn(); err != nil {
		return err
	}
	g.o.progress(step, time.Since(start))
	return nil
}

// inTx runs fn in a transaction on a pooled connection with the settings a
// bulk load wants; SET LOCAL keeps them from leaking into the caller's pool.
func (g *generator) inTx(ctx context.Context, fn func(pgx.Tx) error) error {
	return pgx.BeginFunc(ctx, g.pool, func(tx pgx.Tx) error {
		_, err := tx.Exec(ctx, `SET LOCAL statement_timeout = 0;
SET LOCAL lock_timeout = 0;
SET LOCAL synchronous_commit = off;
SET LOCAL work_mem = '64MB';
SET LOCAL maintenance_work_mem = '256MB'`)
		if err != nil {
			return err
		}
		return fn(tx)
	})
}

func (g *generator) createTables(ctx context.Context) error {
	return g.timed("schema", func() error {
		return g.inTx(ctx, func(tx pgx.Tx) error {
			_, err := tx.Exec(ctx, createTables)
			return err
		})
	})
}

// chunk is one INSERT of a table's ids lo..hi.
type chunk struct {
	fill   *fill
	n      int64
	lo, hi int64
}

// load runs every chunk of every table. Foreign keys are not there yet, so
// chunks are independent and may run in any order.
func (g *generator) load(ctx context.Context) error {
	fs := fills(g.p)
	var chunks []chunk
	left := map[string]int{}
	for i := range fs {
		f := &fs[i]
		for n := int64(0); n*chunkRows < f.units; n++ {
			chunks = append(chunks, chunk{fill: f, n: n, lo: n*chunkRows + 1, hi: min(f.units, (n+1)*chunkRows)})
			left[f.table]++
		}
	}
	// Report a table when its last chunk is in, timed from the load's start
	// since chunks of several tables overlap.
	var mu sync.Mutex
	start := time.Now()
	finished := func(table string) {
		mu.Lock()
		defer mu.Unlock()
		if left[table]--; left[table] == 0 {
			g.o.progress(table, time.Since(start))
		}
	}
	eg, egctx := errgroup.WithContext(ctx)
	eg.SetLimit(g.o.workers)
	for _, c := range chunks {
		eg.Go(func() error {
			if err := g.loadChunk(egctx, c); err != nil {
				return fmt.Errorf("%s ids %d-%d: %w", c.fill.table, c.lo, c.hi, err)
			}
			finished(c.fill.table)
			return nil
		})
	}
	if err := eg.Wait(); err != nil {
		return err
	}
	return g.setSequences(ctx)
}

func (g *generator) loadChunk(ctx context.Context, c chunk) error {
	return g.inTx(ctx, func(tx pgx.Tx) error {
		// The seed must be set in the session that calls random(), right
		// before it: that is what makes the data reproducible.
		if _, err := tx.Exec(ctx, "SELECT setseed($1)", g.p.chunkSeed(c.fill.table, c.n)); err != nil {
			return err
		}
		args := append([]any{c.lo, c.hi}, c.fill.args[2:]...)
		_, err := tx.Exec(ctx, c.fill.sql, args...)
		return err
	})
}

// setSequences moves each serial past the explicit ids the load used.
func (g *generator) setSequences(ctx context.Context) error {
	return g.inTx(ctx, func(tx pgx.Tx) error {
		for _, t := range Tables() {
			q := fmt.Sprintf("SELECT setval(pg_get_serial_sequence($1, 'id'), max(id)) FROM %s", pgx.Identifier{t}.Sanitize())
			if _, err := tx.Exec(ctx, q, pgx.Identifier{t}.Sanitize()); err != nil {
				return fmt.Errorf("setting the id sequence of %s: %w", t, err)
			}
		}
		return nil
	})
}

// addConstraints adds the foreign keys and indexes, up to workers at once.
// Statements on the same table wait for each other's locks but cannot
// deadlock: a foreign key locks its table and then the parent, and the
// foreign-key graph has no cycles.
func (g *generator) addConstraints(ctx context.Context) error {
	return g.timed("constraints", func() error {
		eg, egctx := errgroup.WithContext(ctx)
		eg.SetLimit(g.o.workers)
		for _, stmt := range addConstraints {
			eg.Go(func() error {
				err := g.inTx(egctx, func(tx pgx.Tx) error {
					_, err := tx.Exec(egctx, stmt)
					return err
				})
				if err != nil {
					return fmt.Errorf("%s: %w", stmt, err)
				}
				return nil
			})
		}
		return eg.Wait()
	})
}

// analyze vacuums and analyzes every table: statistics for the planner and
// for tenantmover's reltuples estimates, and hint bits and the visibility
// map set once here rather than by the first benchmark that reads the data.
func (g *generator) analyze(ctx context.Context) error {
	return g.timed("analyze", func() error {
		conn, err := g.pool.Acquire(ctx)
		if err != nil {
			return err
		}
		defer conn.Release()
		// VACUUM cannot run in a transaction, so SET LOCAL is no use; RESET
		// returns to the connection's own default afterwards.
		if _, err := conn.Exec(ctx, "SET statement_timeout = 0"); err != nil {
			return err
		}
		defer conn.Exec(context.WithoutCancel(ctx), "RESET statement_timeout") //nolint:errcheck // best effort on a connection going back to the pool
		for _, t := range Tables() {
			if _, err := conn.Exec(ctx, "VACUUM (ANALYZE) "+pgx.Identifier{t}.Sanitize()); err != nil {
				return fmt.Errorf("%s: %w", t, err)
			}
		}
		return nil
	})
}

// Drop removes the monolith's tables if they exist.
func Drop(ctx context.Context, pool *pgxpool.Pool) error {
	if _, err := pool.Exec(ctx, dropTables); err != nil {
		return fmt.Errorf("dropping monolith: %w", err)
	}
	return nil
}

// Counts returns the number of rows in each monolith table.
func Counts(ctx context.Context, pool *pgxpool.Pool) (map[string]int64, error) {
	counts := make(map[string]int64, len(Tables()))
	for _, t := range Tables() {
		var n int64
		if err := pool.QueryRow(ctx, "SELECT count(*) FROM "+pgx.Identifier{t}.Sanitize()).Scan(&n); err != nil {
			return nil, fmt.Errorf("counting %s: %w", t, err)
		}
		counts[t] = n
	}
	return counts, nil
}
