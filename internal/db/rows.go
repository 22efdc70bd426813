package db

import (
	"context"

	"github.com/jackc/pgx/v5"
)

// Querier runs a query: a pool, a connection and a transaction all are one.
type Querier interface {
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
}

// EachRow runs one query and hands every row to use, which scans it and
// keeps what it needs; the first error, from the query, from use or from
// reading the rows, ends it. It exists so that a read is its query plus
// the code that uses a row, while the Close (a forgotten one holds the
// connection) and the final rows.Err (an unchecked one drops an error that
// arrives mid-stream, silently truncating the result) are written once.
// Errors come back unwrapped: the caller knows what it was reading.
func EachRow(ctx context.Context, q Querier, sql string, args []any, use func(row pgx.CollectableRow) error) error {
	rows, err := q.Query(ctx, sql, args...)
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		if err := use(rows); err != nil {
			return err
		}
	}
	return rows.Err()
}
