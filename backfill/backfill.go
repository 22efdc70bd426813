// Package backfill adds the tenant column to the nested tables of a plan and
// fills it on the live source database, one foreign-key hop from the parent
// that already has the value, while the application keeps writing.
//
// The method is GitLab's batched background migrations, made resumable:
//
//   - Each table's primary-key range, up to its largest key at the first
//     start, is cut into units; workers walk the units with keyset batches
//     ((a, b) > cursor), so composite, uuid and text keys all work.
//   - Each batch is one short transaction: an UPDATE ... FROM parent of only
//     the NULL values in its key range, and the unit's checkpoint (package
//     checkpoints), committed together. A crash loses only batches in
//     flight; a rerun continues each unit from its cursor.
//   - Batches run under a short lock_timeout; their size adapts toward a
//     target duration, halves on a lock timeout, and retries with backoff
//     on lock timeouts, deadlocks, serialization failures and lost
//     connections. They pause while a replica lags too far behind.
//   - Before the first batch a trigger on each table fills the column of
//     rows the application inserts (or re-parents) meanwhile, following the
//     foreign keys up to the nearest table that has the value natively.
//   - At the end every remaining NULL must be an orphan (NULL foreign key,
//     missing parent, parent without a value): they are counted and sampled
//     in the report; any other NULL fails the run. NOT NULL can then be
//     added without a long lock.
package backfill

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/tenantmover/tenantmover/checkpoints"
	"github.com/tenantmover/tenantmover/internal/db"
	"github.com/tenantmover/tenantmover/internal/plan"
)

// runOptions are what a resumed run must agree on: the plan's inputs and
// the column being filled. Workers, batch time and the like may change.
type runOptions struct {
	Plan         plan.Config `json:"plan"`
	TenantColumn string      `json:"tenant_column"`
	KeyType      string      `json:"key_type"`
}

// Run backfills the plan's nested tables (see the package comment) and
// reports what it did. onProgress (may be nil) is called after every batch
// and at each table's stages, never concurrently. The pool needs
// cfg.Workers+2 connections. With cfg.DryRun it only reads.
func Run(ctx context.Context, pool *pgxpool.Pool, p *plan.Plan, cfg Config, onProgress func(Progress)) (*Report, error) {
	cfg, err := NewConfig(cfg)
	if err != nil {
		return nil, err
	}
	tgts, err := targets(p)
	if err != nil {
		return nil, err
	}
	if cfg.DryRun {
		return dryRun(ctx, pool, p, tgts, cfg)
	}
	if max := pool.Config().MaxConns; int(max) < cfg.Workers+2 {
		return nil, fmt.Errorf("the connection pool allows %d connections; %d workers need %d", max, cfg.Workers, cfg.Workers+2)
	}
	b := &backfiller{pool: pool, plan: p, cfg: cfg, progress: &progressSink{fn: onProgress}}
	return b.run(ctx, tgts)
}

type backfiller struct {
	pool     *pgxpool.Pool
	plan     *plan.Plan
	cfg      Config
	progress *progressSink
	ckpt     *checkpoints.Run
	report   *Report
}

func (b *backfiller) run(ctx context.Context, tgts []*target) (rep *Report, err error) {
	start := time.Now()
	store, err := checkpoints.Open(ctx, b.pool)
	if err != nil {
		return nil, err
	}
	unlock, err := lockRun(ctx, store, b.cfg.RunName)
	if err != nil {
		return nil, err
	}
	defer unlock()
	b.ckpt, err = store.Begin(ctx, b.cfg.RunName, "backfill", runOptions{Plan: b.plan.Config, TenantColumn: b.plan.TenantColumn, KeyType: b.plan.KeyType}, b.cfg.Restart)
	if err != nil {
		return nil, err
	}
	defer func() { b.ckpt.RecordEnd(ctx, err) }()
	if err := b.ckpt.SetPhase(ctx, phase); err != nil {
		return nil, err
	}
	b.report = &Report{Run: b.cfg.RunName, Resumed: b.ckpt.Resumed, Column: b.plan.TenantColumn, TriggersKept: b.cfg.KeepTriggers}
	jobs, err := b.prepare(ctx, tgts)
	if err != nil {
		return b.report, err
	}
	lag := newLagGate(b.pool, b.cfg)
	f := &filler{pool: b.pool, run: b.ckpt, cfg: b.cfg, lag: lag, progress: b.progress}
	err = f.fill(ctx, jobs)
	b.report.ReplicaPauseMS = lag.pausedTotal().Milliseconds()
	if err != nil {
		return b.report, err
	}
	err = b.finish(ctx, jobs)
	b.report.DurationMS = time.Since(start).Milliseconds()
	return b.report, err
}

// lockRun takes the run's lock, trying a few times over about a second:
// the lock of a process that just ended (or was killed) is released only
// when the server has noticed its session is gone, a moment later.
func lockRun(ctx context.Context, store *checkpoints.Store, name string) (func(), error) {
	b := db.Backoff{Initial: 50 * time.Millisecond, Max: 400 * time.Millisecond}
	var locked *checkpoints.ErrRunLocked
	for attempt := 0; ; attempt++ {
		unlock, err := store.Lock(ctx, name)
		if !errors.As(err, &locked) || attempt == 4 {
			return unlock, err
		}
		if err := b.Wait(ctx, attempt); err != nil {
			return nil, err
		}
	}
}

// prepare adds each table's column and trigger and fixes its units, in
// plan order. The units' upper bound is read after the trigger is in
// place, so every row above it is one the trigger saw.
func (b *backfiller) prepare(ctx context.Context, tgts []*target) ([]*job, error) {
	totals, err := plannedTotals(ctx, b.ckpt)
	if err != nil {
		return nil, err
	}
	var jobs []*job
	for _, t := range tgts {
		j := &job{target: t, sizer: newSizer(b.cfg), filled: make(chan struct{}),
			rep: &TableReport{Table: t.name, Column: t.column, Parent: t.hop.To.String(), ParentColumn: t.parentColumn}}
		b.report.Tables = append(b.report.Tables, j.rep)
		onRetry := func(error) { j.rep.retried() }
		if err := ensureColumn(ctx, b.pool, b.cfg, t, onRetry); err != nil {
			return nil, err
		}
		if err := installTrigger(ctx, b.pool, b.cfg, t, onRetry); err != nil {
			return nil, err
		}
		if j.units, j.total, err = planUnits(ctx, b.pool, b.ckpt, t, totals, b.cfg.UnitRows); err != nil {
			return nil, err
		}
		if err := b.ckpt.SetTableState(ctx, nil, phase, t.name, "filling", nil); err != nil {
			return nil, err
		}
		j.rep.EstimatedRows, j.rep.Units = j.total, len(j.units)
		for _, u := range j.units {
			j.rep.RowsVisitedBefore += u.Rows
			if u.State == checkpoints.Done {
				j.rep.UnitsDoneBefore++
			}
		}
		b.progress.send(Progress{Table: t.name, Stage: StagePrepare, Done: j.rep.RowsVisitedBefore, Total: j.total})
		jobs = append(jobs, j)
	}
	return jobs, nil
}

// tableInfo is what the checkpoint table row remembers of a finished table.
type tableInfo struct {
	Orphans Orphans `json:"orphans"`
	Index   string  `json:"index,omitempty"`
	NotNull bool    `json:"not_null"`
}

// finish indexes, proves and (when asked) constrains each filled table,
// then drops the triggers unless they are kept.
func (b *backfiller) finish(ctx context.Context, jobs []*job) error {
	orphaned := map[string]int64{}
	for _, j := range jobs {
		if err := b.finishTable(ctx, j); err != nil {
			return err
		}
		if b.cfg.SetNotNull && !j.rep.NotNullAdded {
			orphaned[j.name] = j.rep.Orphans.Count
		}
	}
	for _, j := range jobs {
		if b.cfg.KeepTriggers {
			j.rep.TriggerKept = true
			b.report.DropTriggers = append(b.report.DropTriggers, j.dropTriggerSQL()...)
			continue
		}
		if err := dropTrigger(ctx, b.pool, b.cfg, j.target, func(error) { j.rep.retried() }); err != nil {
			return err
		}
	}
	if len(orphaned) > 0 {
		return &OrphansError{Tables: orphaned}
	}
	return nil
}

func (b *backfiller) finishTable(ctx context.Context, j *job) error {
	rep := j.rep
	start := time.Now()
	b.progress.send(Progress{Table: j.name, Stage: StageIndex, Done: rep.RowsVisitedBefore + rep.RowsVisited, Total: j.total, Updated: rep.RowsUpdated, Batches: rep.Batches})
	var err error
	if rep.Index, err = ensureIndex(ctx, b.pool, j.target); err != nil {
		return err
	}
	if rep.NullsLeft, rep.Orphans, err = prove(ctx, b.pool, j.target, b.cfg.OrphanSamples); err != nil {
		return err
	}
	if b.cfg.SetNotNull && rep.Orphans.Count == 0 {
		if err := setNotNull(ctx, b.pool, b.cfg, j.target, func(error) { rep.retried() }); err != nil {
			return err
		}
		rep.NotNullAdded = true
	}
	rep.DurationMS = rep.FillMS + time.Since(start).Milliseconds()
	info := tableInfo{Orphans: rep.Orphans, Index: rep.Index, NotNull: rep.NotNullAdded}
	if err := b.ckpt.SetTableState(ctx, nil, phase, j.name, "done", info); err != nil {
		return err
	}
	b.progress.send(Progress{Table: j.name, Stage: StageDone, Done: rep.RowsVisitedBefore + rep.RowsVisited, Total: j.total, Updated: rep.RowsUpdated, Batches: rep.Batches})
	return nil
}
