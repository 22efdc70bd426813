package pgcopy

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/tenantmover/tenantmover/checkpoints"
	"github.com/tenantmover/tenantmover/internal/phase"
)

// copyChunk copies one key-range chunk, retrying what a retry can fix (a
// lost connection on either side, a deadlock, a serialization failure, a
// lock timeout): the failed attempt's target transaction rolled back, so the
// retry starts from nothing. Other errors stop the run, naming the chunk.
func (e *engine) copyChunk(ctx context.Context, j *job, u checkpoints.Unit) error {
	var rows, bytes int64
	err := e.retry(ctx, j, u, func(ctx context.Context) error {
		var err error
		rows, bytes, err = e.copyRange(ctx, j, u)
		return err
	}, func(done checkpoints.Unit) { rows, bytes = done.Rows, done.Bytes })
	if err != nil {
		return &ChunkError{Table: j.key, Chunk: u.ID, Range: u.Describe(), Err: err}
	}
	// Reported once the rate limit's wait is served: progress (and the
	// estimate made from it) then moves at the limited rate.
	err = e.env.Window.Take(ctx, rows, bytes)
	e.chunkDone(j, u.ID, rows, bytes)
	return err
}

// retry runs attempt under the phase's retry policy until it succeeds or
// fails for good. After a failure it checks whether the unit is in fact
// done: a connection lost during COMMIT leaves unknown whether the commit
// happened, and the transaction of a killed earlier process may commit the
// same unit while this one copies it (its COPY then fails on duplicate
// keys). A done unit calls found with its checkpoint instead of being copied
// twice or failing the run.
func (e *engine) retry(ctx context.Context, j *job, u checkpoints.Unit, attempt func(context.Context) error, found func(checkpoints.Unit)) error {
	policy := phase.Retry{Attempts: e.cfg.MaxAttempts, Backoff: e.cfg.Backoff, OnRetry: func(n int, err error) {
		e.emit.Emit(phase.Event{Kind: phase.Retrying, Table: j.key, Unit: u.ID, Attempt: n, Err: err})
	}}
	err := policy.Do(ctx, func(ctx context.Context, n int) error {
		if n > 0 {
			if done, ok, err := e.unitDone(ctx, j, u.ID); err != nil || ok {
				if ok {
					found(done)
				}
				return err
			}
		}
		return attempt(ctx)
	})
	if err == nil || ctx.Err() != nil {
		return err
	}
	if done, ok, derr := e.unitDone(ctx, j, u.ID); derr == nil && ok {
		found(done)
		return nil
	}
	return err
}

// unitDone reads a unit's checkpoint: whether it is done, with its counts.
func (e *engine) unitDone(ctx context.Context, j *job, id int) (checkpoints.Unit, bool, error) {
	units, err := e.run.Units(ctx, Name, j.key)
	if err != nil {
		return checkpoints.Unit{}, false, err
	}
	for _, u := range units {
		if u.ID == id {
			return u, u.State == checkpoints.Done, nil
		}
	}
	return checkpoints.Unit{}, false, fmt.Errorf("chunk %d of %s has no checkpoint: was the run restarted by another process?", id, j.key)
}

// copyRange is one attempt at a chunk: a read-only transaction on the
// source, as of the run's snapshot, streaming into one target transaction
// that also marks the chunk done.
func (e *engine) copyRange(ctx context.Context, j *job, u checkpoints.Unit) (rows, bytes int64, err error) {
	srcTx, err := e.src.BeginTx(ctx, pgx.TxOptions{IsoLevel: pgx.RepeatableRead, AccessMode: pgx.ReadOnly})
	if err != nil {
		return 0, 0, fmt.Errorf("source: %w", err)
	}
	defer rollback(srcTx)
	if _, err := srcTx.Exec(ctx, e.snap.importSQL()); err != nil {
		return 0, 0, fmt.Errorf("source: %w", snapshotLost(err))
	}
	tx, err := e.dst.Begin(ctx)
	if err != nil {
		return 0, 0, fmt.Errorf("target: %w", err)
	}
	defer rollback(tx)
	rows, bytes, err = stream(ctx, srcTx.Conn().PgConn(), tx.Conn().PgConn(),
		j.copyOut(j.unitCond(phase.Literals(), u)), j.copyIn(), e.midChunkHook(j, u.ID))
	if err != nil {
		return 0, 0, err
	}
	if err := e.run.Complete(ctx, tx, Name, j.key, u.ID, rows, bytes); err != nil {
		return 0, 0, err
	}
	if err := tx.Commit(ctx); err != nil {
		return 0, 0, fmt.Errorf("committing: %w", err)
	}
	return rows, bytes, nil
}

// rollback ends a transaction that may already be committed or broken; its
// error says nothing new (a broken connection is dropped from the pool).
func rollback(tx pgx.Tx) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_ = tx.Rollback(ctx)
}

func (e *engine) midChunkHook(j *job, id int) func(uint32) {
	if e.cfg.hooks.midChunk == nil {
		return nil
	}
	return func(pid uint32) { e.cfg.hooks.midChunk(j.key, id, pid) }
}

// tableStarted records and reports the first chunk of a table.
func (e *engine) tableStarted(j *job) {
	if !j.started.IsZero() {
		return
	}
	j.started = time.Now()
	e.emit.Emit(phase.Event{Kind: phase.Started, Table: j.key, Total: j.est})
}

// chunkDone adds a committed chunk to the report and reports it.
func (e *engine) chunkDone(j *job, id int, rows, bytes int64) {
	e.mu.Lock()
	j.report.Rows += rows
	j.report.Bytes += bytes
	j.report.ChunksCopied++
	e.mu.Unlock()
	e.emit.Emit(phase.Event{Kind: phase.Advanced, Table: j.key, Unit: id, Done: rows, Bytes: bytes})
}

// tableFinished closes the report of a table this process copied.
func (e *engine) tableFinished(j *job) {
	if j.started.IsZero() {
		return // done by an earlier run
	}
	e.mu.Lock()
	j.report.Seconds = time.Since(j.started).Seconds()
	r := *j.report
	e.mu.Unlock()
	e.emit.Emit(phase.Event{Kind: phase.Finished, Table: j.key, Step: "table copied",
		Fields: []any{"rows", r.Rows, "bytes", r.Bytes}})
}
