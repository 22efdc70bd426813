package checkpoints

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/jackc/pgx/v5"

	"github.com/tenantmover/tenantmover/internal/phase"
)

// Unit is one piece of a table's work, exactly one of:
//
//   - a key range (the embedded phase.Range): the keys k with Lo <= k < Hi,
//     Lo inclusive, Hi exclusive, each bound the text form of every key
//     column, nil unbounded; the units of a table partition its keys
//     (phase.Partition), so each row belongs to exactly one unit;
//   - a tenant (Tenant set, Range empty): that tenant's rows, in every
//     distributed table of the unit's phase.
//
// A unit walked batch by batch (backfill) keeps its Cursor: the keys of
// [Lo, Cursor) are done and the walk resumes at Cursor (nil: at Lo).
type Unit struct {
	ID int
	phase.Range
	Tenant string
	Cursor []string
	State  string
	Rows   int64
	Bytes  int64
}

// Describe shows the unit for messages: [1, 500), tenant 42.
func (u Unit) Describe() string {
	if u.Tenant != "" {
		return "tenant " + u.Tenant
	}
	return u.Range.String()
}

// TableState is a table's planned total and state within a phase.
type TableState struct {
	Table     string
	State     string
	TotalRows int64
	// Ceiling is the table's largest key when its units were planned
	// (inclusive), for phases that walk only the rows that existed then.
	Ceiling []string
	Info    json.RawMessage
}

// TablePlan is what a phase fixes about a table when it plans its units.
type TablePlan struct {
	TotalRows int64
	Ceiling   []string
}

// Units returns the units recorded for a table in a phase, by ID. An empty
// result means the table's units have not been planned yet.
func (r *Run) Units(ctx context.Context, phase, table string) ([]Unit, error) {
	rows, err := r.store.pool.Query(ctx, unitsSQL, r.Name, phase, table)
	if err != nil {
		return nil, fmt.Errorf("reading checkpoints of %s: %w", table, err)
	}
	return pgx.CollectRows(rows, scanUnit)
}

const unitsSQL = `SELECT unit, lo, hi, coalesce(tenant, ''), cursor, state, rows, bytes FROM tenantmover.units
	WHERE run = $1 AND phase = $2 AND table_name = $3 ORDER BY unit`

func scanUnit(row pgx.CollectableRow) (Unit, error) {
	var u Unit
	err := row.Scan(&u.ID, &u.Lo, &u.Hi, &u.Tenant, &u.Cursor, &u.State, &u.Rows, &u.Bytes)
	return u, err
}

// PlanUnits records a table's units and plan once. Unit boundaries must
// not change between a run and its resume, so they are fixed here; if units
// are already recorded the call changes nothing and returns the recorded
// ones.
func (r *Run) PlanUnits(ctx context.Context, phase, table string, tp TablePlan, units []Unit) ([]Unit, error) {
	err := pgx.BeginFunc(ctx, r.store.pool, func(tx pgx.Tx) error {
		tag, err := tx.Exec(ctx, `INSERT INTO tenantmover.tables (run, phase, table_name, total_rows, ceiling) VALUES ($1, $2, $3, $4, $5)
			ON CONFLICT DO NOTHING`, r.Name, phase, table, tp.TotalRows, tp.Ceiling)
		if err != nil || tag.RowsAffected() == 0 {
			return err
		}
		for _, u := range units {
			state := u.State
			if state == "" {
				state = Pending
			}
			var tenant *string
			if u.Tenant != "" {
				tenant = &u.Tenant
			}
			if _, err := tx.Exec(ctx, `INSERT INTO tenantmover.units (run, phase, table_name, unit, lo, hi, tenant, cursor, state) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)`,
				r.Name, phase, table, u.ID, u.Lo, u.Hi, tenant, u.Cursor, state); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("recording the units of %s: %w", table, err)
	}
	return r.Units(ctx, phase, table)
}

// Planned reports whether a table's units were recorded in a phase.
func (r *Run) Planned(ctx context.Context, phase, table string) (bool, error) {
	var ok bool
	err := r.store.pool.QueryRow(ctx, `SELECT EXISTS (SELECT FROM tenantmover.tables WHERE run = $1 AND phase = $2 AND table_name = $3)`, r.Name, phase, table).Scan(&ok)
	return ok, err
}

// Complete marks a unit done inside q (the transaction that did its work),
// adding rows and bytes to it.
func (r *Run) Complete(ctx context.Context, q Querier, phase, table string, unit int, rows, bytes int64) error {
	return r.update(ctx, q, `UPDATE tenantmover.units SET state = 'done', rows = rows + $5, bytes = bytes + $6, updated_at = now()
		WHERE run = $1 AND phase = $2 AND table_name = $3 AND unit = $4 AND state <> 'done'`, phase, table, unit, rows, bytes)
}

// Advance moves a unit's cursor inside q (the transaction of the batch that
// did the keys up to cursor) and adds rows to it.
func (r *Run) Advance(ctx context.Context, q Querier, phase, table string, unit int, cursor []string, rows int64) error {
	return r.update(ctx, q, `UPDATE tenantmover.units SET cursor = $5, rows = rows + $6, updated_at = now()
		WHERE run = $1 AND phase = $2 AND table_name = $3 AND unit = $4 AND state <> 'done'`, phase, table, unit, cursor, rows)
}

func (r *Run) update(ctx context.Context, q Querier, sql, phase, table string, unit int, args ...any) error {
	tag, err := q.Exec(ctx, sql, append([]any{r.Name, phase, table, unit}, args...)...)
	if err != nil {
		return fmt.Errorf("checkpointing %s unit %d: %w", table, unit, err)
	}
	if tag.RowsAffected() != 1 {
		// Another process finished this unit, or the run was restarted
		// under us: committing would duplicate work.
		return fmt.Errorf("checkpointing %s unit %d: unit already done or run reset by another process", table, unit)
	}
	return nil
}

// SetTableState records a table's state and merges phase-specific info
// (any JSON-marshalable object; nil keeps the previous info) into what the
// table's row holds.
func (r *Run) SetTableState(ctx context.Context, q Querier, phase, table, state string, info any) error {
	var raw []byte
	if info != nil {
		var err error
		if raw, err = json.Marshal(info); err != nil {
			return err
		}
	}
	if q == nil {
		q = r.store.pool
	}
	_, err := q.Exec(ctx, `INSERT INTO tenantmover.tables (run, phase, table_name, state, info) VALUES ($1, $2, $3, $4, coalesce($5::jsonb, '{}'))
		ON CONFLICT (run, phase, table_name) DO UPDATE SET state = EXCLUDED.state,
			info = tenantmover.tables.info || coalesce($5::jsonb, '{}'), updated_at = EXCLUDED.updated_at`,
		r.Name, phase, table, state, raw)
	return err
}

// Tables returns the recorded state of every table in a phase.
func (r *Run) Tables(ctx context.Context, phase string) ([]TableState, error) {
	rows, err := r.store.pool.Query(ctx, `SELECT table_name, state, total_rows, ceiling, info FROM tenantmover.tables
		WHERE run = $1 AND phase = $2 ORDER BY table_name`, r.Name, phase)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, func(row pgx.CollectableRow) (TableState, error) {
		var t TableState
		err := row.Scan(&t.Table, &t.State, &t.TotalRows, &t.Ceiling, &t.Info)
		return t, err
	})
}

// RecordedUnits reads the units run recorded for a table in a phase
// without creating anything (a dry run must not write): nil when there are
// none, or no checkpoint schema at all.
func (s *Store) RecordedUnits(ctx context.Context, run, phase, table string) ([]Unit, error) {
	rows, err := s.pool.Query(ctx, unitsSQL, run, phase, table)
	if isMissing(err) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	units, err := pgx.CollectRows(rows, scanUnit)
	if len(units) == 0 {
		return nil, err
	}
	return units, err
}
