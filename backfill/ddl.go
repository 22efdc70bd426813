package backfill

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/tenantmover/tenantmover/internal/phase"
)

// retry runs fn under the phase's retry policy: lock timeouts, conflicts
// and lost connections are retried up to cfg.MaxRetries attempts; onRetry
// (may be nil) sees each retried error.
func retry(ctx context.Context, cfg Config, what string, onRetry func(int, error), fn func(ctx context.Context) error) error {
	err := phase.Retry{Attempts: cfg.MaxRetries, Backoff: cfg.Backoff, OnRetry: onRetry}.Do(ctx,
		func(ctx context.Context, _ int) error { return fn(ctx) })
	var gave *phase.GaveUpError
	switch {
	case errors.As(err, &gave):
		return fmt.Errorf("%s: %w; the table is busy: rerun later or raise the lock timeout", what, err)
	case err != nil:
		return fmt.Errorf("%s: %w", what, err)
	}
	return nil
}

// execLocked runs statements in one transaction with a short lock_timeout,
// retrying when the lock is not granted in time. Statements that take an
// ACCESS EXCLUSIVE lock must wait only briefly: while they wait, every
// query on the table queues behind them.
func execLocked(ctx context.Context, pool *pgxpool.Pool, cfg Config, what string, onRetry func(int, error), stmts ...string) error {
	return retry(ctx, cfg, what, onRetry, func(ctx context.Context) error {
		return pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
			if err := setLocal(ctx, tx, "lock_timeout", cfg.DDLLockTimeout); err != nil {
				return err
			}
			for _, s := range stmts {
				if _, err := tx.Exec(ctx, s); err != nil {
					return err
				}
			}
			return nil
		})
	})
}

// execUnbounded runs one statement outside a transaction with no statement
// or lock timeout: for CREATE INDEX CONCURRENTLY and VALIDATE CONSTRAINT,
// which may take long on a big table but whose SHARE UPDATE EXCLUSIVE lock
// never blocks the application's reads and writes. ctx bounds them.
func execUnbounded(ctx context.Context, pool *pgxpool.Pool, stmt string) error {
	conn, err := pool.Acquire(ctx)
	if err != nil {
		return err
	}
	defer conn.Release()
	if _, err := conn.Exec(ctx, "SET statement_timeout = 0; SET lock_timeout = 0"); err != nil {
		return err
	}
	_, err = conn.Exec(ctx, stmt)
	// Give the pooled session its connection-time settings back; if that
	// fails, throw the connection away rather than return it changed.
	if _, rerr := conn.Exec(context.WithoutCancel(ctx), "RESET statement_timeout; RESET lock_timeout"); rerr != nil {
		_ = conn.Conn().Close(context.WithoutCancel(ctx))
	}
	return err
}

// setLocal sets a duration setting for the current transaction only.
func setLocal(ctx context.Context, tx pgx.Tx, name string, d time.Duration) error {
	_, err := tx.Exec(ctx, "SELECT set_config($1, $2, true)", name, fmt.Sprintf("%dms", d.Milliseconds()))
	return err
}

// ensureColumn adds the tenant column unless it exists; an existing column
// must have the root key's type, or the tables would not colocate.
func ensureColumn(ctx context.Context, pool *pgxpool.Pool, cfg Config, t *target, onRetry func(int, error)) error {
	typ, err := columnType(ctx, pool, t)
	if err != nil {
		return err
	}
	if typ != "" {
		if typ != t.keyType {
			return fmt.Errorf("%s already has a column %q of type %s, but the tenant key is %s: rename or drop it, or pick another --tenant-column",
				t.name, t.column, typ, t.keyType)
		}
		return nil
	}
	return execLocked(ctx, pool, cfg, "adding column "+t.column+" to "+t.name, onRetry, t.addColumnSQL())
}

func columnType(ctx context.Context, q pgxQuerier, t *target) (string, error) {
	var typ string
	err := q.QueryRow(ctx, `SELECT format_type(atttypid, atttypmod) FROM pg_attribute
		WHERE attrelid = $1::text::regclass AND attname = $2 AND attnum > 0 AND NOT attisdropped`, t.table.Quoted(), t.column).Scan(&typ)
	if errors.Is(err, pgx.ErrNoRows) {
		return "", nil
	}
	if err != nil {
		return "", fmt.Errorf("reading the columns of %s: %w", t.name, err)
	}
	return typ, nil
}

type pgxQuerier interface {
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
}

// installTrigger (re)creates the function and creates the trigger that
// fills the column of rows the application writes while the backfill runs.
// A trigger left by an earlier run already calls the (replaced) function.
// DROP TRIGGER takes an ACCESS EXCLUSIVE lock even when there is nothing
// to drop, so existence is read from the catalog instead.
func installTrigger(ctx context.Context, pool *pgxpool.Pool, cfg Config, t *target, onRetry func(int, error)) error {
	exists, err := triggerExists(ctx, pool, t)
	if err != nil {
		return err
	}
	stmts := []string{t.functionSQL()}
	if !exists {
		stmts = append(stmts, t.createTriggerSQL())
	}
	return execLocked(ctx, pool, cfg, "installing the fill trigger on "+t.name, onRetry, stmts...)
}

func dropTrigger(ctx context.Context, pool *pgxpool.Pool, cfg Config, t *target, onRetry func(int, error)) error {
	exists, err := triggerExists(ctx, pool, t)
	if err != nil {
		return err
	}
	stmts := []string{t.dropFunctionSQL()}
	if exists {
		stmts = t.dropTriggerSQL()
	}
	return execLocked(ctx, pool, cfg, "dropping the fill trigger on "+t.name, onRetry, stmts...)
}

func triggerExists(ctx context.Context, q pgxQuerier, t *target) (bool, error) {
	var ok bool
	err := q.QueryRow(ctx, `SELECT EXISTS (SELECT FROM pg_trigger WHERE tgrelid = $1::text::regclass AND tgname = $2)`,
		t.table.Quoted(), t.names.Trigger).Scan(&ok)
	if err != nil {
		return false, fmt.Errorf("reading the triggers of %s: %w", t.name, err)
	}
	return ok, nil
}

// The index on the tenant column is built after the fill, not before:
// measured on the sample monolith (scripts/bench-backfill.sh
// --index-first, 5M purchases, two runs), filling with the index in place
// took 1.67x and 1.74x as long as without it, because every updated row
// then also inserts an index entry and no update can be HOT, while
// building the index once over the filled column took about 16s (plain
// CREATE INDEX; the run's whole finish, CREATE INDEX CONCURRENTLY plus the
// completeness proof, about 28s). The proof is the first query needing it.
func ensureIndex(ctx context.Context, pool *pgxpool.Pool, t *target) (string, error) {
	if t.partitioned {
		// CREATE INDEX CONCURRENTLY does not work on a partitioned
		// table, and a plain CREATE INDEX would block writes.
		return "", nil
	}
	state, err := indexState(ctx, pool, t)
	if err != nil {
		return "", err
	}
	switch state {
	case indexValid:
		return t.names.Index, nil
	case indexOtherValid:
		return "", nil
	case indexInvalid:
		// A crash during CREATE INDEX CONCURRENTLY leaves an INVALID
		// index that IF NOT EXISTS would keep: drop it and build again.
		if err := execUnbounded(ctx, pool, t.dropIndexSQL()); err != nil {
			return "", fmt.Errorf("dropping the invalid index %s left by an interrupted run: %w", t.names.Index, err)
		}
	}
	if err := execUnbounded(ctx, pool, t.indexSQL()); err != nil {
		return "", fmt.Errorf("indexing %s.%s: %w", t.name, t.column, err)
	}
	return t.names.Index, nil
}

type indexStatus int

const (
	indexMissing indexStatus = iota
	indexValid
	indexInvalid
	indexOtherValid // the user's own valid index leads with the column
)

func indexState(ctx context.Context, pool *pgxpool.Pool, t *target) (indexStatus, error) {
	var ours, valid, other bool
	err := pool.QueryRow(ctx, `
		SELECT coalesce(bool_or(c.relname = $3), false),
		       coalesce(bool_or(c.relname = $3 AND i.indisvalid), false),
		       coalesce(bool_or(c.relname <> $3 AND i.indisvalid AND i.indpred IS NULL AND i.indkey[0] = a.attnum), false)
		FROM pg_index i
		JOIN pg_class c ON c.oid = i.indexrelid
		JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attname = $2
		WHERE i.indrelid = $1::text::regclass`, t.table.Quoted(), t.column, t.names.Index).Scan(&ours, &valid, &other)
	switch {
	case err != nil:
		return 0, fmt.Errorf("reading the indexes of %s: %w", t.name, err)
	case ours && valid:
		return indexValid, nil
	case ours:
		return indexInvalid, nil
	case other:
		return indexOtherValid, nil
	}
	return indexMissing, nil
}
