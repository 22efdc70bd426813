package verify

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"
	"sync"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// SessionSettings are the settings under which equal rows print as equal
// text on both sides, whatever the servers' defaults: checksums hash that
// text. Pools opened for verify should carry them (db.Options.Settings);
// Run also sets them in every transaction it opens, so any pool works.
func SessionSettings() map[string]string {
	return map[string]string{
		"DateStyle":          "ISO, YMD",
		"IntervalStyle":      "postgres",
		"TimeZone":           "UTC",
		"extra_float_digits": "3",
		"bytea_output":       "hex",
		"lc_monetary":        "C",
	}
}

// side is one database verify reads: the source, the target coordinator,
// or a node holding shard placements.
type side struct {
	name string // for messages: "source", "target", "node host:port"
	pool *pgxpool.Pool
	// citus: the database is a Citus coordinator, whose distributed queries
	// run on the workers: SET LOCAL is propagated to them so they print rows
	// under the same settings.
	citus bool
}

// setup is the statement that starts every transaction: the session
// settings as SET LOCAL (not set_config, which Citus does not propagate).
func (s side) setup() string {
	settings := SessionSettings()
	names := make([]string, 0, len(settings))
	for n := range settings {
		names = append(names, n)
	}
	sort.Strings(names)
	var b strings.Builder
	if s.citus {
		b.WriteString("SET LOCAL citus.propagate_set_commands = 'local'; ")
	}
	for _, n := range names {
		// Names and values are the constants above, never user input.
		fmt.Fprintf(&b, "SET LOCAL %s = '%s'; ", n, settings[n])
	}
	return b.String()
}

// cursor is a query streaming inside its own read-only transaction.
type cursor struct {
	tx   pgx.Tx
	rows pgx.Rows
}

// open starts sql on a connection of its own. The query runs on the server
// while the caller reads other cursors: two opened cursors are two
// concurrent scans.
func (s side) open(ctx context.Context, sql string, args ...any) (*cursor, error) {
	tx, err := s.pool.BeginTx(ctx, pgx.TxOptions{AccessMode: pgx.ReadOnly})
	if err != nil {
		return nil, fmt.Errorf("%s: %w", s.name, err)
	}
	if _, err := tx.Exec(ctx, s.setup()); err != nil {
		_ = tx.Rollback(ctx)
		return nil, fmt.Errorf("%s: setting session settings: %w", s.name, err)
	}
	rows, err := tx.Query(ctx, sql, args...)
	if err != nil {
		_ = tx.Rollback(ctx)
		return nil, fmt.Errorf("%s: %w", s.name, err)
	}
	return &cursor{tx: tx, rows: rows}, nil
}

// close ends the query and its transaction. Closing before the end of the
// rows cancels the rest of the scan.
func (c *cursor) close() {
	c.rows.Close()
	// A read-only transaction has nothing to commit; the rollback's error
	// only repeats the query's.
	_ = c.tx.Rollback(context.Background())
}

// each runs sql on s and calls fn for every row.
func (s side) each(ctx context.Context, sql string, args []any, fn func(pgx.Rows) error) error {
	c, err := s.open(ctx, sql, args...)
	if err != nil {
		return err
	}
	defer c.close()
	for c.rows.Next() {
		if err := fn(c.rows); err != nil {
			return err
		}
	}
	if err := c.rows.Err(); err != nil {
		return fmt.Errorf("%s: %w", s.name, err)
	}
	return nil
}

// query is one cursor to open: a side and its statement.
type query struct {
	on   side
	sql  string
	args []any
}

// openAll opens the queries at the same time and returns their cursors in
// order. They must be opened concurrently: pgx's Query returns only once
// the first row arrives, which for an aggregate is when the scan is done,
// so opening them one after the other would run the scans one after the
// other. On error every opened cursor is closed.
func openAll(ctx context.Context, queries []query) ([]*cursor, error) {
	cursors := make([]*cursor, len(queries))
	errs := make([]error, len(queries))
	var wg sync.WaitGroup
	for i, q := range queries {
		wg.Add(1)
		go func() {
			defer wg.Done()
			cursors[i], errs[i] = q.on.open(ctx, q.sql, q.args...)
		}()
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		closeAll(cursors)
		return nil, err
	}
	return cursors, nil
}

// closeAll closes every opened cursor.
func closeAll(cursors []*cursor) {
	for _, c := range cursors {
		if c != nil {
			c.close()
		}
	}
}
