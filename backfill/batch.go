package backfill

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/jackc/pgerrcode"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/tenantmover/tenantmover/checkpoints"
	"github.com/tenantmover/tenantmover/internal/db"
	"github.com/tenantmover/tenantmover/internal/phase"
)

// filler runs the batches of one backfill.
type filler struct {
	pool *pgxpool.Pool
	run  *checkpoints.Run
	cfg  Config
	lag  *lagGate
	win  *phase.Window
	emit *phase.Emitter

	mu      sync.Mutex
	batches int // committed in this run, for StopAfterBatches
}

// job is one target's fill in this run.
type job struct {
	*target
	tablePlan
	pending []checkpoints.Unit // the units not done before this run
	sizer   *sizer
	rep     *TableReport
	started time.Time
}

// batchResult is one committed batch.
type batchResult struct {
	next     []string // where the next batch starts; nil: the unit is done
	visited  int64    // keys in the batch
	updated  int64    // rows given a value
	took     time.Duration
	lockHeld time.Duration
}

// runUnit walks one unit from its cursor to its end, batch by batch, each
// batch committed with its checkpoint.
func (f *filler) runUnit(ctx context.Context, j *job, u checkpoints.Unit) error {
	left := phase.Range{Lo: u.Cursor, Hi: u.Hi}
	for {
		// A unit is many batches: the window's end stops it between two.
		if err := f.win.Gate(ctx); err != nil {
			return err
		}
		if err := f.lag.wait(ctx); err != nil {
			return err
		}
		res, done, err := f.retryBatch(ctx, j, u, &left)
		if err != nil || done {
			return err
		}
		if err := f.win.Take(ctx, res.visited, 0); err != nil {
			return err
		}
		updated, batches := j.rep.batchDone(res.visited, res.updated, res.lockHeld)
		f.emit.Emit(phase.Event{Kind: phase.Advanced, Table: j.name, Done: res.visited,
			Fields: []any{"rows_updated", updated, "batches", batches, "batch_rows", res.visited, "batch_time", res.took}})
		if err := f.countBatch(); err != nil {
			return err
		}
		if res.next == nil {
			return nil
		}
		left.Lo = res.next
	}
}

// retryBatch runs the next batch of what is left of the unit, retrying
// lock timeouts (with half the rows), conflicts and lost connections with
// backoff. done reports a unit found complete in its checkpoint: a lost
// connection may have cut off the acknowledgement of its last commit.
func (f *filler) retryBatch(ctx context.Context, j *job, u checkpoints.Unit, left *phase.Range) (res batchResult, done bool, err error) {
	reload := false
	policy := phase.Retry{
		Attempts: f.cfg.MaxRetries,
		Backoff:  f.cfg.Backoff,
		Retryable: func(err error) bool {
			return db.IsRetryable(err) || (ctx.Err() == nil && isQueryCanceled(err))
		},
		OnRetry: func(_ int, err error) {
			j.rep.retried()
			class := db.Classify(err)
			reload = reload || class == db.ConnectionLost
			if class == db.LockTimeout || isQueryCanceled(err) {
				j.sizer.halve()
			}
		},
	}
	err = policy.Do(ctx, func(ctx context.Context, _ int) error {
		if reload {
			// The connection died, perhaps after the commit went
			// through: continue from what the checkpoint says.
			var err error
			if done, err = f.reloadCursor(ctx, j, u, left); err != nil || done {
				return err
			}
		}
		var err error
		res, err = f.batch(ctx, j, u, *left, j.sizer.next())
		return err
	})
	var gave *phase.GaveUpError
	switch {
	case errors.As(err, &gave) && isQueryCanceled(gave.Err):
		return res, false, fmt.Errorf("backfilling %s (unit %d): batches of %d rows take longer than %s, %d attempts: the rows are busy or the server overloaded; rerun to resume, or raise --batch-timeout or lower --batch-time: %w",
			j.name, u.ID, j.sizer.next(), f.cfg.BatchTimeout, gave.Attempts, err)
	case gave != nil:
		return res, false, fmt.Errorf("backfilling %s (unit %d): %w; the rows are busy, the server overloaded or unreachable: rerun to resume, or raise --max-retries, --lock-timeout or --batch-time",
			j.name, u.ID, err)
	case err != nil:
		return res, false, fmt.Errorf("backfilling %s (unit %d): %w", j.name, u.ID, err)
	}
	return res, done, nil
}

// reloadCursor sets what is left of unit u from its checkpoint, and says
// whether the unit is complete.
func (f *filler) reloadCursor(ctx context.Context, j *job, u checkpoints.Unit, left *phase.Range) (bool, error) {
	units, err := f.run.Units(ctx, Name, j.name)
	if err != nil {
		return false, err
	}
	for _, c := range units {
		if c.ID == u.ID {
			left.Lo = c.Cursor
			return c.State == checkpoints.Done, nil
		}
	}
	return false, fmt.Errorf("%s unit %d has no checkpoint: was the run restarted by another process?", j.name, u.ID)
}

// batch fills the first size keys of left (or all of left when fewer
// remain) and moves the unit's cursor past them in the same transaction.
func (f *filler) batch(ctx context.Context, j *job, u checkpoints.Unit, left phase.Range, size int) (batchResult, error) {
	start := time.Now()
	next, n, err := f.batchEnd(ctx, j, left, size)
	if err != nil {
		return batchResult{}, err
	}
	res := batchResult{next: next, visited: n}
	this := left
	if next != nil {
		this.Hi = next
	}
	lockStart := time.Now()
	if res.updated, err = f.write(ctx, j, u, this, res); err != nil {
		return res, err
	}
	res.lockHeld = time.Since(lockStart)
	res.took = time.Since(start)
	if next != nil {
		j.sizer.observe(int(n), res.took)
	}
	return res, nil
}

// write runs the batch's UPDATE of range r and its checkpoint in one
// transaction. Once both succeeded the commit goes ahead even if ctx was
// cancelled meanwhile: committing is quick, and a commit cut off by
// cancellation may still happen on the server without the run knowing (its
// report would then undercount the checkpoints).
func (f *filler) write(ctx context.Context, j *job, u checkpoints.Unit, r phase.Range, res batchResult) (int64, error) {
	tx, err := f.pool.Begin(ctx)
	if err != nil {
		return 0, err
	}
	defer func() { _ = tx.Rollback(context.WithoutCancel(ctx)) }()
	// The timeouts bound how long the batch holds the row locks it takes:
	// past them it is cancelled and retried with half the rows. Batches
	// touch a few thousand rows: a nested loop over the parent's key is
	// always the right plan, and forbidding the others means a misestimate
	// can never turn a batch into a scan of the whole parent table.
	if _, err := tx.Exec(ctx, `SELECT set_config('lock_timeout', $1, true), set_config('statement_timeout', $2, true),
		set_config('enable_hashjoin', 'off', true), set_config('enable_mergejoin', 'off', true)`,
		millis(f.cfg.LockTimeout), millis(f.cfg.BatchTimeout)); err != nil {
		return 0, err
	}
	// One UPDATE per parent: a polymorphic table's rows of each type are
	// filled from that type's parent, in the same transaction.
	var filled int64
	for _, b := range j.branches {
		v := phase.Params()
		tag, err := tx.Exec(ctx, j.updateSQL(b, r, j.ceiling, v), v.Args...)
		if err != nil {
			return 0, err
		}
		filled += tag.RowsAffected()
	}
	if res.next != nil {
		err = f.run.Advance(ctx, tx, Name, j.name, u.ID, res.next, res.visited)
	} else {
		err = f.run.Complete(ctx, tx, Name, j.name, u.ID, res.visited, 0)
	}
	if err != nil {
		return 0, err
	}
	cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Minute)
	defer cancel()
	return filled, tx.Commit(cctx)
}

// batchEnd reads where a batch of size keys of left ends: next is the key
// the following batch starts at (nil when the batch takes the rest of
// left), n how many keys the batch holds.
func (f *filler) batchEnd(ctx context.Context, j *job, left phase.Range, size int) (next []string, n int64, err error) {
	v := phase.Params()
	sql := j.boundarySQL(left, j.ceiling, size+1, v)
	last := make([]string, len(j.keyCols))
	dest := make([]any, 0, len(last)+1)
	for i := range last {
		dest = append(dest, &last[i])
	}
	err = f.pool.QueryRow(ctx, sql, v.Args...).Scan(append(dest, &n)...)
	switch {
	case errors.Is(err, pgx.ErrNoRows):
		return nil, 0, nil
	case err != nil:
		return nil, 0, err
	case n > int64(size):
		return last, int64(size), nil
	}
	return nil, n, nil
}

func millis(d time.Duration) string { return fmt.Sprintf("%dms", d.Milliseconds()) }

// isQueryCanceled reports a statement cancelled by the server: with our
// own context still live, that is the batch's statement_timeout.
func isQueryCanceled(err error) bool {
	var pgErr *pgconn.PgError
	return errors.As(err, &pgErr) && pgErr.Code == pgerrcode.QueryCanceled
}

// countBatch implements Config.StopAfterBatches.
func (f *filler) countBatch() error {
	if f.cfg.StopAfterBatches <= 0 {
		return nil
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.batches++
	if f.batches >= f.cfg.StopAfterBatches {
		return ErrStopped
	}
	return nil
}
