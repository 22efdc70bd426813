package migrate

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/tenantmover/tenantmover/internal/ddl"
	"github.com/tenantmover/tenantmover/internal/plan"
)

// BlockedError: the plan has blocking problems, listed in Plan with their
// remedies. Nothing was changed.
type BlockedError struct {
	Plan   *plan.Plan
	Tables int
}

func (e *BlockedError) Error() string {
	return fmt.Sprintf("the plan has blocking problems on %d tables: fix them (see each remedy) and rerun", e.Tables)
}

// planPhase plans from the source and stops on blocking problems or a
// target that cannot take the plan. It runs before the run is recorded: a
// target table that cannot take the plan would otherwise stop the schema
// phase after backfill changed the source.
func (m *migration) planPhase(ctx context.Context, started time.Time) error {
	if err := m.replan(ctx); err != nil {
		return err
	}
	if err := ddl.CheckObjects(ctx, m.dst, m.plan); err != nil {
		return err
	}
	if blocking := m.plan.Blocking(); len(blocking) > 0 {
		return &BlockedError{Plan: m.plan, Tables: len(blocking)}
	}
	target, problems, err := ddl.Inspect(ctx, m.dst)
	if err != nil {
		return err
	}
	if len(problems) > 0 {
		return errors.New(problems[0].Message + ": " + problems[0].Remedy)
	}
	if err := ddl.CheckTarget(ctx, m.dst, m.plan); err != nil {
		return err
	}
	m.report.Citus = target.Citus
	pr := PhaseReport{Status: StatusDone, Note: fmt.Sprintf("%d tables: %d distributed, %d reference",
		len(m.plan.Tables), len(m.plan.Distributed()), len(m.plan.OfKind(plan.Reference)))}
	pr.Seconds = time.Since(started).Seconds()
	m.report.add("plan", pr)
	return nil
}

// replan plans from the source as it is now.
func (m *migration) replan(ctx context.Context) error {
	p, err := plan.Build(ctx, m.src, m.cfg.Plan)
	if err != nil {
		return fmt.Errorf("planning: %w", err)
	}
	m.plan = p
	return nil
}
