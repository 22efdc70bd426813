package checkpoints

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/jackc/pgx/v5"
)

// Unit is one piece of a table's work: a key range [Lo, Hi) in the text form
// of the key columns (nil = unbounded), and for backfill a cursor that
// advances batch by batch inside it.
type Unit struct {
	ID     int
	Lo, Hi []string
	Cursor []string
	State  string
	Rows   int64
	Bytes  int64
}

// TableState is a table's planned total and state within a phase.
type TableState struct {
	Table     string
	State     string
	TotalRows int64
	Info      json.RawMessage
}

// Units returns the units recorded for a table in a phase, by ID. An empty
// result means the table's units have not been planned yet.
func (r *Run) Units(ctx context.Context, phase, table string) ([]Unit, error) {
	rows, err := r.store.pool.Query(ctx, `SELECT unit, lo, hi, cursor, state, rows, bytes FROM tenantmover.units
		WHERE run = $1 AND phase = $2 AND table_name = $3 ORDER BY unit`, r.Name, phase, table)
	if err != nil {
		return nil, fmt.Errorf("reading checkpoints of %s: %w", table, err)
	}
	return pgx.CollectRows(rows, func(row pgx.CollectableRow) (Unit, error) {
		var u Unit
		err := row.Scan(&u.ID, &u.Lo, &u.Hi, &u.Cursor, &u.State, &u.Rows, &u.Bytes)
		return u, err
	})
}

// PlanUnits records a table's units and total once. Chunk boundaries must not
// change between a run and its resume, so they are fixed here; if units are
// already recorded the call changes nothing and returns the recorded ones.
func (r *Run) PlanUnits(ctx context.Context, phase, table string, totalRows int64, units []Unit) ([]Unit, error) {
	err := pgx.BeginFunc(ctx, r.store.pool, func(tx pgx.Tx) error {
		tag, err := tx.Exec(ctx, `INSERT INTO tenantmover.tables (run, phase, table_name, total_rows) VALUES ($1, $2, $3, $4)
			ON CONFLICT DO NOTHING`, r.Name, phase, table, totalRows)
		if err != nil || tag.RowsAffected() == 0 {
			return err
		}
		for _, u := range units {
			state := u.State
			if state == "" {
				state = Pending
			}
			if _, err := tx.Exec(ctx, `INSERT INTO tenantmover.units (run, phase, table_name, unit, lo, hi, cursor, state) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)`,
				r.Name, phase, table, u.ID, u.Lo, u.Hi, u.Cursor, state); err != nil {
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
// processed up to cursor) and adds rows to it.
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

// SetTableState records a table's state and phase-specific info (any
// JSON-marshalable value; nil keeps the previous info).
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
		ON CONFLICT (run, phase, table_name) DO UPDATE SET state = EXCLUDED.state, info = coalesce($5::jsonb, tenantmover.tables.info), updated_at = now()`,
		r.Name, phase, table, state, raw)
	return err
}

// Tables returns the recorded state of every table in a phase.
func (r *Run) Tables(ctx context.Context, phase string) ([]TableState, error) {
	rows, err := r.store.pool.Query(ctx, `SELECT table_name, state, total_rows, info FROM tenantmover.tables
		WHERE run = $1 AND phase = $2 ORDER BY table_name`, r.Name, phase)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, func(row pgx.CollectableRow) (TableState, error) {
		var t TableState
		err := row.Scan(&t.Table, &t.State, &t.TotalRows, &t.Info)
		return t, err
	})
}
