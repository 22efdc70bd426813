package pgcopy

import (
	"context"
	"time"

	"github.com/tenantmover/tenantmover/checkpoints"
	"github.com/tenantmover/tenantmover/internal/phase"
)

// dryRun lists the chunks a run would copy, with their SQL, writing
// nothing: units the run already recorded are read from the target's
// checkpoints as they are (with their state), the others computed.
func (e *engine) dryRun(ctx context.Context) (*Report, error) {
	started := time.Now()
	for _, j := range e.jobs {
		units, err := e.recordedUnits(ctx, j)
		if err != nil {
			return nil, err
		}
		if units == nil || e.env.Restart {
			if units, j.skip, err = e.proposeUnits(ctx, j); err != nil {
				return nil, err
			}
		}
		j.units = units
		if !e.cfg.Part.Whole() {
			e.keepOwnUnits(j)
			units = j.units
		}
		j.report.Chunks = len(units)
		j.report.Skipped = j.skip
		for _, u := range units {
			state := u.State
			if state == "" {
				state = checkpoints.Pending
			}
			if state == checkpoints.Done {
				j.report.ChunksSkipped++
			}
			e.report.Chunks = append(e.report.Chunks, PlannedChunk{Table: j.key, Chunk: u.ID, Lo: u.Lo, Hi: u.Hi, Tenant: u.Tenant,
				Range: u.Describe(), State: state, SQL: []string{j.copyOut(j.unitCond(phase.Literals(), u)), j.copyIn()}})
		}
	}
	if e.env.Restart {
		for i := len(e.jobs) - 1; i >= 0; i-- {
			if len(e.cfg.Tenants) == 0 || e.jobs[i].byTenant {
				e.report.Truncated = append(e.report.Truncated, e.jobs[i].key)
			}
		}
	}
	return e.finishReport(started), nil
}

// recordedUnits reads a table's units of this run without creating the
// checkpoint schema (nil when there are none).
func (e *engine) recordedUnits(ctx context.Context, j *job) ([]checkpoints.Unit, error) {
	return checkpoints.Attach(e.dst).RecordedUnits(ctx, e.env.Run, Name, j.key)
}
