package main

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/urfave/cli/v2"

	"github.com/tenantmover/tenantmover/checkpoints"
	pgcopy "github.com/tenantmover/tenantmover/copy"
	"github.com/tenantmover/tenantmover/internal/db"
	"github.com/tenantmover/tenantmover/internal/plan"
	"github.com/tenantmover/tenantmover/verify"
)

func migrateCommand() *cli.Command {
	flags := commonFlags(sourceFlag, targetFlag, runFlag,
		&cli.IntFlag{Name: "workers", Value: 2, Usage: "batches and chunks in flight at once"},
		&cli.DurationFlag{Name: "batch-time", Value: 200 * time.Millisecond, Usage: "target duration of one backfill batch"},
		&cli.Int64Flag{Name: "chunk-rows", Value: pgcopy.DefaultChunkRows, Usage: "rows per copy chunk"},
		&cli.BoolFlag{Name: "checksum", Usage: "verify content hashes too, not only counts"},
		&cli.BoolFlag{Name: "skip-tenant-check", Usage: "skip the tenant-check phase (a NULL scan per distributed table and a join per foreign key between them); rows it would find then stop the copy or the foreign keys"},
		&cli.BoolFlag{Name: "restart", Usage: "forget this run's checkpoints and start over (empties the target tables it copies into)"},
		&cli.StringFlag{Name: "report", Usage: "also write the final report as JSON to this file"},
	)
	return &cli.Command{
		Name:  "migrate",
		Usage: "plan, backfill, create the target schema, copy and verify as one resumable run",
		Description: `The whole night in one command. Phases, in order:

   plan          read the source; stop if the plan has blocking problems
   backfill      add and fill the tenant column on nested tables (source)
   tenant-check  check every row has a tenant and its foreign keys stay within it
   schema        create the Citus schema on the target, if absent
   copy          stream every table into the target, chunk by chunk
   foreign-keys  add the target's (composite) foreign keys
   verify        compare every tenant of every table

Every phase checkpoints in the database it writes, so after a crash, kill or
Ctrl-C, running the same command again continues at the phase and chunk where
it stopped. Exit status 0 when the target matches, 2 when verify found
differences (or the plan has blocking problems), 1 on error, 130 interrupted.`,
		Flags:  append(flags, tenantFlags()...),
		Action: runMigrate,
	}
}

// migrateOptions are what a run remembers: resuming with other ones is
// refused unless --restart.
type migrateOptions struct {
	Plan     plan.Config `json:"plan"`
	Checksum bool        `json:"checksum"`
}

// migration is one migrate run: its connections, settings and the report it
// builds as its phases run.
type migration struct {
	c              *cli.Context
	srcURL, dstURL string
	src, dst       *pgxpool.Pool
	cfg            plan.Config
	opts           migrateOptions
	run            *checkpoints.Run
	plan           *plan.Plan
	report         migrateReport
}

// migrateReport is the final report (text on stderr, JSON with --report).
type migrateReport struct {
	Run     string        `json:"run"`
	Source  string        `json:"source"`
	Target  string        `json:"target"`
	Citus   string        `json:"citus_version,omitempty"`
	Resumed bool          `json:"resumed"`
	Phases  []phaseReport `json:"phases"`
	Orphans int64         `json:"orphans"`
	// TenantProblems are the rows the tenant-check phase found without a
	// tenant or pointing at another tenant's rows, with sample keys.
	TenantProblems []verify.Difference `json:"tenant_problems,omitempty"`
	Verify         *verify.Result      `json:"verify,omitempty"`
	Match          bool                `json:"match"`
	Seconds        float64             `json:"seconds"`
	Finished       bool                `json:"finished"`
}

type phaseReport struct {
	Name          string  `json:"name"`
	Status        string  `json:"status"` // done, skipped (done by an earlier run), failed
	Seconds       float64 `json:"seconds"`
	Rows          int64   `json:"rows,omitempty"`
	Bytes         int64   `json:"bytes,omitempty"`
	RowsPerSecond float64 `json:"rows_per_second,omitempty"`
	Note          string  `json:"note,omitempty"`
}

// phase is one named step of the migration after plan (which runs before the
// run is recorded, see runMigrate). Phases record their completion
// in the run's checkpoint; resumable ones (backfill, copy) also resume
// inside themselves, so a phase interrupted halfway continues where it was.
type phase struct {
	name string
	// always phases run even when an earlier run completed them: they only
	// read (verify).
	always bool
	do     func(ctx context.Context, pr *phaseReport) error
}

func (m *migration) phases() []phase {
	return []phase{
		{name: "backfill", do: m.backfillPhase},
		{name: "tenant-check", do: m.tenantCheckPhase},
		{name: "schema", do: m.schemaPhase},
		{name: "copy", do: m.copyPhase},
		{name: "foreign-keys", do: m.foreignKeysPhase},
		{name: "verify", always: true, do: m.verifyPhase},
	}
}

func runMigrate(c *cli.Context) error {
	m, err := newMigration(c)
	if err != nil {
		return err
	}
	defer m.close()
	started := time.Now()
	// Plan before the run is recorded: a run that fails on a typo in its
	// options has done nothing and must not pin those options.
	planned := phaseReport{Name: "plan", Status: "done"}
	if err := m.planPhase(c.Context, &planned); err != nil {
		return err
	}
	planned.Seconds = time.Since(started).Seconds()
	m.report.Phases = append(m.report.Phases, planned)
	unlock, err := m.begin(c.Context)
	if err != nil {
		return err
	}
	defer unlock()
	err = m.runPhases(c.Context)
	if err != nil {
		m.run.RecordEnd(c.Context, err)
	}
	m.report.Seconds = time.Since(started).Seconds()
	m.printReport()
	if werr := m.writeReport(); werr != nil && err == nil {
		err = werr
	}
	if err != nil {
		return err
	}
	if !m.report.Match {
		return &differencesError{msg: "verify found differences"}
	}
	return m.run.Finish(context.WithoutCancel(c.Context), "done")
}

func newMigration(c *cli.Context) (*migration, error) {
	cfg, err := planConfig(c)
	if err != nil {
		return nil, err
	}
	m := &migration{c: c, cfg: cfg, opts: migrateOptions{Plan: cfg, Checksum: c.Bool("checksum")}}
	if m.srcURL, err = requireURL(c, "source"); err != nil {
		return nil, err
	}
	if m.dstURL, err = requireURL(c, "target"); err != nil {
		return nil, err
	}
	if c.Int("workers") < 1 {
		return nil, usageError("--workers must be at least 1")
	}
	m.report.Run = runName(c, "migrate")
	m.report.Source, m.report.Target = db.Redact(m.srcURL), db.Redact(m.dstURL)
	opts := db.ForProfile(db.ProfileScans)
	opts.Settings = verify.SessionSettings()
	// backfill needs workers+2 connections; verify one per worker and one more.
	opts.MaxConns = int32(c.Int("workers") + 3)
	if m.src, err = db.Open(c.Context, m.srcURL, opts); err != nil {
		return nil, err
	}
	if m.dst, err = db.Open(c.Context, m.dstURL, opts); err != nil {
		m.src.Close()
		return nil, err
	}
	return m, nil
}

func (m *migration) close() {
	m.src.Close()
	m.dst.Close()
}

// begin opens the run's checkpoint on the target (where the migration ends)
// and takes its lock, so two processes never work on one run. The phases
// keep their own checkpoints under "<run>.backfill" (source) and
// "<run>.copy" (target), each with its own lock.
func (m *migration) begin(ctx context.Context) (func(), error) {
	store, err := checkpoints.Open(ctx, m.dst)
	if err != nil {
		return nil, err
	}
	unlock, err := store.Lock(ctx, "migrate:"+m.report.Run)
	if err != nil {
		return nil, err
	}
	m.run, err = store.Begin(ctx, m.report.Run, "migrate", m.opts, m.c.Bool("restart"))
	if err != nil {
		unlock()
		return nil, err
	}
	m.report.Resumed = m.run.Resumed
	if m.c.Bool("restart") {
		// The phases restart when they run, which may be after a crash:
		// record that they must, so a resumed run still starts them over.
		for _, ph := range restartablePhases {
			if err := m.run.SetTableState(ctx, nil, "migrate", restartKey(ph), "pending", nil); err != nil {
				unlock()
				return nil, err
			}
		}
	}
	return unlock, nil
}

// restartablePhases are the phases with checkpoints of their own, which a
// --restart must start over.
var restartablePhases = []string{"backfill", "copy"}

// A pending --restart of a phase is a row of the run's "migrate" phase
// named restartKey(phase), so it survives a crash with the run.
const restartPrefix = "restart "

func restartKey(phase string) string { return restartPrefix + phase }

// restartedPhase is the phase a row of the run's "migrate" phase is about.
func restartedPhase(table string) (string, bool) { return strings.CutPrefix(table, restartPrefix) }

// restartPending reports whether a --restart of this run still has to
// start phase over.
func (m *migration) restartPending(ctx context.Context, phase string) (bool, error) {
	states, err := m.run.Tables(ctx, "migrate")
	if err != nil {
		return false, err
	}
	for _, s := range states {
		if s.Table == restartKey(phase) {
			return s.State == "pending", nil
		}
	}
	return false, nil
}

// restartDone records that phase was started over.
func (m *migration) restartDone(ctx context.Context, phase string) error {
	return m.run.SetTableState(ctx, nil, "migrate", restartKey(phase), "done", nil)
}

// runPhases runs each phase in order, skipping those an earlier run of the
// same name completed, and records each completion.
func (m *migration) runPhases(ctx context.Context) error {
	done, err := m.run.Phase(ctx)
	if err != nil {
		return err
	}
	reached := done == ""
	for _, ph := range m.phases() {
		pr := phaseReport{Name: ph.name}
		if !reached && !ph.always {
			pr.Status = "skipped"
			pr.Note = "done by an earlier run"
			m.report.Phases = append(m.report.Phases, pr)
			reached = ph.name == done
			continue
		}
		reached = reached || ph.name == done
		newLogger(m.c).Info("phase", "name", ph.name)
		started := time.Now()
		err := ph.do(ctx, &pr)
		pr.Seconds = time.Since(started).Seconds()
		if pr.Rows > 0 && pr.Seconds > 0 {
			pr.RowsPerSecond = float64(pr.Rows) / pr.Seconds
		}
		pr.Status = "done"
		if err != nil {
			pr.Status = "failed"
			m.report.Phases = append(m.report.Phases, pr)
			return fmt.Errorf("%s: %w", ph.name, err)
		}
		m.report.Phases = append(m.report.Phases, pr)
		if !ph.always {
			if err := m.run.SetPhase(ctx, ph.name); err != nil {
				return err
			}
		}
	}
	m.report.Finished = true
	return nil
}
