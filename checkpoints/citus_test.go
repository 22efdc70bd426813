package checkpoints_test

import (
	"context"
	"strings"
	"sync"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/stretchr/testify/require"

	"github.com/tenantmover/tenantmover/checkpoints"
	"github.com/tenantmover/tenantmover/internal/pgtest"
)

// remoteCommands runs fn in one transaction on a connection to url and
// returns the commands the Citus coordinator sent its workers for it
// (citus.log_remote_commands, read from the notices).
func remoteCommands(t *testing.T, url string, fn func(tx pgx.Tx)) []string {
	t.Helper()
	ctx := context.Background()
	cfg, err := pgx.ParseConfig(url)
	require.NoError(t, err)
	var mu sync.Mutex
	var cmds []string
	cfg.OnNotice = func(_ *pgconn.PgConn, n *pgconn.Notice) {
		mu.Lock()
		defer mu.Unlock()
		cmds = append(cmds, n.Message)
	}
	conn, err := pgx.ConnectConfig(ctx, cfg)
	require.NoError(t, err)
	defer conn.Close(ctx)
	tx, err := conn.Begin(ctx)
	require.NoError(t, err)
	pgtest.Exec(t, tx, `SET LOCAL citus.log_remote_commands = on; SET LOCAL client_min_messages = log`)
	fn(tx)
	require.NoError(t, tx.Commit(ctx))
	mu.Lock()
	defer mu.Unlock()
	return cmds
}

func prepared(cmds []string) bool {
	for _, c := range cmds {
		if strings.Contains(c, "PREPARE TRANSACTION") {
			return true
		}
	}
	return false
}

// On Citus, a unit whose rows all land on one worker is still atomic with
// its checkpoint: the checkpoint tables are reference tables, so the
// unit's transaction is a multi-node one and Citus commits it with
// two-phase commit. The control case shows the test can tell: the same
// single-shard write beside a plain coordinator table commits on the worker
// without PREPARE.
func TestUnitOnOneWorkerCommitsWithItsCheckpoint(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	cdb := env.NewCitusDB(t)
	pool := pgtest.Pool(t, cdb.Coordinator)
	pgtest.Exec(t, pool, `CREATE TABLE t (tenant bigint, v int); SELECT create_distributed_table('t', 'tenant');
		CREATE TABLE plain_local (n int); INSERT INTO plain_local VALUES (0)`)
	store, err := checkpoints.Open(ctx, pool)
	require.NoError(t, err)
	tables := pgtest.Scalar[int64](t, pool, `SELECT count(*) FROM pg_tables WHERE schemaname = 'tenantmover'`)
	require.GreaterOrEqual(t, tables, int64(6))
	require.Equal(t, tables, pgtest.Scalar[int64](t, pool, `SELECT count(*) FROM pg_dist_partition
		WHERE logicalrelid::text LIKE 'tenantmover.%' AND partmethod = 'n' AND repmodel = 't'`), "every checkpoint table is a reference table")
	_, err = checkpoints.Open(ctx, pool)
	require.NoError(t, err, "opening again leaves them as they are")

	run, err := store.Begin(ctx, "r", "copy", opts{}, false)
	require.NoError(t, err)
	_, err = run.PlanUnits(ctx, "copy", "public.t", checkpoints.TablePlan{}, []checkpoints.Unit{{ID: 0, Tenant: "7"}})
	require.NoError(t, err)

	control := remoteCommands(t, cdb.Coordinator, func(tx pgx.Tx) {
		pgtest.Exec(t, tx, `INSERT INTO t VALUES (7, 1)`)
		pgtest.Exec(t, tx, `UPDATE plain_local SET n = n + 1`)
	})
	require.NotEmpty(t, control, "the remote commands are logged")
	require.False(t, prepared(control), "a single-shard write beside a plain local table: no two-phase commit\n%s", strings.Join(control, "\n"))

	unit := remoteCommands(t, cdb.Coordinator, func(tx pgx.Tx) {
		pgtest.Exec(t, tx, `INSERT INTO t VALUES (7, 2)`)
		require.NoError(t, run.Complete(ctx, tx, "copy", "public.t", 0, 1, 0))
	})
	require.True(t, prepared(unit), "the unit and its checkpoint commit with two-phase commit\n%s", strings.Join(unit, "\n"))
	units, err := run.Units(ctx, "copy", "public.t")
	require.NoError(t, err)
	require.Equal(t, checkpoints.Done, units[0].State)
}

// A table a newer layout adds to a store already on Citus is created with
// a foreign key to a reference table, which makes Citus turn it into a
// local table of the coordinator's: Open makes it a reference table too.
func TestUpgradeOnCitusMakesNewTablesReferenceTables(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	cdb := env.NewCitusDB(t)
	pool := pgtest.Pool(t, cdb.Coordinator)
	_, err := checkpoints.Open(ctx, pool)
	require.NoError(t, err)
	pgtest.Exec(t, pool, `DROP TABLE tenantmover.stream_lanes; COMMENT ON SCHEMA tenantmover IS 'tenantmover checkpoints, layout 3'`)
	_, err = checkpoints.Open(ctx, pool)
	require.NoError(t, err)
	require.Equal(t, "t", pgtest.Scalar[string](t, pool, `SELECT repmodel::text FROM pg_dist_partition WHERE logicalrelid = 'tenantmover.stream_lanes'::regclass`),
		"stream_lanes is a reference table (repmodel t), not a Citus local table (s)")
}
