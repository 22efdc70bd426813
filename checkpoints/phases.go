package checkpoints

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/tenantmover/tenantmover/internal/phase"
)

// States of runs and of the phases of an orchestrated run (units use
// Pending and Done).
const (
	Running     = "running"
	Failed      = "failed"
	Interrupted = "interrupted"
	// Paused: stopped at the end of its time window (--until, --for),
	// with work left for the next one.
	Paused = "paused"
)

// EndState is how work that returned err ended: Done, Paused (its time
// window ended: err or ctx's cause is phase.ErrWindowEnded), Interrupted
// (ctx was cancelled, or err is a cancellation) or Failed.
func EndState(ctx context.Context, err error) string {
	switch {
	case err == nil:
		return Done
	case errors.Is(err, phase.ErrWindowEnded), errors.Is(context.Cause(ctx), phase.ErrWindowEnded):
		return Paused
	case ctx.Err() != nil, errors.Is(err, context.Canceled):
		return Interrupted
	}
	return Failed
}

// PhaseRecord is a phase of an orchestrated run (migrate) as the run's
// checkpoints last recorded it.
type PhaseRecord struct {
	Phase string `json:"phase"`
	// State is Pending, Running, Done, Failed or Interrupted.
	State string `json:"state"`
	// Restart: a --restart of the run still has to start this phase over
	// (it survives a crash before the phase ran again).
	Restart    bool       `json:"restart,omitempty"`
	Rows       int64      `json:"rows"`
	Bytes      int64      `json:"bytes,omitempty"`
	Seconds    float64    `json:"seconds"`
	Note       string     `json:"note,omitempty"`
	StartedAt  *time.Time `json:"started_at,omitempty"`
	FinishedAt *time.Time `json:"finished_at,omitempty"`
}

// Phases returns the run's phase records, by name.
func (r *Run) Phases(ctx context.Context) (map[string]PhaseRecord, error) {
	recs, err := r.store.phases(ctx, r.Name)
	if err != nil {
		return nil, err
	}
	out := map[string]PhaseRecord{}
	for _, p := range recs {
		out[p.Phase] = p
	}
	return out, nil
}

func (s *Store) phases(ctx context.Context, run string) ([]PhaseRecord, error) {
	rows, err := s.pool.Query(ctx, `SELECT phase, state, restart, rows, bytes, seconds, note, started_at, finished_at
		FROM tenantmover.phases WHERE run = $1 ORDER BY started_at NULLS LAST, phase`, run)
	if err != nil {
		return nil, fmt.Errorf("reading the phases of run %q: %w", run, err)
	}
	return pgx.CollectRows(rows, func(row pgx.CollectableRow) (PhaseRecord, error) {
		var p PhaseRecord
		err := row.Scan(&p.Phase, &p.State, &p.Restart, &p.Rows, &p.Bytes, &p.Seconds, &p.Note, &p.StartedAt, &p.FinishedAt)
		return p, err
	})
}

// RequestRestart records that each named phase must start over when it
// next runs (a --restart of the run).
func (r *Run) RequestRestart(ctx context.Context, phases []string) error {
	for _, p := range phases {
		if _, err := r.store.pool.Exec(ctx, `INSERT INTO tenantmover.phases (run, phase, restart) VALUES ($1, $2, true)
			ON CONFLICT (run, phase) DO UPDATE SET restart = true`, r.Name, p); err != nil {
			return fmt.Errorf("recording the restart of %s: %w", p, err)
		}
	}
	return nil
}

// StartPhase records that a phase is running; it is also the run's phase
// from now on.
func (r *Run) StartPhase(ctx context.Context, name string) error {
	_, err := r.store.pool.Exec(ctx, `INSERT INTO tenantmover.phases (run, phase, state, started_at) VALUES ($1, $2, 'running', now())
		ON CONFLICT (run, phase) DO UPDATE SET state = 'running', started_at = EXCLUDED.started_at, finished_at = NULL`, r.Name, name)
	if err == nil {
		err = r.SetPhase(ctx, name)
	}
	return err
}

// EndPhase records how a phase ended (state from EndState) and what it did.
// A phase that is done has no restart left to do. It writes on a context of
// its own, since ctx may be the cancelled one that interrupted the phase.
func (r *Run) EndPhase(ctx context.Context, name, state string, s phase.Summary, note string) error {
	fctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	_, err := r.store.pool.Exec(fctx, `UPDATE tenantmover.phases SET state = $3, rows = $4, bytes = $5, seconds = $6, note = $7,
			finished_at = now(), restart = restart AND $3 <> 'done'
		WHERE run = $1 AND phase = $2`, r.Name, name, state, s.Rows, s.Bytes, s.Seconds, note)
	if err != nil {
		return fmt.Errorf("recording the end of phase %s: %w", name, err)
	}
	return nil
}
