package pgcopy

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/tenantmover/tenantmover/checkpoints"
	"github.com/tenantmover/tenantmover/internal/db"
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

// engine is one run of the copy.
type engine struct {
	cfg      Config
	plan     *plan.Plan
	src, dst *pgxpool.Pool
	target   *schema.Catalog
	run      *checkpoints.Run
	jobs     []*job
	replace  bool // delete the tenants' target rows first (Replace, or Restart with tenants)
	snap     *snapshot
	report   *Report

	mu         sync.Mutex // serializes onProgress and report updates
	onProgress func(Progress)
}

// Run copies the tables of p from the source database at srcURL into the
// target at dstURL (plain PostgreSQL or a Citus coordinator whose schema
// plan.Apply created), resuming the run cfg.RunName if it exists.
// onProgress (may be nil) receives events, one at a time.
func Run(ctx context.Context, srcURL, dstURL string, p *plan.Plan, cfg Config, onProgress func(Progress)) (*Report, error) {
	cfg, err := NewConfig(cfg)
	if err != nil {
		return nil, err
	}
	// Source: a connection per worker, one holding the run's snapshot, one
	// for planning and sequences.
	src, err := openPool(ctx, srcURL, cfg.Workers+2, nil)
	if err != nil {
		return nil, fmt.Errorf("source: %w", err)
	}
	defer src.Close()
	// Target: a connection per worker, the run's lock, and one for the
	// checkpoint bookkeeping.
	dst, err := openPool(ctx, dstURL, cfg.Workers+2, targetSettings)
	if err != nil {
		return nil, fmt.Errorf("target: %w", err)
	}
	defer dst.Close()
	if onProgress == nil {
		onProgress = func(Progress) {}
	}
	e := &engine{cfg: cfg, plan: p, src: src, dst: dst, onProgress: onProgress,
		replace: cfg.Replace || (cfg.Restart && len(cfg.Tenants) > 0),
		report:  &Report{Run: cfg.RunName, DryRun: cfg.DryRun, Tenants: cfg.Tenants}}
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

// execute runs the phases of a copy.
func (e *engine) execute(ctx context.Context) (*Report, error) {
	started := time.Now()
	if err := e.prepare(ctx); err != nil {
		return nil, err
	}
	if e.cfg.DryRun {
		return e.dryRun(ctx)
	}
	unlock, err := e.begin(ctx)
	if err != nil {
		return nil, err
	}
	defer unlock()
	if err := e.planUnits(ctx); err != nil {
		return nil, err
	}
	if err := e.guard(ctx); err != nil {
		return nil, err
	}
	e.announce()
	if e.snap, err = holdSnapshot(ctx, e.src); err != nil {
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
	if err := e.run.Finish(ctx, "done"); err != nil {
		return nil, fmt.Errorf("recording the end of run %q: %w", e.cfg.RunName, err)
	}
	return e.finishReport(started), nil
}

// prepare selects the tables and checks them against the target before
// anything is written.
func (e *engine) prepare(ctx context.Context) error {
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
	// Lock waits a few seconds for the session of a process killed a
	// moment ago to end, then refuses: one process per run.
	unlock, err = store.Lock(ctx, e.cfg.RunName)
	if err != nil {
		return nil, err
	}
	e.run, err = store.Begin(ctx, e.cfg.RunName, "copy", e.options(), e.cfg.Restart)
	if err == nil && e.cfg.Restart {
		// After the checkpoints are forgotten: a crash in between leaves
		// rows no checkpoint accounts for, which a rerun refuses.
		err = e.truncate(ctx)
	}
	if err == nil {
		err = e.run.SetPhase(ctx, Phase)
	}
	if err != nil {
		unlock()
		return nil, err
	}
	return unlock, nil
}

func (e *engine) options() runOptions {
	c := e.plan.Config
	return runOptions{TenantTable: c.TenantTable, TenantColumn: e.plan.TenantColumn, Relations: c.Relations,
		References: c.References, Excludes: c.Excludes, Tenants: e.cfg.Tenants, Replace: e.cfg.Replace}
}

// emit reports an event; callers may be on any goroutine.
func (e *engine) emit(p Progress) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.onProgress(p)
}

// announce emits EventPlanned for every table.
func (e *engine) announce() {
	for _, j := range e.jobs {
		p := Progress{Kind: EventPlanned, Table: j.key, TotalRows: j.est, Chunks: len(j.units)}
		for _, u := range j.units {
			if u.State == checkpoints.Done {
				p.ChunksDone++
				p.DoneRows += u.Rows
				p.DoneBytes += u.Bytes
			}
		}
		if j.skip != "" {
			p.TotalRows = 0
		}
		j.report.Chunks = len(j.units)
		j.report.ChunksSkipped = p.ChunksDone
		j.report.Skipped = j.skip
		e.emit(p)
	}
}

func (e *engine) finishReport(started time.Time) *Report {
	for _, j := range e.jobs {
		e.report.Tables = append(e.report.Tables, *j.report)
	}
	e.report.finish(started)
	return e.report
}
