package pgtest_test

import (
	"context"
	"fmt"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/tenantmover/tenantmover/internal/pgtest"
)

func TestPoolExecScalar(t *testing.T) {
	t.Parallel()
	pool := pgtest.Pool(t, env.NewDB(t))
	pgtest.Exec(t, pool, "CREATE TABLE t (id int PRIMARY KEY, name text); INSERT INTO t VALUES (1, 'one')")
	pgtest.Exec(t, pool, "INSERT INTO t SELECT g, 'n' || g FROM generate_series(2, $1::int) g", 5)
	require.Equal(t, int64(5), pgtest.Scalar[int64](t, pool, "SELECT count(*) FROM t"))
	require.Equal(t, "n3", pgtest.Scalar[string](t, pool, "SELECT name FROM t WHERE id = $1", 3))

	// A transaction is a Querier too.
	tx, err := pool.Begin(context.Background())
	require.NoError(t, err)
	defer tx.Rollback(context.Background())
	pgtest.Exec(t, tx, "DELETE FROM t")
	require.Zero(t, pgtest.Scalar[int64](t, tx, "SELECT count(*) FROM t"))
	require.Equal(t, int64(5), pgtest.Scalar[int64](t, pool, "SELECT count(*) FROM t"), "outside the transaction")
}

// fatalRecorder is a testing.TB whose Fatalf records the message instead
// of ending the test.
type fatalRecorder struct {
	testing.TB
	msgs []string
}

func (f *fatalRecorder) Helper() {}

func (f *fatalRecorder) Fatalf(format string, args ...any) {
	f.msgs = append(f.msgs, fmt.Sprintf(format, args...))
}

func TestExecAndScalarFailNamingTheStatement(t *testing.T) {
	t.Parallel()
	pool := pgtest.Pool(t, env.NewDB(t))
	rec := &fatalRecorder{TB: t}
	pgtest.Exec(rec, pool, "SELECT * FROM missing")
	pgtest.Scalar[int64](rec, pool, "SELECT 1 WHERE false")
	pgtest.Scalar[int64](rec, pool, "SELECT 'text'")
	require.Len(t, rec.msgs, 3)
	require.Contains(t, rec.msgs[0], "SELECT * FROM missing: ")
	require.Contains(t, rec.msgs[0], `relation "missing" does not exist`)
	require.Contains(t, rec.msgs[1], "SELECT 1 WHERE false: no rows in result set")
	require.Contains(t, rec.msgs[2], "SELECT 'text': ")
}
