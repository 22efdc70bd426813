package db_test

import (
	"context"
	"errors"
	"testing"

	"github.com/jackc/pgerrcode"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/stretchr/testify/require"

	"github.com/tenantmover/tenantmover/internal/db"
)

func TestEachRow(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	pool, err := db.Open(ctx, env.NewDB(t), db.Options{})
	require.NoError(t, err)
	t.Cleanup(pool.Close)

	collect := func(sql string, stopAt int) ([]int, error) {
		var got []int
		err := db.EachRow(ctx, pool, sql, []any{5}, func(row pgx.CollectableRow) error {
			var n int
			if err := row.Scan(&n); err != nil {
				return err
			}
			if n == stopAt {
				return errors.New("stop")
			}
			got = append(got, n)
			return nil
		})
		return got, err
	}

	got, err := collect(`SELECT g FROM generate_series(1, $1::int) g ORDER BY g`, 0)
	require.NoError(t, err)
	require.Equal(t, []int{1, 2, 3, 4, 5}, got)

	// The callback's error ends the read and comes back as it is.
	got, err = collect(`SELECT g FROM generate_series(1, $1::int) g ORDER BY g`, 3)
	require.EqualError(t, err, "stop")
	require.Equal(t, []int{1, 2}, got)

	// An error the server sends after some rows is not lost.
	_, err = collect(`SELECT 10 / (3 - g) FROM generate_series(1, $1::int) g`, 0)
	var pgErr *pgconn.PgError
	require.True(t, errors.As(err, &pgErr), "%v", err)
	require.Equal(t, pgerrcode.DivisionByZero, pgErr.Code)

	// So is one the query itself fails with.
	_, err = collect(`SELECT g FROM no_such_table g WHERE g = $1`, 0)
	require.True(t, errors.As(err, &pgErr), "%v", err)
	require.Equal(t, pgerrcode.UndefinedTable, pgErr.Code)

	// The connection went back to the pool every time.
	require.Zero(t, pool.Stat().AcquiredConns())
}
