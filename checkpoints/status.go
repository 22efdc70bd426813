package checkpoints

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgerrcode"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

// RunStatus summarises a run from its checkpoints.
type RunStatus struct {
	Name       string        `json:"name"`
	Command    string        `json:"command"`
	Phase      string        `json:"phase"`
	Status     string        `json:"status"`
	StartedAt  time.Time     `json:"started_at"`
	UpdatedAt  time.Time     `json:"updated_at"`
	FinishedAt *time.Time    `json:"finished_at,omitempty"`
	Tables     []TableStatus `json:"tables"`
	// Phases are the phases of an orchestrated run (migrate), in the
	// order they ran.
	Phases []PhaseRecord `json:"phases,omitempty"`
	// Parts are the parts of a run copied by several processes (copy
	// --part K/N): each one's state, units and whether a process holds it.
	Parts []PartStatus `json:"parts,omitempty"`
	// Windows is how many time windows (--until, --for) the run used up:
	// each ended with work left.
	Windows   int       `json:"windows"`
	ResumedAt time.Time `json:"resumed_at"`
	// Left estimates the work left of a run not done, at the rate of its
	// latest start (nil when unknown).
	Left *Left `json:"left,omitempty"`
}

// Left is what a run has left, and how long it takes at the rate the run
// had since it last started or resumed.
type Left struct {
	Rows          int64   `json:"rows"`
	RowsPerSecond float64 `json:"rows_per_second"`
	Seconds       float64 `json:"seconds"`
}

// TableStatus is one table's progress in one phase of a run.
type TableStatus struct {
	Phase     string `json:"phase"`
	Table     string `json:"table"`
	State     string `json:"state"`
	TotalRows int64  `json:"total_rows"`
	Rows      int64  `json:"rows"`
	Bytes     int64  `json:"bytes"`
	Units     int    `json:"units"`
	UnitsDone int    `json:"units_done"`
}

// Status returns every run (or only run name and the runs of its phases,
// "name.phase", when not empty) with per-table progress. A database without the tenantmover schema has no runs.
func (s *Store) Status(ctx context.Context, name string) ([]RunStatus, error) {
	rows, err := s.pool.Query(ctx, `SELECT name, command, phase, status, started_at, updated_at, finished_at, windows, resumed_at
		FROM tenantmover.runs WHERE $1 = '' OR name = $1 OR starts_with(name, $1 || '.') ORDER BY started_at`, name)
	if isMissing(err) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	runs, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (RunStatus, error) {
		var r RunStatus
		err := row.Scan(&r.Name, &r.Command, &r.Phase, &r.Status, &r.StartedAt, &r.UpdatedAt, &r.FinishedAt, &r.Windows, &r.ResumedAt)
		return r, err
	})
	if err != nil {
		return nil, err
	}
	for i := range runs {
		if runs[i].Tables, err = s.tableStatus(ctx, runs[i].Name); err != nil {
			return nil, err
		}
		// A store of an older layout has no phases table.
		if runs[i].Phases, err = s.phases(ctx, runs[i].Name); err != nil && !isMissing(err) {
			return nil, err
		}
		// A store of an older layout has no parts table.
		if runs[i].Parts, err = s.parts(ctx, runs[i].Name); err != nil && !isMissing(err) {
			return nil, err
		}
		if runs[i].Left, err = s.left(ctx, &runs[i]); err != nil {
			return nil, err
		}
	}
	return runs, nil
}

// left estimates what run r has left: the rows its tables still lack, at
// the rate of the units it committed since it last started or resumed.
func (s *Store) left(ctx context.Context, r *RunStatus) (*Left, error) {
	if r.Status == Done {
		return nil, nil
	}
	var rows int64
	for _, t := range r.Tables {
		if t.State != Done && t.TotalRows > t.Rows {
			rows += t.TotalRows - t.Rows
		}
	}
	if rows == 0 {
		return nil, nil
	}
	var done int64
	var secs float64
	err := s.pool.QueryRow(ctx, `SELECT coalesce(sum(rows), 0)::bigint, coalesce(extract(epoch FROM max(updated_at) - $2), 0)::float8
		FROM tenantmover.units WHERE run = $1 AND updated_at >= $2 AND rows > 0`, r.Name, r.ResumedAt).Scan(&done, &secs)
	if err != nil {
		return nil, fmt.Errorf("estimating what run %q has left: %w", r.Name, err)
	}
	left := &Left{Rows: rows}
	if done > 0 && secs > 0 {
		left.RowsPerSecond = float64(done) / secs
		left.Seconds = float64(rows) / left.RowsPerSecond
	}
	return left, nil
}

func (s *Store) tableStatus(ctx context.Context, run string) ([]TableStatus, error) {
	// A table whose units are all done is done, whatever state its phase
	// last wrote for it.
	rows, err := s.pool.Query(ctx, `SELECT t.phase, t.table_name,
			CASE WHEN count(u.unit) > 0 AND bool_and(u.state = 'done') AND t.state = 'pending' THEN 'done' ELSE t.state END,
			t.total_rows,
			coalesce(sum(u.rows), 0)::bigint, coalesce(sum(u.bytes), 0)::bigint,
			count(u.unit)::int, count(u.unit) FILTER (WHERE u.state = 'done')::int
		FROM tenantmover.tables t
		LEFT JOIN tenantmover.units u USING (run, phase, table_name)
		WHERE t.run = $1
		GROUP BY t.phase, t.table_name, t.state, t.total_rows, t.updated_at
		ORDER BY min(t.updated_at), t.phase, t.table_name`, run)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, func(row pgx.CollectableRow) (TableStatus, error) {
		var t TableStatus
		err := row.Scan(&t.Phase, &t.Table, &t.State, &t.TotalRows, &t.Rows, &t.Bytes, &t.Units, &t.UnitsDone)
		return t, err
	})
}

// isMissing reports an error of a read from a checkpoint schema that does
// not exist (yet), or lacks the table read.
func isMissing(err error) bool {
	var pgErr *pgconn.PgError
	return errors.As(err, &pgErr) && (pgErr.Code == pgerrcode.UndefinedTable || pgErr.Code == pgerrcode.InvalidSchemaName)
}
