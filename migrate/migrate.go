package migrate

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/tenantmover/tenantmover/backfill"
	"github.com/tenantmover/tenantmover/checkpoints"
	pgcopy "github.com/tenantmover/tenantmover/copy"
	"github.com/tenantmover/tenantmover/follow"
	"github.com/tenantmover/tenantmover/internal/db"
	"github.com/tenantmover/tenantmover/internal/ddl"
	"github.com/tenantmover/tenantmover/internal/phase"
	"github.com/tenantmover/tenantmover/internal/plan"
	"github.com/tenantmover/tenantmover/verify"
)

// DefaultRun is the name of a migration run unless Config.Run says another.
const DefaultRun = "migrate"

// Config is one migration. Each phase's config takes its package's
// defaults where left zero, as the phase's own command does.
type Config struct {
	// Source and Target are libpq connection strings.
	Source, Target string
	// Plan is what the user says about the tenant (plan's flags).
	Plan plan.Config
	// Run names the run; a rerun of the same name resumes. Default
	// DefaultRun.
	Run string
	// Restart forgets the run's checkpoints and starts every phase over
	// (the copy empties the target tables it copies into).
	Restart bool
	// Backfill, Copy and Verify configure those phases. The backfill keeps
	// its fill triggers (the application writes until the cutover) and
	// fails on orphans (they cannot be distributed), whatever is set here.
	Backfill backfill.Config
	Copy     pgcopy.Config
	Verify   verify.Config
	// Follow, when set, follows the source from the copy's snapshot on:
	// the copy reads a replication slot's snapshot, and after the foreign
	// keys a follow phase applies the source's changes until the cutover
	// (tenantmover cutover) or ctx ends. The cutover verifies, so the
	// verify phase is left out.
	Follow *follow.Config
	// SkipTenantCheck leaves out the tenant-check phase (a NULL scan per
	// distributed table and a join per foreign key between them); rows it
	// would find then stop the copy or the foreign keys.
	SkipTenantCheck bool
	// Progress receives every phase's events, one at a time, and a
	// phase.Started event without table or step as each phase begins.
	Progress func(phase.Event)
	// Window bounds the run in time and rate (nil: no bounds): at its end
	// no phase or unit starts, the run is recorded paused and Run returns
	// a *phase.WindowEndedError; a rerun continues. Not with Follow.
	Window *phase.Window
}

// options are what a run remembers: resuming with other ones is refused
// unless Restart.
type options struct {
	Plan     plan.Config `json:"plan"`
	Checksum bool        `json:"checksum"`
	Follow   bool        `json:"follow,omitempty"`
	// Parts: N of a migration whose copy N processes share (Copy.Part).
	Parts int `json:"parts,omitempty"`
}

// migration is one Run.
type migration struct {
	cfg      Config
	src, dst *pgxpool.Pool // catalog reads and the run record
	plan     *plan.Plan
	store    *checkpoints.Store
	run      *checkpoints.Run
	report   *Report
	progress func(phase.Event)
}

// Run runs the migration described by cfg and returns its report, also
// when it fails part-way (nil only when it could not start). Exit status
// for a command: the report's Match says whether verify found differences.
func Run(ctx context.Context, cfg Config) (*Report, error) {
	started := time.Now()
	if !cfg.Copy.Part.Whole() && (cfg.Restart || cfg.Follow != nil) {
		return nil, errors.New("a migration copied in parts (--part) cannot --restart or --follow: each part reads a snapshot of its own, and one part would empty what the others copy")
	}
	m, err := open(ctx, cfg)
	if err != nil {
		return nil, err
	}
	defer m.close()
	// Plan before the run is recorded: a run that fails on a typo in its
	// options has done nothing and must not pin those options.
	if err := m.planPhase(ctx, started); err != nil {
		return m.report, err
	}
	unlock, err := m.begin(ctx)
	if err != nil {
		return m.report, err
	}
	defer unlock()
	wctx, cancel := cfg.Window.Context(ctx)
	defer cancel()
	err = cfg.Window.Explain(wctx, m.runPhases(wctx))
	m.report.Paused = errors.Is(err, phase.ErrWindowEnded)
	m.report.Seconds = time.Since(started).Seconds()
	if !m.report.OthersCopying {
		m.run.RecordEnd(wctx, err)
	}
	return m.report, err
}

// phases are the migration's steps after plan, in order.
func (m *migration) phases() ([]phase.Phase, error) {
	bcfg := m.cfg.Backfill
	// The application keeps writing until the cutover: without the
	// triggers, rows it inserts before the copy would have no tenant.
	bcfg.KeepTriggers, bcfg.FailOnOrphans = true, true
	fill, err := backfill.New(bcfg)
	if err != nil {
		return nil, err
	}
	check, err := verify.NewSourceCheck(verify.Config{Workers: m.cfg.Verify.Workers})
	if err != nil {
		return nil, err
	}
	if m.cfg.Follow != nil {
		return m.followPhases(fill, check)
	}
	cp, err := pgcopy.New(m.cfg.Copy)
	if err != nil {
		return nil, err
	}
	vf, err := verify.New(m.cfg.Verify)
	if err != nil {
		return nil, err
	}
	return []phase.Phase{fill, check, ddl.SchemaPhase(), cp, ddl.ForeignKeysPhase(), vf}, nil
}

// followPhases are the phases of a followed migration: the copy reads the
// slot's snapshot, and the follower ends the list. The stream is named
// after the run, so cutover --run NAME finds it.
func (m *migration) followPhases(fill, check phase.Phase) ([]phase.Phase, error) {
	fcfg := *m.cfg.Follow
	fcfg.Stream = m.cfg.Run
	cp, err := follow.NewCopy(m.cfg.Copy, fcfg)
	if err != nil {
		return nil, err
	}
	fl, err := follow.New(fcfg)
	if err != nil {
		return nil, err
	}
	// Triggers and row-level security would act on the follower's writes:
	// cutover adds them while writes are paused.
	return []phase.Phase{fill, check, ddl.SchemaPhase(), cp, ddl.ForeignKeysPhase(ddl.WithoutTriggers()), fl}, nil
}

// skipped says why the user left a phase out ("" when not).
func (m *migration) skipped(name string) string {
	if name == verify.SourceCheckName && m.cfg.SkipTenantCheck {
		return "skipped (--skip-tenant-check)"
	}
	return ""
}

func open(ctx context.Context, cfg Config) (*migration, error) {
	if cfg.Run == "" {
		cfg.Run = DefaultRun
	}
	m := &migration{cfg: cfg, progress: cfg.Progress,
		report: &Report{Run: cfg.Run, Source: db.Redact(cfg.Source), Target: db.Redact(cfg.Target)}}
	if m.progress == nil {
		m.progress = func(phase.Event) {}
	}
	var err error
	if m.src, err = db.Open(ctx, cfg.Source, db.ForProfile(db.ProfileCatalog)); err != nil {
		return nil, err
	}
	if m.dst, err = db.Open(ctx, cfg.Target, db.ForProfile(db.ProfileCatalog)); err != nil {
		m.src.Close()
		return nil, err
	}
	return m, nil
}

func (m *migration) close() {
	m.src.Close()
	m.dst.Close()
}

// begin opens the run's record on the target (where the migration ends)
// and takes its lock, so two processes never work on one run. The phases
// keep their own checkpoints under "<run>.<phase>", each with its own lock.
func (m *migration) begin(ctx context.Context) (func(), error) {
	store, err := checkpoints.Open(ctx, m.dst)
	if err != nil {
		return nil, err
	}
	m.store = store
	part := m.cfg.Copy.Part
	var unlock func()
	if part.Whole() {
		unlock, err = store.Lock(ctx, "migrate:"+m.cfg.Run)
	} else {
		// Each part holds its own lock; they start the run one at a time.
		m.report.Part = part.String()
		unlock, err = store.LockPart(ctx, "migrate:"+m.cfg.Run, part)
	}
	if err != nil {
		return nil, err
	}
	opts := options{Plan: m.cfg.Plan, Checksum: m.cfg.Verify.Checksum, Follow: m.cfg.Follow != nil, Parts: part.N}
	unlockPlan := func() {}
	if !part.Whole() {
		if unlockPlan, err = store.LockPlan(ctx, "migrate:"+m.cfg.Run); err != nil {
			unlock()
			return nil, err
		}
	}
	m.run, err = store.Begin(ctx, m.cfg.Run, "migrate", opts, m.cfg.Restart)
	unlockPlan()
	if err != nil {
		unlock()
		return nil, err
	}
	m.report.Resumed = m.run.Resumed
	if m.cfg.Restart {
		// The phases start over when they run, which may be after a
		// crash: record that they must.
		list, err := m.phases()
		if err == nil {
			err = m.run.RequestRestart(ctx, names(list))
		}
		if err != nil {
			unlock()
			return nil, err
		}
	}
	return unlock, nil
}

func names(list []phase.Phase) []string {
	out := make([]string, len(list))
	for i, p := range list {
		out[i] = p.Name()
	}
	return out
}

// runPhases runs each phase in order, skipping the Once phases an earlier
// run of the same name completed, and records each one's end.
func (m *migration) runPhases(ctx context.Context) error {
	list, err := m.phases()
	if err != nil {
		return err
	}
	recs, err := m.run.Phases(ctx)
	if err != nil {
		return err
	}
	// The parts of a run take the phases before the copy one at a time,
	// under the run's plan lock: the first does them, the others find them
	// done (or, for the ones run every time, do them again after it).
	part := m.cfg.Copy.Part
	unlockPre := func() {}
	if !part.Whole() {
		if unlockPre, err = m.store.LockPlan(ctx, "migrate:"+m.cfg.Run); err != nil {
			return err
		}
		if recs, err = m.run.Phases(ctx); err != nil {
			unlockPre()
			return err
		}
		// The part that held the lock before may have backfilled the
		// source since this one planned.
		if err = m.replan(ctx); err != nil {
			unlockPre()
			return err
		}
	}
	defer func() { unlockPre() }()
	for _, ph := range list {
		if ph.Name() == pgcopy.Name {
			unlockPre()
			unlockPre = func() {}
		}
		rec := recs[ph.Name()]
		if why := m.skipped(ph.Name()); why != "" {
			m.report.add(ph.Name(), PhaseReport{Status: StatusSkipped, Note: why})
			continue
		}
		// A part's copy always runs: another part may have recorded the
		// phase while this part's chunks were left (a part killed).
		if ph.Mode() == phase.Once && rec.State == checkpoints.Done && !rec.Restart && (part.Whole() || ph.Name() != pgcopy.Name) {
			m.report.add(ph.Name(), PhaseReport{Status: StatusSkipped, Note: "done by an earlier run"})
			continue
		}
		if m.cfg.Window.Ended() {
			return m.cfg.Window.Stop()
		}
		if err := m.runPhase(ctx, ph, rec.Restart); err != nil {
			return fmt.Errorf("%s: %w", ph.Name(), err)
		}
		if m.report.OthersCopying {
			return nil // the part completing the copy goes on
		}
	}
	m.report.Finished = true
	return nil
}

// runPhase runs one phase and records how it ended.
func (m *migration) runPhase(ctx context.Context, ph phase.Phase, restart bool) error {
	name := ph.Name()
	m.progress(phase.Event{Phase: name, Kind: phase.Started})
	if err := m.run.StartPhase(ctx, name); err != nil {
		return err
	}
	env := &phase.Env{Source: m.cfg.Source, Target: m.cfg.Target, Plan: m.plan, Run: m.cfg.Run + "." + name,
		Restart: restart, Progress: m.progress, Window: m.cfg.Window}
	started := time.Now()
	res, err := ph.Run(ctx, env)
	if res.Seconds == 0 {
		res.Seconds = time.Since(started).Seconds()
	}
	state := checkpoints.EndState(ctx, err)
	if rep, ok := res.Report.(*pgcopy.Report); ok && err == nil && rep != nil && rep.Part != "" && !rep.CompletedRun {
		// This part's share is done, not the copy.
		state = checkpoints.Running
		m.report.OthersCopying, m.report.PartsLeft = true, rep.PartsLeft
	}
	m.report.add(name, PhaseReport{Status: state, Summary: res.Summary, Note: res.Note})
	m.collect(res, err)
	// Recorded also when ctx ended (Ctrl-C, the window's grace).
	ectx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	if rerr := m.run.EndPhase(ectx, name, state, res.Summary, res.Note); rerr != nil && err == nil {
		err = rerr
	}
	if err == nil && res.Replan {
		err = m.replan(ctx)
	}
	return err
}

// collect keeps what the report shows of a phase's own report.
func (m *migration) collect(res phase.Result, err error) {
	switch r := res.Report.(type) {
	case *backfill.Report:
		if r != nil {
			m.report.Orphans = r.OrphanCount()
		}
	case *follow.Report:
		m.report.Follow = r
	case *verify.Result:
		if r != nil && r.Phase == verify.Name {
			m.report.Verify = r
			m.report.Match = r.Match
		}
	}
	var tp *verify.TenantProblemsError
	if errors.As(err, &tp) {
		m.report.TenantProblems = tp.Differences
	}
}
