package main

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/tenantmover/tenantmover/backfill"
	pgcopy "github.com/tenantmover/tenantmover/copy"
	"github.com/tenantmover/tenantmover/internal/ddl"
	"github.com/tenantmover/tenantmover/internal/plan"
	"github.com/tenantmover/tenantmover/internal/planview"
	"github.com/tenantmover/tenantmover/verify"
)

// planPhase plans from the source and stops on blocking problems or a
// target that cannot take the plan. It runs before the run is recorded.
func (m *migration) planPhase(ctx context.Context, pr *phaseReport) error {
	if err := m.buildPlan(ctx); err != nil {
		return err
	}
	if blocking := m.plan.Blocking(); len(blocking) > 0 {
		_ = planview.RenderText(stderrOf(m.c), m.plan)
		return &differencesError{msg: fmt.Sprintf("the plan has blocking problems on %d tables: fix them (see each remedy above) and rerun", len(blocking))}
	}
	target, problems, err := ddl.Inspect(ctx, m.dst)
	if err != nil {
		return err
	}
	if len(problems) > 0 {
		return errors.New(problems[0].Message + ": " + problems[0].Remedy)
	}
	// A target table that cannot take the plan would stop the schema phase
	// after backfill has changed the source: find it now.
	if err := ddl.CheckTarget(ctx, m.dst, m.plan); err != nil {
		return err
	}
	m.report.Citus = target.Citus
	pr.Note = fmt.Sprintf("%d tables: %d distributed, %d reference", len(m.plan.Tables), len(m.plan.Distributed()), len(m.plan.OfKind(plan.Reference)))
	return nil
}

// buildPlan plans from the source as it is now.
func (m *migration) buildPlan(ctx context.Context) error {
	p, err := plan.Build(ctx, m.src, m.cfg)
	if err != nil {
		return err
	}
	m.plan = p
	return nil
}

// backfillPhase adds and fills the tenant column of the nested tables,
// keeping the fill triggers for the writes that come before the cutover.
func (m *migration) backfillPhase(ctx context.Context, pr *phaseReport) error {
	restart, err := m.restartPending(ctx, "backfill")
	if err != nil {
		return err
	}
	progress, closeProgress := backfillProgress(m.c)
	rep, err := backfill.Run(ctx, m.src, m.plan, backfill.Config{
		Workers:   m.c.Int("workers"),
		BatchTime: m.c.Duration("batch-time"),
		RunName:   m.report.Run + ".backfill",
		Restart:   restart,
		// The application keeps writing until the cutover: without the
		// triggers, rows it inserts before copy would have no tenant.
		KeepTriggers: true,
	}, progress)
	closeProgress()
	if err != nil {
		return err
	}
	if err := m.restartDone(ctx, "backfill"); err != nil {
		return err
	}
	for _, t := range rep.Tables {
		pr.Rows += t.RowsUpdated
	}
	m.report.Orphans = rep.OrphanCount()
	pr.Note = "fill triggers kept: drop them once the application writes the tenant column itself"
	if m.report.Orphans > 0 {
		return fmt.Errorf("%d rows have no tenant (orphans, listed by tenantmover backfill --format json): they cannot be distributed; repair or delete them, or --exclude their tables, then rerun", m.report.Orphans)
	}
	// The nested tables now have their tenant column: plan again so copy
	// and verify read it.
	return m.buildPlan(ctx)
}

// tenantCheckPhase checks on the source that every row of a distributed
// table has a tenant and that its foreign keys to other distributed tables
// point at rows of the same tenant. Citus refuses a NULL distribution
// column, and the target's composite foreign keys refuse a row pointing at
// another tenant's: found later, either would stop the copy or the
// foreign-keys phase after it.
func (m *migration) tenantCheckPhase(ctx context.Context, pr *phaseReport) error {
	if m.c.Bool("skip-tenant-check") {
		pr.Note = "skipped (--skip-tenant-check)"
		return nil
	}
	res, err := verify.CheckSource(ctx, m.src, m.plan, verify.Config{Workers: m.c.Int("workers")}, nil)
	if err != nil {
		return err
	}
	m.report.TenantProblems = res.Differences
	if res.Match {
		pr.Note = "every row has a tenant; foreign keys stay within it"
		return nil
	}
	printDifferences(stderrOf(m.c), res.Differences)
	var noTenant, crossing int64
	for _, d := range res.Differences {
		if d.Kind == verify.KindNoTenant {
			noTenant += d.Source
		} else {
			crossing += d.Source
		}
	}
	var what []string
	if noTenant > 0 {
		what = append(what, fmt.Sprintf("%d rows have no tenant (Citus cannot store a NULL distribution column)", noTenant))
	}
	if crossing > 0 {
		what = append(what, fmt.Sprintf("%d rows reference a row of another tenant (the target's foreign keys, composite with the tenant column, would reject them)", crossing))
	}
	return fmt.Errorf("%s; they are listed above with sample keys: correct or delete those rows on the source, or --exclude their tables, then rerun", strings.Join(what, "; "))
}

// schemaPhase creates the target schema, without its foreign keys (they
// would slow the copy and need its parents first).
func (m *migration) schemaPhase(ctx context.Context, pr *phaseReport) error {
	restart, err := m.restartPending(ctx, "copy")
	if err != nil {
		return err
	}
	opts := []ddl.ApplyOption{ddl.WithoutForeignKeys()}
	if restart {
		// Tables may hold rows of the run being restarted: the copy empties
		// them. Tables the plan gained since are created all the same.
		opts = append(opts, ddl.AllowingRows())
		pr.Note = "the restarted copy empties the tables first"
	}
	return ddl.Apply(ctx, m.dst, m.plan, opts...)
}

// copyPhase copies every table, resuming the phase run's chunks.
func (m *migration) copyPhase(ctx context.Context, pr *phaseReport) error {
	// Backfill may have been done by an earlier run: plan from the source
	// as it is now, with the tenant columns.
	if err := m.buildPlan(ctx); err != nil {
		return err
	}
	restart, err := m.restartPending(ctx, "copy")
	if err != nil {
		return err
	}
	progress, closeProgress := copyProgress(m.c, false)
	rep, err := pgcopy.Run(ctx, m.srcURL, m.dstURL, m.plan, pgcopy.Config{
		Workers:   m.c.Int("workers"),
		ChunkRows: m.c.Int64("chunk-rows"),
		RunName:   m.report.Run + ".copy",
		Restart:   restart,
	}, progress)
	closeProgress()
	if err != nil {
		return err
	}
	if err := m.restartDone(ctx, "copy"); err != nil {
		return err
	}
	pr.Rows, pr.Bytes = rep.Rows, rep.Bytes
	pr.Note = fmt.Sprintf("%d chunks copied, %d already done", rep.ChunksCopied, rep.ChunksSkipped)
	return nil
}

// foreignKeysPhase adds the target's foreign keys once the data is in.
func (m *migration) foreignKeysPhase(ctx context.Context, _ *phaseReport) error {
	return ddl.ApplyForeignKeys(ctx, m.dst, m.plan)
}

// verifyPhase compares every tenant of every table; it runs on every
// rerun, also of a finished migration.
func (m *migration) verifyPhase(ctx context.Context, pr *phaseReport) error {
	if m.plan == nil || !m.planHasTenantColumns() {
		if err := m.buildPlan(ctx); err != nil {
			return err
		}
	}
	res, err := verify.Run(ctx, m.src, m.dst, m.dstURL, m.plan, verify.Config{
		Checksum: m.opts.Checksum,
		Workers:  m.c.Int("workers"),
	}, verifyProgress(m.c))
	if err != nil {
		return err
	}
	m.report.Verify = res
	m.report.Match = res.Match
	for _, t := range res.Summary.Tables {
		pr.Rows += t.SourceRows
	}
	pr.Note = fmt.Sprintf("%d differences", len(res.Differences))
	return nil
}

// planHasTenantColumns reports whether the plan was made after backfill.
func (m *migration) planHasTenantColumns() bool {
	for _, t := range m.plan.Distributed() {
		if !t.HasTenantColumn {
			return false
		}
	}
	return true
}
