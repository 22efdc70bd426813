package backfill

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
)

// lagGate holds batches back while a replica replays too far behind: every
// batch writes WAL, and a replica that cannot keep up serves ever staler
// reads (and, if it is a failover target, loses more on failover).
type lagGate struct {
	max   time.Duration
	every time.Duration
	// lag reads the current worst replica lag.
	lag func(ctx context.Context) (time.Duration, error)
	// check, when set, hears about every lag reading (tests).
	check func(time.Duration)

	mu     sync.Mutex
	paused time.Duration
	checks int // lag readings taken
}

func newLagGate(pool *pgxpool.Pool, cfg Config) *lagGate {
	return &lagGate{
		max:   cfg.MaxReplicaLag,
		every: cfg.LagCheckInterval,
		lag:   func(ctx context.Context) (time.Duration, error) { return replicaLag(ctx, pool) },
	}
}

// replicaLag is the largest replay lag over the replicas connected to this
// server (zero with no replicas, or when every replica has caught up, when
// PostgreSQL reports the lag as NULL). Seeing other sessions' lag needs
// superuser or the pg_monitor role; without it the lag reads as zero.
func replicaLag(ctx context.Context, pool *pgxpool.Pool) (time.Duration, error) {
	var us int64
	err := pool.QueryRow(ctx, `SELECT coalesce(max((extract(epoch FROM replay_lag) * 1000000)::bigint), 0) FROM pg_stat_replication`).Scan(&us)
	if err != nil {
		return 0, fmt.Errorf("reading replica lag from pg_stat_replication: %w", err)
	}
	return time.Duration(us) * time.Microsecond, nil
}

// wait returns once no replica lags more than max, checking every
// interval; with no maximum it returns at once.
func (g *lagGate) wait(ctx context.Context) error {
	if g == nil || g.max <= 0 {
		return nil
	}
	start := time.Now()
	var tick *time.Ticker
	for {
		lag, err := g.lag(ctx)
		if err != nil {
			return err
		}
		g.mu.Lock()
		g.checks++
		g.mu.Unlock()
		if g.check != nil {
			g.check(lag)
		}
		if lag <= g.max {
			break
		}
		if tick == nil {
			tick = time.NewTicker(g.every)
			defer tick.Stop()
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-tick.C:
		}
	}
	if tick != nil {
		g.mu.Lock()
		g.paused += time.Since(start)
		g.mu.Unlock()
	}
	return nil
}

// checked is how many lag readings were taken.
func (g *lagGate) checked() int {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.checks
}

func (g *lagGate) pausedTotal() time.Duration {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.paused
}
