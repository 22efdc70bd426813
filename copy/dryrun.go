package pgcopy

import (
	"context"
	"errors"
	"time"

	"github.com/jackc/pgerrcode"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/tenantmover/tenantmover/checkpoints"
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
		if units == nil || e.cfg.Restart {
			if units, j.skip, err = e.proposeUnits(ctx, j); err != nil {
				return nil, err
			}
		}
		j.units = units
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
			e.report.Chunks = append(e.report.Chunks, PlannedChunk{Table: j.key, Chunk: u.ID, Lo: u.Lo, Hi: u.Hi, Range: j.describe(u), State: state,
				SQL: []string{j.copyOut(j.unitCond(literals(), u)), j.copyIn()}})
		}
	}
	if e.cfg.Restart {
		for i := len(e.jobs) - 1; i >= 0; i-- {
			if len(e.cfg.Tenants) == 0 || e.jobs[i].byTenant {
				e.report.Truncated = append(e.report.Truncated, e.jobs[i].key)
			}
		}
	}
	return e.finishReport(started), nil
}

// recordedUnits reads a table's units of this run from the checkpoint
// tables without creating them (nil when there are none). It reads the
// checkpoint schema directly because opening a checkpoints.Run writes.
func (e *engine) recordedUnits(ctx context.Context, j *job) ([]checkpoints.Unit, error) {
	rows, err := e.dst.Query(ctx, `SELECT unit, lo, hi, state, rows, bytes FROM tenantmover.units
		WHERE run = $1 AND phase = $2 AND table_name = $3 ORDER BY unit`, e.cfg.RunName, Phase, j.key)
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) && (pgErr.Code == pgerrcode.UndefinedTable || pgErr.Code == pgerrcode.InvalidSchemaName) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	units, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (checkpoints.Unit, error) {
		var u checkpoints.Unit
		err := r.Scan(&u.ID, &u.Lo, &u.Hi, &u.State, &u.Rows, &u.Bytes)
		return u, err
	})
	if len(units) == 0 {
		return nil, err
	}
	return units, err
}
