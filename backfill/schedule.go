package backfill

import (
	"context"
	"slices"
	"time"

	"github.com/tenantmover/tenantmover/internal/phase"
)

// Steps of a table, as Finished events name them.
const (
	StepFilled = "filled" // every unit walked
	StepDone   = "done"   // indexed and proven complete (NOT NULL added when asked)
)

// fill runs every job's pending units with at most cfg.Workers batches in
// flight overall (phase.Schedule). A table starts only when its nested
// parent is filled (its one-hop UPDATE reads the parent's value), so
// independent tables and the units of one table share the workers; the
// first error cancels everything, and batches in flight roll back.
func (f *filler) fill(ctx context.Context, jobs []*job) error {
	groups := make([]phase.Group, len(jobs))
	for i, j := range jobs {
		groups[i] = phase.Group{Units: len(j.pending), Weight: j.total}
		for k, p := range jobs[:i] {
			if slices.Contains(j.parents(), p.target) {
				groups[i].After = append(groups[i].After, k)
			}
		}
	}
	return phase.Schedule(ctx, f.win, f.cfg.Workers, groups, func(ctx context.Context, g, u int) error {
		return f.runUnit(ctx, jobs[g], jobs[g].pending[u])
	}, phase.Hooks{
		Started: func(g int) {
			j := jobs[g]
			j.started = time.Now()
			f.emit.Emit(phase.Event{Kind: phase.Started, Table: j.name, Total: j.total})
		},
		Finished: func(g int) {
			j := jobs[g]
			if !j.started.IsZero() {
				j.rep.FillSeconds = time.Since(j.started).Seconds()
			}
			f.emit.Emit(phase.Event{Kind: phase.Finished, Table: j.name, Step: StepFilled,
				Fields: []any{"rows_updated", j.rep.RowsUpdated, "batches", j.rep.Batches}})
		},
	})
}
