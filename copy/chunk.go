package pgcopy

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/tenantmover/tenantmover/checkpoints"
	"github.com/tenantmover/tenantmover/internal/db"
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
		return &ChunkError{Table: j.key, Chunk: u.ID, Range: j.describe(u), Err: err}
	}
	e.chunkDone(j, u.ID, rows, bytes)
	return nil
}

// retry runs attempt until it succeeds or fails for good. After a failure
// it checks whether the unit is in fact done: a connection lost during
// COMMIT leaves unknown whether the commit happened, and the transaction of
// a killed earlier process may commit the same unit while this one copies
// it (its COPY then fails on duplicate keys). A done unit calls found with
// its checkpoint instead of being copied twice or failing the run.
func (e *engine) retry(ctx context.Context, j *job, u checkpoints.Unit, attempt func(context.Context) error, found func(checkpoints.Unit)) error {
	failed := false
	err := db.Retry(ctx, e.cfg.MaxAttempts, e.cfg.Backoff,
		func(n int, err error) {
			e.emit(Progress{Kind: EventRetry, Table: j.key, Chunk: u.ID, Attempt: n + 1, Err: err})
		},
		func(ctx context.Context) error {
			if failed {
				if done, ok, err := e.unitDone(ctx, j, u.ID); err != nil || ok {
					if ok {
						found(done)
					}
					return err
				}
			}
			err := attempt(ctx)
			failed = err != nil
			return err
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
	units, err := e.run.Units(ctx, Phase, j.key)
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
		j.copyOut(j.unitCond(literals(), u)), j.copyIn(), e.midChunkHook(j, u.ID))
	if err != nil {
		return 0, 0, err
	}
	if err := e.run.Complete(ctx, tx, Phase, j.key, u.ID, rows, bytes); err != nil {
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
	e.emit(Progress{Kind: EventTableStarted, Table: j.key, TotalRows: j.est, Chunks: len(j.units)})
}

// chunkDone adds a committed chunk to the report and reports it.
func (e *engine) chunkDone(j *job, id int, rows, bytes int64) {
	e.mu.Lock()
	j.report.Rows += rows
	j.report.Bytes += bytes
	j.report.ChunksCopied++
	e.mu.Unlock()
	e.emit(Progress{Kind: EventChunkDone, Table: j.key, Chunk: id, Rows: rows, Bytes: bytes})
}

// tableFinished closes a table's report.
func (e *engine) tableFinished(j *job) {
	e.mu.Lock()
	j.report.Seconds = time.Since(j.started).Seconds()
	r := *j.report
	e.mu.Unlock()
	e.emit(Progress{Kind: EventTableFinished, Table: j.key, Rows: r.Rows, Bytes: r.Bytes, Chunks: r.Chunks})
}
