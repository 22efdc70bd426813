package pgtest

import (
	"context"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
)

// Pool, Exec and Scalar are the few database steps nearly every package's
// tests repeat. They fail through t.Fatalf, naming the statement as
// require.NoError(t, err, sql) would, so the package needs no testify.

// Querier is what Exec and Scalar run statements on: a *pgxpool.Pool, a
// *pgx.Conn or a pgx.Tx.
type Querier interface {
	Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error)
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
}

// Pool opens a pool on url with pgx's defaults and closes it when t ends.
// Tests that need other pool settings (size, session settings) open their
// own.
func Pool(t testing.TB, url string) *pgxpool.Pool {
	t.Helper()
	pool, err := pgxpool.New(context.Background(), url)
	if err != nil {
		t.Fatalf("open pool: %v", err)
	}
	t.Cleanup(pool.Close)
	return pool
}

// Exec runs sql (one statement or, without args, several) and fails t,
// naming the statement, when it errors.
func Exec(t testing.TB, q Querier, sql string, args ...any) {
	t.Helper()
	if _, err := q.Exec(context.Background(), sql, args...); err != nil {
		t.Fatalf("%s: %v", sql, err)
	}
}

// Scalar runs a query returning one row of one column and scans that value
// into a T, failing t, naming the query, on any error (no row included):
//
//	n := pgtest.Scalar[int64](t, pool, "SELECT count(*) FROM store")
func Scalar[T any](t testing.TB, q Querier, sql string, args ...any) T {
	t.Helper()
	var v T
	if err := q.QueryRow(context.Background(), sql, args...).Scan(&v); err != nil {
		t.Fatalf("%s: %v", sql, err)
	}
	return v
}
