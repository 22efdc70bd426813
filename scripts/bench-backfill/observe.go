package main

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/tenantmover/tenantmover/internal/db"
	"github.com/tenantmover/tenantmover/scripts/benchkit"
)

// observe runs fn, a contender's work on database dbname, while the
// single-row writer and the CPU meter watch it, and records in r how long
// it took, the server CPU time it cost and the writer's latencies.
func observe(ctx context.Context, c config, dbname string, purchases int64, r *result, fn func() error) error {
	w, err := startWriter(ctx, c.srv.URL(dbname), purchases, c.writeRate)
	if err != nil {
		return err
	}
	cpu, err := startCPUMeter(ctx, c, dbname)
	if err != nil {
		w.stop()
		return err
	}
	r.took, err = benchkit.Time(fn)
	r.cpu = cpu.stop()
	r.writes, r.writeErrors = w.stop()
	return err
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
	pool, err := db.Open(ctx, c.srv.URL("postgres"), db.Options{MaxConns: 1})
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
