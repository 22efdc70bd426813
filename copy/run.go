package pgcopy

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/tenantmover/tenantmover/checkpoints"
	"github.com/tenantmover/tenantmover/internal/citus"
	"github.com/tenantmover/tenantmover/internal/db"
	"github.com/tenantmover/tenantmover/internal/phase"
	"github.com/tenantmover/tenantmover/internal/plan"
	"github.com/tenantmover/tenantmover/internal/schema"
)

// sessionSettings are applied to every connection on both sides: key bounds
// travel as text and must read back the same (ISO dates in UTC, exact
// floats), and quoteLiteral relies on standard conforming strings.
var sessionSettings = map[string]string{
	"DateStyle":                   "ISO, YMD",
	"TimeZone":                    "UTC",
	"IntervalStyle":               "postgres",
	"extra_float_digits":          "3",
	"standard_conforming_strings": "on",
}

// targetSettings are for the target's sessions only. A chunk's COPY into a
// distributed table opens a connection to every shard it writes to; Citus
// keeps one per worker after the transaction by default, so every chunk
// paid for new (TLS) connections, about ten times the cost of the data on
// small chunks. Keeping them cached across the session's chunks removes
// that. Plain PostgreSQL accepts the setting as an inert placeholder.
var targetSettings = map[string]string{
	"citus.max_cached_conns_per_worker": "64",
}

// Name is the phase's name, and the checkpoint phase of its units.
const Name = "copy"

// New validates cfg (see NewConfig) and returns the copy as a phase of a
// migration; it resumes from its checkpoints.
func New(cfg Config) (phase.Phase, error) {
	return phase.Of(Name, phase.Once, cfg, NewConfig, Run, func(rep *Report, err error) (phase.Result, error) {
		note := fmt.Sprintf("%d chunks copied, %d already done", rep.ChunksCopied, rep.ChunksSkipped)
		if len(rep.Truncated) > 0 {
			note = "restarted: emptied the target tables first; " + note
		}
		return phase.Result{Summary: rep.Summary, Note: note, Report: rep}, err
	})
}

// engine is one run of the copy.
type engine struct {
	cfg      Config
	env      *phase.Env
	plan     *plan.Plan
	src, dst *pgxpool.Pool
	target   *schema.Catalog
	store    *checkpoints.Store
	run      *checkpoints.Run
	jobs     []*job
	replace  bool // delete the tenants' target rows first (Replace, or Restart with tenants)
	snap     *snapshot
	emit     *phase.Emitter

	mu     sync.Mutex // serializes report updates
	report *Report
}

// Run copies the tables of env.Plan from env.Source into env.Target
// (plain PostgreSQL or a Citus coordinator whose schema ddl.Apply created),
// resuming the run env.Run if it exists, or starting it over with
// env.Restart. Progress goes to env.Progress.
func Run(ctx context.Context, env *phase.Env, cfg Config) (*Report, error) {
	cfg, err := NewConfig(cfg)
	if err != nil {
		return nil, err
	}
	if !cfg.Part.Whole() && env.Restart {
		return nil, errors.New("--restart cannot be used with --part: one part would empty the tables the others are copying into; start the parts over under a new --run name into an empty target, or restart the run in one process without --part")
	}
	// Source: a connection per worker, one holding the run's snapshot, one
	// for planning and sequences.
	src, err := openPool(ctx, env.Source, cfg.Workers+2, nil)
	if err != nil {
		return nil, fmt.Errorf("source: %w", err)
	}
	defer src.Close()
	// Target: a connection per worker, the run's lock, and one for the
	// checkpoint bookkeeping.
	dst, err := openPool(ctx, env.Target, cfg.Workers+2, targetSettings)
	if err != nil {
		return nil, fmt.Errorf("target: %w", err)
	}
	defer dst.Close()
	e := &engine{cfg: cfg, env: env, plan: env.Plan, src: src, dst: dst, emit: phase.NewEmitter(Name, env.Progress),
		replace: cfg.Replace || (env.Restart && len(cfg.Tenants) > 0),
		report:  &Report{Summary: phase.Summary{Phase: Name, Run: env.Run}, DryRun: cfg.DryRun, Tenants: cfg.Tenants}}
	return e.execute(ctx)
}

func openPool(ctx context.Context, url string, conns int, extra map[string]string) (*pgxpool.Pool, error) {
	opts := db.ForProfile(db.ProfileStreams)
	opts.MaxConns = int32(conns)
	opts.Settings = map[string]string{}
	for _, m := range []map[string]string{sessionSettings, extra} {
		for k, v := range m {
			opts.Settings[k] = v
		}
	}
	return db.Open(ctx, url, opts)
}

// execute runs the steps of a copy.
func (e *engine) execute(ctx context.Context) (*Report, error) {
	started := time.Now()
	if err := e.prepare(ctx); err != nil {
		return nil, err
	}
	if e.cfg.DryRun {
		return e.dryRun(ctx)
	}
	if !e.cfg.Part.Whole() {
		return e.executePart(ctx, started)
	}
	unlock, err := e.begin(ctx)
	if err != nil {
		return nil, err
	}
	defer unlock()
	if err := e.planUnits(ctx); err != nil {
		return nil, err
	}
	if err := checkTriggers(e.jobs, e.target); err != nil {
		return nil, err
	}
	if err := e.guard(ctx); err != nil {
		return nil, err
	}
	e.announce()
	if e.snap, err = e.takeSnapshot(ctx); err != nil {
		return nil, err
	}
	defer e.snap.release()
	if err := e.copyAll(ctx); err != nil {
		e.run.RecordEnd(ctx, err)
		return nil, err
	}
	if err := e.setSequences(ctx); err != nil {
		return nil, err
	}
	if err := e.run.Finish(ctx, checkpoints.Done); err != nil {
		return nil, fmt.Errorf("recording the end of run %q: %w", e.env.Run, err)
	}
	return e.finishReport(started), nil
}

// prepare selects the tables and checks them against the target before
// anything is written.
func (e *engine) prepare(ctx context.Context) error {
	if err := e.plan.CheckTenants(ctx, e.src, e.cfg.Tenants); err != nil {
		return err
	}
	e.jobs = selectJobs(e.plan)
	target, err := schema.Load(ctx, e.dst, nil)
	if err != nil {
		return fmt.Errorf("reading the target schema: %w", err)
	}
	e.target = target
	if err := check(e.jobs, target); err != nil {
		return err
	}
	linkParents(e.jobs, target)
	for _, j := range e.jobs {
		j.byTenant = len(e.cfg.Tenants) > 0 && j.plan.Kind.Distributed()
		if j.byTenant && j.tenant == nil {
			return fmt.Errorf("%s has no tenant column %q on the source: cannot copy it by tenant", j.key, j.plan.TenantColumn)
		}
	}
	return nil
}

// begin opens the checkpoint store, takes the run's lock, and starts or
// resumes the run (after emptying the target on Restart).
func (e *engine) begin(ctx context.Context) (unlock func(), err error) {
	store, err := checkpoints.Open(ctx, e.dst)
	if err != nil {
		return nil, err
	}
	if err := e.recoverInDoubt(ctx); err != nil {
		return nil, err
	}
	// Lock waits a few seconds for the session of a process killed a
	// moment ago to end, then refuses: one process per run.
	unlock, err = store.Lock(ctx, e.env.Run)
	if err != nil {
		return nil, err
	}
	e.run, err = store.Begin(ctx, e.env.Run, Name, e.options(), e.env.Restart)
	if err == nil && e.env.Restart {
		// After the checkpoints are forgotten: a crash in between leaves
		// rows no checkpoint accounts for, which a rerun refuses.
		err = e.truncate(ctx)
	}
	if err == nil {
		err = e.run.SetPhase(ctx, Name)
	}
	if err != nil {
		unlock()
		return nil, err
	}
	return unlock, nil
}

// recoverInDoubt resolves, on a Citus target, the two-phase commits of
// units a crash left in doubt: until resolved their rows are invisible
// (the guard would take the range for empty) and their locks held (a
// rerun of the unit would wait on them). Citus does it itself within a
// minute; a rerun should not wait for that.
func (e *engine) recoverInDoubt(ctx context.Context) error {
	v, err := citus.Detect(ctx, e.dst)
	if err != nil || v == "" {
		return err
	}
	n, err := citus.RecoverPrepared(ctx, e.dst)
	if n > 0 {
		e.emit.Emit(phase.Event{Kind: phase.Note, Message: fmt.Sprintf("resolved %d two-phase commits a crash left in doubt", n)})
	}
	return err
}

func (e *engine) options() runOptions {
	c := e.plan.Config
	return runOptions{TenantTable: c.TenantTable, TenantColumn: e.plan.TenantColumn, Relations: c.Relations,
		References: c.References, Excludes: c.Excludes, Tenants: e.cfg.Tenants, Replace: e.cfg.Replace, Parts: e.cfg.Part.N, Layout: unitLayout}
}

// announce emits a Planned event for every table.
func (e *engine) announce() {
	for _, j := range e.jobs {
		ev := phase.Event{Kind: phase.Planned, Table: j.key, Total: j.est}
		for _, u := range j.units {
			if u.State == checkpoints.Done {
				j.report.ChunksSkipped++
				ev.Done += u.Rows
				ev.Bytes += u.Bytes
			}
		}
		switch {
		case j.skip != "":
			ev.Total = 0
		case j.byTenant:
			ev.Total = -1 // a few tenants' rows: an unknown share
		}
		j.report.Chunks = len(j.units)
		j.report.Skipped = j.skip
		e.emit.Emit(ev)
	}
}

func (e *engine) finishReport(started time.Time) *Report {
	for _, j := range e.jobs {
		e.report.Tables = append(e.report.Tables, *j.report)
	}
	e.report.finish(started)
	return e.report
}

// copyPending runs the steps every copy shares once its units are planned:
// the trigger check, the guard, the announcement, the snapshot and the
// chunks.
func (e *engine) copyPending(ctx context.Context) error {
	if err := checkTriggers(e.jobs, e.target); err != nil {
		return err
	}
	if err := e.guard(ctx); err != nil {
		return err
	}
	e.announce()
	var err error
	if e.snap, err = e.takeSnapshot(ctx); err != nil {
		return err
	}
	defer e.snap.release()
	return e.copyAll(ctx)
}
