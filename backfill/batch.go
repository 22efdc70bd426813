package backfill

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/jackc/pgerrcode"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/tenantmover/tenantmover/checkpoints"
	"github.com/tenantmover/tenantmover/internal/db"
)

// filler runs the batches of one backfill.
type filler struct {
	pool     *pgxpool.Pool
	run      *checkpoints.Run
	cfg      Config
	lag      *lagGate
	progress *progressSink

	mu      sync.Mutex
	batches int // committed in this run, for StopAfterBatches
}

// job is one target's fill in this run.
type job struct {
	*target
	units   []checkpoints.Unit
	total   int64
	sizer   *sizer
	rep     *TableReport
	started time.Time
	filled  chan struct{} // closed when every unit is done
}

// batchResult is one committed batch.
type batchResult struct {
	end      []string // the cursor after the batch
	last     bool     // the unit is complete
	visited  int64    // keys in the batch
	updated  int64    // rows given a value
	took     time.Duration
	lockHeld time.Duration
}

// runUnit walks one unit from its cursor to its upper bound, batch by
// batch, each batch committed with its checkpoint.
func (f *filler) runUnit(ctx context.Context, j *job, u checkpoints.Unit) error {
	cursor := u.Cursor
	for {
		if err := f.lag.wait(ctx); err != nil {
			return err
		}
		res, err := f.retryBatch(ctx, j, u, &cursor)
		if err != nil {
			return err
		}
		cursor = res.end
		done, updated, batches := j.rep.batchDone(res.visited, res.updated, res.lockHeld)
		f.progress.send(Progress{Table: j.name, Stage: StageFill, Done: done, Total: j.total, Updated: updated,
			Batches: batches, BatchRows: int(res.visited), BatchTime: res.took})
		if err := f.countBatch(); err != nil {
			return err
		}
		if res.last {
			return nil
		}
	}
}

// retryBatch runs the next batch after *cursor, retrying lock timeouts
// (with half the rows), conflicts and lost connections with backoff.
func (f *filler) retryBatch(ctx context.Context, j *job, u checkpoints.Unit, cursor *[]string) (batchResult, error) {
	reload := false
	for attempt := 0; ; attempt++ {
		var res batchResult
		var err error
		if reload {
			// The connection died, perhaps after the commit went
			// through: continue from what the checkpoint says.
			var done bool
			if done, err = f.reloadCursor(ctx, j, u.ID, cursor); err == nil && done {
				// The unit's last batch committed; how many keys
				// it walked is in the checkpoint only.
				return batchResult{end: u.Hi, last: true}, nil
			}
		}
		if err == nil {
			res, err = f.batch(ctx, j, u, *cursor, j.sizer.next())
		}
		if err == nil {
			return res, nil
		}
		class := db.Classify(err)
		timedOut := ctx.Err() == nil && isQueryCanceled(err)
		if !db.IsRetryable(err) && !timedOut {
			return res, fmt.Errorf("backfilling %s (unit %d): %w", j.name, u.ID, err)
		}
		if attempt+1 >= f.cfg.MaxRetries {
			what := class.String()
			if timedOut {
				what = fmt.Sprintf("batches of %d rows take longer than %s", j.sizer.next(), f.cfg.BatchTimeout)
			}
			return res, fmt.Errorf("backfilling %s (unit %d): giving up after %d attempts (%s): the rows are busy, the server overloaded or unreachable; rerun to resume, or raise --max-retries, --lock-timeout or --batch-time: %w",
				j.name, u.ID, attempt+1, what, err)
		}
		j.rep.retried()
		reload = reload || class == db.ConnectionLost
		if class == db.LockTimeout || timedOut {
			j.sizer.halve()
		}
		if err := f.cfg.Backoff.Wait(ctx, attempt); err != nil {
			return res, err
		}
	}
}

// reloadCursor reads unit id's cursor from its checkpoint, and whether the
// unit is complete.
func (f *filler) reloadCursor(ctx context.Context, j *job, id int, cursor *[]string) (bool, error) {
	units, err := f.run.Units(ctx, phase, j.name)
	if err != nil {
		return false, err
	}
	for _, u := range units {
		if u.ID == id {
			*cursor = u.Cursor
			return u.State == checkpoints.Done, nil
		}
	}
	return false, fmt.Errorf("%s unit %d has no checkpoint: was the run restarted by another process?", j.name, id)
}

// batch fills the keys (cursor, end] of unit u, where end is size keys
// further (or the unit's upper bound), and moves the unit's cursor to end
// in the same transaction.
func (f *filler) batch(ctx context.Context, j *job, u checkpoints.Unit, cursor []string, size int) (batchResult, error) {
	start := time.Now()
	res := batchResult{end: u.Hi, last: true}
	end, n, err := f.batchEnd(ctx, j, cursor, u.Hi, size)
	if err != nil {
		return res, err
	}
	if n == int64(size) && !slices.Equal(end, u.Hi) {
		res.end, res.last = end, false
	}
	res.visited = n
	args := append(append([]any{}, strArgs(cursor)...), strArgs(res.end)...)
	lockStart := time.Now()
	if res.updated, err = f.write(ctx, j, u, cursor, res, args); err != nil {
		return res, err
	}
	res.lockHeld = time.Since(lockStart)
	res.took = time.Since(start)
	if n == int64(size) {
		j.sizer.observe(int(n), res.took)
	}
	return res, nil
}

// write runs the batch's UPDATE and checkpoint in one transaction. Once
// both succeeded the commit goes ahead even if ctx was cancelled meanwhile:
// committing is quick, and a commit cut off by cancellation may still
// happen on the server without the run knowing (its report would then
// undercount the checkpoints).
func (f *filler) write(ctx context.Context, j *job, u checkpoints.Unit, cursor []string, res batchResult, args []any) (int64, error) {
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
	tag, err := tx.Exec(ctx, j.updateSQL(cursor != nil), args...)
	if err != nil {
		return 0, err
	}
	if err := f.run.Advance(ctx, tx, phase, j.name, u.ID, res.end, res.visited); err != nil {
		return 0, err
	}
	if res.last {
		if err := f.run.Complete(ctx, tx, phase, j.name, u.ID, 0, 0); err != nil {
			return 0, err
		}
	}
	cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Minute)
	defer cancel()
	return tag.RowsAffected(), tx.Commit(cctx)
}

// batchEnd finds the last of the next size keys after cursor (not beyond
// hi) and how many keys that is; 0 keys returns hi.
func (f *filler) batchEnd(ctx context.Context, j *job, cursor, hi []string, size int) ([]string, int64, error) {
	args := append(append(strArgs(cursor), strArgs(hi)...), size)
	end := make([]string, len(j.keyCols))
	var n int64
	dest := make([]any, 0, len(end)+1)
	for i := range end {
		dest = append(dest, &end[i])
	}
	err := f.pool.QueryRow(ctx, j.boundarySQL(cursor != nil), args...).Scan(append(dest, &n)...)
	if errors.Is(err, pgx.ErrNoRows) {
		return hi, 0, nil
	}
	return end, n, err
}

func millis(d time.Duration) string { return fmt.Sprintf("%dms", d.Milliseconds()) }

// isQueryCanceled reports a statement cancelled by the server: with our
// own context still live, that is the batch's statement_timeout.
func isQueryCanceled(err error) bool {
	var pgErr *pgconn.PgError
	return errors.As(err, &pgErr) && pgErr.Code == pgerrcode.QueryCanceled
}

func strArgs(key []string) []any {
	out := make([]any, len(key))
	for i, k := range key {
		out[i] = k
	}
	return out
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

// progressSink serialises progress callbacks, so the caller's callback
// never runs concurrently with itself.
type progressSink struct {
	mu sync.Mutex
	fn func(Progress)
}

func (p *progressSink) send(pr Progress) {
	if p == nil || p.fn == nil {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	p.fn(pr)
}
