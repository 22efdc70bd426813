package main

import (
	"context"
	"encoding/json"
	"regexp"
	"strconv"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/tenantmover/tenantmover/internal/pgtest"
)

func TestRebalanceOnPlainPostgres(t *testing.T) {
	t.Parallel()
	url := env.NewDB(t)
	for _, sub := range []string{"status", "plan", "start", "stop"} {
		code, _, stderr := runCLI(t, "rebalance", sub, "--target", url)
		require.Equal(t, exitError, code, sub)
		require.Regexp(t, regexp.MustCompile(`target is not a Citus coordinator \(extension citus not installed in database t\d+_\w+\)`), stderr, sub)
	}
	code, _, stderr := runCLI(t, "rebalance", "isolate", "--target", url, "--tenant-table", "store", "--tenant", "1")
	require.Equal(t, exitError, code)
	require.Contains(t, stderr, "target is not a Citus coordinator")

	code, _, stderr = runCLI(t, "rebalance", "start", "--target", url, "--transfer-mode", "sideways")
	require.Equal(t, exitError, code)
	require.Contains(t, stderr, "use auto, force_logical or block_writes")
}

// On a real cluster: status shows the skew of a big tenant, isolate
// --dry-run prints the Citus calls and changes nothing, isolate --verify
// moves the tenant to the other worker with identical counts.
func TestRebalanceCommandsOnCitus(t *testing.T) {
	t.Parallel()
	cdb := env.NewCitusDB(t)
	ctx := context.Background()
	pool := pgtest.Pool(t, cdb.Coordinator)
	distinctOperationIDs(t, pool)
	for _, sql := range []string{
		`CREATE TABLE store (id bigint PRIMARY KEY, name text)`,
		`CREATE TABLE purchase (store_id bigint NOT NULL, id bigint NOT NULL, amount numeric, PRIMARY KEY (store_id, id))`,
		`SELECT create_distributed_table('store', 'id', shard_count => 4)`,
		`SELECT create_distributed_table('purchase', 'store_id', colocate_with => 'store')`,
		`INSERT INTO store SELECT i, 'store ' || i FROM generate_series(1, 30) i`,
		`INSERT INTO purchase SELECT 1, n, n FROM generate_series(1, 5000) n`,
		`INSERT INTO purchase SELECT s, n, n FROM generate_series(2, 30) s, generate_series(1, 20) n`,
	} {
		pgtest.Exec(t, pool, sql)
	}

	code, stdout, stderr := runCLI(t, "rebalance", "status", "--target", cdb.Coordinator, "--format", "json", "--top", "3")
	require.Equal(t, exitOK, code, stderr)
	var st struct {
		Nodes []struct {
			Shards int64 `json:"shards"`
		} `json:"nodes"`
		Tenants []struct {
			Tenant string `json:"tenant"`
			Rows   int64  `json:"rows"`
			Node   struct {
				Name string `json:"name"`
				Port int    `json:"port"`
			} `json:"node"`
		} `json:"largest_tenants"`
		Skew float64 `json:"skew"`
	}
	require.NoError(t, json.Unmarshal([]byte(stdout), &st), stdout)
	require.Len(t, st.Nodes, 2)
	require.Len(t, st.Tenants, 3)
	require.Equal(t, "1", st.Tenants[0].Tenant)
	require.Equal(t, int64(5001), st.Tenants[0].Rows)
	require.Greater(t, st.Skew, 1.2)

	code, _, stderr = runCLI(t, "rebalance", "status", "--target", cdb.Coordinator)
	require.Equal(t, exitOK, code, stderr)
	require.Contains(t, stderr, "skew")
	require.Contains(t, stderr, "LARGEST TENANTS")

	// A medium tenant shares store 1's node: without store 1 that node is
	// still the heavier, so the least loaded worker is the other one.
	pgtest.Exec(t, pool, `INSERT INTO purchase SELECT m.s, 100 + n, n FROM generate_series(1, 2000) n,
		(SELECT s FROM generate_series(2, 30) s
		 WHERE (SELECT groupid FROM pg_dist_placement WHERE shardid = get_shard_id_for_distribution_column('store', s))
		     = (SELECT groupid FROM pg_dist_placement WHERE shardid = get_shard_id_for_distribution_column('store', 1))
		 LIMIT 1) m`)

	isolate := []string{"rebalance", "isolate", "--target", cdb.Coordinator, "--tenant-table", "store", "--tenant", "1", "--no-progress"}
	code, _, stderr = runCLI(t, append(isolate, "--dry-run")...)
	require.Equal(t, exitOK, code, stderr)
	require.Contains(t, stderr, "SELECT pg_catalog.isolate_tenant_to_new_shard('public.store'::text::regclass, '1'::text, 'CASCADE'")
	require.Contains(t, stderr, "citus_move_shard_placement(<new shard id>")
	var shards int
	require.NoError(t, pool.QueryRow(ctx, `SELECT count(*) FROM pg_dist_shard WHERE logicalrelid = 'store'::regclass`).Scan(&shards))
	require.Equal(t, 4, shards, "a dry run changes nothing")

	code, stdout, stderr = runCLI(t, append(isolate, "--verify", "--format", "json")...)
	require.Equal(t, exitOK, code, stderr)
	var res struct {
		Moved  bool   `json:"moved"`
		Node   string `json:"node"`
		Calls  []string
		Verify struct {
			Rows        int64 `json:"rows"`
			Differences []any `json:"differences"`
		} `json:"verify"`
	}
	require.NoError(t, json.Unmarshal([]byte(stdout), &res), stdout)
	require.True(t, res.Moved, "the least loaded worker is the other one: %s", stderr)
	require.NotEqual(t, st.Tenants[0].Node.Name+":"+strconv.Itoa(st.Tenants[0].Node.Port), res.Node)
	require.Len(t, res.Calls, 2)
	require.Equal(t, int64(30+5000+29*20+2000), res.Verify.Rows)
	require.NotNil(t, res.Verify.Differences, "an empty list, not null")
	require.Empty(t, res.Verify.Differences)
	require.Contains(t, stderr, "identical before and after")
}
