package pgtest_test

import (
	"context"
	"fmt"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/require"

	"github.com/tenantmover/tenantmover/internal/pgtest"
)

var env pgtest.Env

func TestMain(m *testing.M) { env.Main(m, pgtest.WithCitus()) }

// Each parallel test writes the same table name into its own database; if
// databases were shared the counts would collide.
func TestDatabasePerTestInParallel(t *testing.T) {
	for i := 1; i <= 4; i++ {
		rows := i * 10
		t.Run(fmt.Sprintf("db%d", i), func(t *testing.T) {
			t.Parallel()
			ctx := context.Background()
			conn, err := pgx.Connect(ctx, env.NewDB(t))
			require.NoError(t, err)
			defer conn.Close(ctx)
			_, err = conn.Exec(ctx, "CREATE TABLE t (id int PRIMARY KEY)")
			require.NoError(t, err)
			_, err = conn.Exec(ctx, "INSERT INTO t SELECT generate_series(1, $1::int)", rows)
			require.NoError(t, err)
			var n int
			require.NoError(t, conn.QueryRow(ctx, "SELECT count(*) FROM t").Scan(&n))
			require.Equal(t, rows, n)
			var dbs int
			require.NoError(t, conn.QueryRow(ctx, "SELECT count(*) FROM pg_database WHERE datname = current_database()").Scan(&dbs))
			require.Equal(t, 1, dbs)
		})
	}
}

func TestDatabaseDroppedOnCleanup(t *testing.T) {
	var name string
	t.Run("inner", func(t *testing.T) {
		url := env.NewDB(t)
		conn, err := pgx.Connect(context.Background(), url)
		require.NoError(t, err)
		require.NoError(t, conn.QueryRow(context.Background(), "SELECT current_database()").Scan(&name))
		conn.Close(context.Background())
	})
	var exists bool
	conn, err := pgx.Connect(context.Background(), env.Server().URL("postgres"))
	require.NoError(t, err)
	defer conn.Close(context.Background())
	require.NoError(t, conn.QueryRow(context.Background(), "SELECT EXISTS (SELECT FROM pg_database WHERE datname = $1)", name).Scan(&exists))
	require.False(t, exists, "database %s should be dropped after its test", name)
}

func TestCitusClusterDistributedTable(t *testing.T) {
	db := env.NewCitusDB(t)
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, db.Coordinator)
	require.NoError(t, err)
	defer conn.Close(ctx)

	var workers int
	require.NoError(t, conn.QueryRow(ctx, "SELECT count(*) FROM citus_get_active_worker_nodes()").Scan(&workers))
	require.Equal(t, 2, workers)

	for _, sql := range []string{
		"CREATE TABLE store (id bigint PRIMARY KEY, name text)",
		"SELECT create_distributed_table('store', 'id')",
		"INSERT INTO store SELECT i, 'store ' || i FROM generate_series(1, 100) i",
	} {
		_, err := conn.Exec(ctx, sql)
		require.NoError(t, err, sql)
	}
	var n int
	var sum int64
	require.NoError(t, conn.QueryRow(ctx, "SELECT count(*), sum(id) FROM store").Scan(&n, &sum))
	require.Equal(t, 100, n)
	require.Equal(t, int64(5050), sum)

	// The rows really are on the workers, spread over both.
	total := 0
	for _, w := range db.Workers {
		wc, err := pgx.Connect(ctx, w)
		require.NoError(t, err)
		// Citus hides shard tables from pg_class unless told otherwise.
		_, err = wc.Exec(ctx, "SET citus.override_table_visibility TO false")
		require.NoError(t, err)
		var shards int
		require.NoError(t, wc.QueryRow(ctx, "SELECT count(*) FROM pg_class WHERE relname LIKE 'store\\_%' AND relkind = 'r'").Scan(&shards))
		require.Positive(t, shards, "worker holds no shard of store")
		wc.Close(ctx)
		total += shards
	}
	var shardCount int
	require.NoError(t, conn.QueryRow(ctx, "SELECT count(*) FROM pg_dist_shard WHERE logicalrelid = 'store'::regclass").Scan(&shardCount))
	require.Equal(t, shardCount, total)
}
