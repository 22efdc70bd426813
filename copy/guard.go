package pgcopy

import (
	"context"
	"fmt"
	"strings"

	"github.com/tenantmover/tenantmover/checkpoints"
	"github.com/tenantmover/tenantmover/internal/phase"
)

// planUnits fixes every table's units: the recorded ones when the run saw
// the table before, else new ones recorded now (key ranges, or one unit per
// tenant).
func (e *engine) planUnits(ctx context.Context) error {
	for _, j := range e.jobs {
		planned, err := e.run.Planned(ctx, Name, j.key)
		if err != nil {
			return fmt.Errorf("reading the checkpoints of %s: %w", j.key, err)
		}
		if planned {
			if j.units, err = e.run.Units(ctx, Name, j.key); err != nil {
				return err
			}
			continue
		}
		units, skip, err := e.proposeUnits(ctx, j)
		if err != nil {
			return err
		}
		if j.skip = skip; skip != "" {
			continue
		}
		if j.units, err = e.run.PlanUnits(ctx, Name, j.key, checkpoints.TablePlan{TotalRows: j.est}, units); err != nil {
			return err
		}
	}
	return nil
}

// proposeUnits computes the units of a table the run has not planned yet;
// skip says why a table is left alone instead.
func (e *engine) proposeUnits(ctx context.Context, j *job) (units []checkpoints.Unit, skip string, err error) {
	if j.byTenant {
		return tenantUnits(e.cfg.Tenants), "", nil
	}
	if len(e.cfg.Tenants) > 0 {
		// A reference table in a tenant copy: every tenant shares it, so it
		// is copied only into an empty target, never over rows in use.
		empty, err := e.targetEmpty(ctx, j)
		if err != nil {
			return nil, "", err
		}
		if !empty {
			return nil, "reference table already filled on the target", nil
		}
	}
	units, err = boundaries(ctx, e.src, j, e.cfg.ChunkRows)
	return units, "", err
}

func (e *engine) targetEmpty(ctx context.Context, j *job) (bool, error) {
	var exists bool
	err := e.dst.QueryRow(ctx, "SELECT EXISTS (SELECT 1 FROM "+j.name.Quoted()+")").Scan(&exists)
	if err != nil {
		return false, fmt.Errorf("looking at target table %s: %w", j.key, err)
	}
	return !exists, nil
}

// guard refuses to copy into ranges where the target already holds rows
// the checkpoints do not account for (copied by hand, or by a run of
// another name): copying would collide with them or duplicate them. Done
// chunks committed their rows with their checkpoint, and a pending chunk's
// transaction rolled back, so a pending range must be empty. An empty table
// is one query; otherwise each pending range is one index probe.
func (e *engine) guard(ctx context.Context) error {
	refusal := &ErrTargetNotEmpty{Run: e.env.Run}
	for _, j := range e.jobs {
		if j.skip != "" || (j.byTenant && e.replace) {
			continue // replaced tenants' rows are deleted before their copy
		}
		found, err := e.foreignRows(ctx, j)
		if err != nil {
			return err
		}
		if len(found) > 0 {
			refusal.Tables = append(refusal.Tables, ForeignRows{Table: j.key, Chunks: found})
		}
	}
	if len(refusal.Tables) > 0 {
		return refusal
	}
	return nil
}

// foreignRows lists the pending units of j whose range holds target rows.
func (e *engine) foreignRows(ctx context.Context, j *job) ([]string, error) {
	pending := pendingUnits(j)
	if len(pending) == 0 {
		return nil, nil
	}
	if empty, err := e.targetEmpty(ctx, j); err != nil || empty {
		return nil, err
	}
	var found []string
	for _, u := range pending {
		v := phase.Params()
		sql := "SELECT EXISTS (SELECT 1 FROM " + j.name.Quoted() + where(j.unitCond(v, u)) + ")"
		var exists bool
		if err := e.dst.QueryRow(ctx, sql, v.Args...).Scan(&exists); err != nil {
			return nil, fmt.Errorf("checking target table %s for rows in chunk %d: %w", j.key, u.ID, err)
		}
		if exists {
			found = append(found, fmt.Sprintf("chunk %d %s", u.ID, u.Describe()))
		}
	}
	return found, nil
}

func pendingUnits(j *job) []checkpoints.Unit {
	var out []checkpoints.Unit
	for _, u := range j.units {
		if u.State != checkpoints.Done {
			out = append(out, u)
		}
	}
	return out
}

// truncate empties what a restarted run copies into. A whole copy
// truncates every target table in one statement (children listed first),
// without CASCADE: a table outside the plan that references one of them
// makes it fail rather than be emptied too. A tenant copy deletes only the
// tenants' rows, each in the transaction that copies the tenant again.
func (e *engine) truncate(ctx context.Context) error {
	var names, quoted []string
	for i := len(e.jobs) - 1; i >= 0; i-- {
		j := e.jobs[i]
		if len(e.cfg.Tenants) > 0 && !j.byTenant {
			continue
		}
		names = append(names, j.key)
		quoted = append(quoted, j.name.Quoted())
	}
	e.report.Truncated = names
	verb := "emptying"
	if len(e.cfg.Tenants) > 0 {
		verb = "deleting the tenants' rows of"
	}
	if len(names) > 0 {
		e.emit.Emit(phase.Event{Kind: phase.Note, Message: "restart: " + verb + " " + strings.Join(names, ", ")})
	}
	if len(e.cfg.Tenants) > 0 || len(quoted) == 0 {
		return nil
	}
	if _, err := e.dst.Exec(ctx, "TRUNCATE "+strings.Join(quoted, ", ")); err != nil {
		return fmt.Errorf("truncating the target tables for --restart (%s): %w", strings.Join(names, ", "), err)
	}
	return nil
}
