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
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/tenantmover/tenantmover/checkpoints"
	"github.com/tenantmover/tenantmover/internal/db"
	"github.com/tenantmover/tenantmover/internal/phase"
	"github.com/tenantmover/tenantmover/internal/plan"
)

// Name is the phase's name, and the checkpoint phase of its units.
const Name = "backfill"

// unitLayout is the meaning of the units' bounds: half-open ranges
// (phase.Range) under a ceiling. A run started by a version whose units
// meant something else is not resumed (its options differ).
const unitLayout = 2

// runOptions are what a resumed run must agree on: the plan's inputs and
// the column being filled. Workers, batch time and the like may change.
type runOptions struct {
	Plan         plan.Config `json:"plan"`
	TenantColumn string      `json:"tenant_column"`
	KeyType      string      `json:"key_type"`
	Layout       int         `json:"layout"`
}

// New validates cfg (see NewConfig) and returns the backfill as a phase of
// a migration. It resumes from its checkpoints; the source's schema gains
// tenant columns, so the later phases plan again.
func New(cfg Config) (phase.Phase, error) {
	return phase.Of(Name, phase.Once, cfg, NewConfig, Run, func(rep *Report, err error) (phase.Result, error) {
		res := phase.Result{Summary: rep.Summary, Replan: true, Report: rep}
		if rep.TriggersKept {
			res.Note = "fill triggers kept: drop them once the application writes the tenant column itself"
		}
		return res, err
	})
}

// Run backfills the plan's nested tables on env.Source (see the package
// comment), checkpointing under env.Run, and reports what it did, also
// when it fails part-way (nil only when it could not start). Progress goes
// to env.Progress. With cfg.DryRun it only reads.
func Run(ctx context.Context, env *phase.Env, cfg Config) (*Report, error) {
	cfg, err := NewConfig(cfg)
	if err != nil {
		return nil, err
	}
	tgts, err := targets(env.Plan)
	if err != nil {
		return nil, err
	}
	opts := db.ForProfile(db.ProfileBatches)
	opts.MaxConns = int32(cfg.Workers + 3) // workers, the run lock, lag checks and bookkeeping
	pool, err := db.Open(ctx, env.Source, opts)
	if err != nil {
		return nil, err
	}
	defer pool.Close()
	if cfg.DryRun {
		return dryRun(ctx, pool, env, tgts, cfg)
	}
	b := &backfiller{pool: pool, plan: env.Plan, cfg: cfg, env: env, emit: phase.NewEmitter(Name, env.Progress)}
	return b.run(ctx, tgts)
}

type backfiller struct {
	pool   *pgxpool.Pool
	plan   *plan.Plan
	cfg    Config
	env    *phase.Env
	emit   *phase.Emitter
	ckpt   *checkpoints.Run
	report *Report
}

func (b *backfiller) run(ctx context.Context, tgts []*target) (rep *Report, err error) {
	start := time.Now()
	store, err := checkpoints.Open(ctx, b.pool)
	if err != nil {
		return nil, err
	}
	unlock, err := store.Lock(ctx, b.env.Run)
	if err != nil {
		return nil, err
	}
	defer unlock()
	b.ckpt, err = store.Begin(ctx, b.env.Run, Name, runOptions{Plan: b.plan.Config, TenantColumn: b.plan.TenantColumn, KeyType: b.plan.KeyType, Layout: unitLayout}, b.env.Restart)
	if err != nil {
		return nil, err
	}
	defer func() { b.ckpt.RecordEnd(ctx, err) }()
	if err := b.ckpt.SetPhase(ctx, Name); err != nil {
		return nil, err
	}
	b.report = &Report{Summary: phase.Summary{Phase: Name, Run: b.env.Run}, Resumed: b.ckpt.Resumed, Column: b.plan.TenantColumn, TriggersKept: b.cfg.KeepTriggers}
	defer func() { b.report.finish(start) }()
	jobs, err := b.prepare(ctx, tgts)
	if err != nil {
		return b.report, err
	}
	lag := newLagGate(b.pool, b.cfg)
	f := &filler{pool: b.pool, run: b.ckpt, cfg: b.cfg, lag: lag, win: b.env.Window, emit: b.emit}
	err = f.fill(ctx, jobs)
	b.report.ReplicaPauseSeconds = lag.pausedTotal().Seconds()
	b.report.ReplicaLagChecks = lag.checked()
	if err != nil {
		return b.report, err
	}
	return b.report, b.finish(ctx, jobs)
}

// prepare adds each table's column and trigger and fixes its units, in
// plan order. The units' ceiling is read after the trigger is in place, so
// every row above it is one the trigger saw.
func (b *backfiller) prepare(ctx context.Context, tgts []*target) ([]*job, error) {
	planned, err := plannedTables(ctx, b.ckpt)
	if err != nil {
		return nil, err
	}
	var jobs []*job
	for _, t := range tgts {
		parents, parentCols := t.parentNames()
		j := &job{target: t, sizer: newSizer(b.cfg),
			rep: &TableReport{Table: t.name, Column: t.column, Parent: parents, ParentColumn: parentCols}}
		b.report.Tables = append(b.report.Tables, j.rep)
		onRetry := func(int, error) { j.rep.retried() }
		if err := ensureColumn(ctx, b.pool, b.cfg, t, onRetry); err != nil {
			return nil, err
		}
		if err := installTrigger(ctx, b.pool, b.cfg, t, onRetry); err != nil {
			return nil, err
		}
		if j.tablePlan, err = planUnits(ctx, b.pool, b.ckpt, t, planned, b.cfg.UnitRows); err != nil {
			return nil, err
		}
		if err := b.ckpt.SetTableState(ctx, nil, Name, t.name, "filling", nil); err != nil {
			return nil, err
		}
		j.rep.EstimatedRows, j.rep.Units = j.total, len(j.units)
		for _, u := range j.units {
			j.rep.RowsVisitedBefore += u.Rows
			if u.State == checkpoints.Done {
				j.rep.UnitsDoneBefore++
			} else {
				j.pending = append(j.pending, u)
			}
		}
		b.emit.Emit(phase.Event{Kind: phase.Planned, Table: t.name, Total: j.total, Done: j.rep.RowsVisitedBefore})
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
	setNotNull := b.cfg.SetNotNull
	for _, j := range jobs {
		if err := b.finishTable(ctx, j); err != nil {
			return err
		}
		if (setNotNull || b.cfg.FailOnOrphans) && j.rep.Orphans.Count > 0 {
			orphaned[j.name] = j.rep.Orphans.Count
		}
	}
	for _, j := range jobs {
		if b.cfg.KeepTriggers {
			j.rep.TriggerKept = true
			b.report.DropTriggers = append(b.report.DropTriggers, j.dropTriggerSQL()...)
			continue
		}
		if err := dropTrigger(ctx, b.pool, b.cfg, j.target, func(int, error) { j.rep.retried() }); err != nil {
			return err
		}
	}
	if len(orphaned) > 0 {
		return &OrphansError{Tables: orphaned, NotNull: setNotNull}
	}
	return nil
}

func (b *backfiller) finishTable(ctx context.Context, j *job) error {
	rep := j.rep
	start := time.Now()
	var err error
	if rep.Index, err = ensureIndex(ctx, b.pool, j.target); err != nil {
		return err
	}
	if rep.NullsLeft, rep.Orphans, err = prove(ctx, b.pool, j.target, b.cfg.OrphanSamples); err != nil {
		return err
	}
	if b.cfg.SetNotNull && rep.Orphans.Count == 0 {
		if err := setNotNull(ctx, b.pool, b.cfg, j.target, func(int, error) { rep.retried() }); err != nil {
			return err
		}
		rep.NotNullAdded = true
	}
	rep.Seconds = rep.FillSeconds + time.Since(start).Seconds()
	info := tableInfo{Orphans: rep.Orphans, Index: rep.Index, NotNull: rep.NotNullAdded}
	if err := b.ckpt.SetTableState(ctx, nil, Name, j.name, "done", info); err != nil {
		return err
	}
	b.emit.Emit(phase.Event{Kind: phase.Finished, Table: j.name, Step: StepDone, Fields: []any{"orphans", rep.Orphans.Count}})
	return nil
}
