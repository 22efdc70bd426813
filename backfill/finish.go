package backfill

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// CompletenessError says a filled table still has NULLs that are not
// orphans: rows whose parent has a value but which the backfill did not
// fill. That happens only when rows were written while the trigger was not
// there (for example with session_replication_role = replica, which skips
// triggers) or were set back to NULL; a rerun with --restart fills them.
type CompletenessError struct {
	Table   string
	Column  string
	Nulls   int64
	Orphans int64
	Samples [][]string
}

func (e *CompletenessError) Error() string {
	return fmt.Sprintf("%s: %d rows have no %s but only %d are orphans; %d rows have a parent with a value and were not filled (keys %s): they were written while the fill trigger was not active or reset to NULL; rerun with --restart to fill them",
		e.Table, e.Nulls, e.Column, e.Orphans, e.Nulls-e.Orphans, formatKeys(e.Samples))
}

// OrphansError: tables still have orphans where none may remain: NOT NULL
// was asked for (Config.SetNotNull), or a migration must distribute every
// row (Config.FailOnOrphans).
type OrphansError struct {
	Tables  map[string]int64 // table -> orphans
	NotNull bool             // NOT NULL was asked for and not added there
}

func (e *OrphansError) Error() string {
	var parts []string
	var n int64
	for _, t := range slices.Sorted(maps.Keys(e.Tables)) {
		parts = append(parts, fmt.Sprintf("%s (%d)", t, e.Tables[t]))
		n += e.Tables[t]
	}
	what := fmt.Sprintf("%d rows have no tenant (orphans: a NULL or dangling foreign key) and cannot be distributed", n)
	if e.NotNull {
		what = "NOT NULL not added where orphans remain"
	}
	return fmt.Sprintf("%s: %s; give those rows a parent or delete them (the report lists sample keys: tenantmover backfill --format json), or --exclude their tables, then rerun",
		what, strings.Join(parts, ", "))
}

func formatKeys(keys [][]string) string {
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = "(" + strings.Join(k, ", ") + ")"
	}
	return strings.Join(parts, " ")
}

// prove counts the table's NULL tenant values and classifies each: every
// NULL must be an orphan. Both counts come from one snapshot, so rows the
// application writes meanwhile cannot make them disagree.
func prove(ctx context.Context, pool *pgxpool.Pool, t *target, samples int) (int64, Orphans, error) {
	var nulls int64
	o := Orphans{ByReason: map[string]int64{}}
	var missed [][]string
	err := pgx.BeginTxFunc(ctx, pool, pgx.TxOptions{IsoLevel: pgx.RepeatableRead, AccessMode: pgx.ReadOnly}, func(tx pgx.Tx) error {
		// The index on the column makes this quick; without one
		// (partitioned tables) it scans, which may take long.
		if _, err := tx.Exec(ctx, "SET LOCAL statement_timeout = 0"); err != nil {
			return err
		}
		if err := tx.QueryRow(ctx, t.nullCountSQL()).Scan(&nulls); err != nil {
			return err
		}
		sql, args := t.orphanSQL(samples)
		rows, err := tx.Query(ctx, sql, args...)
		if err != nil {
			return err
		}
		var reason string
		var n int64
		var key []string
		_, err = pgx.ForEachRow(rows, []any{&reason, &n, &key}, func() error {
			if reason == reasonMissed {
				missed = append(missed, key)
				return nil
			}
			if _, seen := o.ByReason[reason]; !seen {
				o.ByReason[reason] = n
				o.Count += n
			}
			o.Samples = append(o.Samples, OrphanSample{Key: key, Reason: reason})
			return nil
		})
		return err
	})
	if err != nil {
		return 0, o, fmt.Errorf("checking that %s is complete: %w", t.name, err)
	}
	if nulls != o.Count {
		return nulls, o, &CompletenessError{Table: t.name, Column: t.column, Nulls: nulls, Orphans: o.Count, Samples: missed}
	}
	return nulls, o, nil
}

// setNotNull adds NOT NULL to the filled column without a long lock: a
// NOT VALID check (no scan), VALIDATE (scans, but lets the application read
// and write), then SET NOT NULL, which trusts the valid check and skips its
// scan (PostgreSQL 12+), and the check is dropped again.
func setNotNull(ctx context.Context, pool *pgxpool.Pool, cfg Config, t *target, onRetry func(int, error)) error {
	var notNull bool
	if err := pool.QueryRow(ctx, `SELECT attnotnull FROM pg_attribute WHERE attrelid = $1::text::regclass AND attname = $2`,
		t.table.Quoted(), t.column).Scan(&notNull); err != nil {
		return fmt.Errorf("reading %s.%s: %w", t.name, t.column, err)
	}
	if notNull {
		return nil
	}
	add, validate, set := t.notNullSQL()
	what := "adding NOT NULL to " + t.name + "." + t.column
	if err := execLocked(ctx, pool, cfg, what, onRetry, t.dropCheckSQL(), add); err != nil {
		return err
	}
	if err := execUnbounded(ctx, pool, validate); err != nil {
		return fmt.Errorf("%s: validating: %w (rows without a value appeared since the check; rerun to see them as orphans)", what, err)
	}
	return execLocked(ctx, pool, cfg, what, onRetry, set...)
}
