package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"strconv"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/require"

	"github.com/tenantmover/tenantmover/internal/pgtest"
)

// shopCluster is one test's database on the package's Citus cluster, with
// the colocated store/product/purchase tables of the Citus guide.
type shopCluster struct {
	cdb  pgtest.ClusterDB
	pool *pgxpool.Pool
	// workers are the two workers as the coordinator knows them
	// (127.0.0.1:port), in cdb.Workers' order.
	workers [2]string
	// stores is how many stores the shop has; store 1 is big.
	stores int
	// rows is the rows of every distributed table, all tenants together.
	rows int64
}

// shopOptions shape newShop's cluster.
type shopOptions struct {
	// Shards per distributed table.
	Shards int
	// Unbalanced creates every shard on the first worker (the second is
	// marked shouldhaveshards=false meanwhile, then true again), so the
	// rebalancer has half of the shard groups to move to the second.
	Unbalanced bool
	// Extra statements run after the shop's tables are distributed (the
	// second worker is still excluded when Unbalanced).
	Extra []string
}

const shopStores = 24

// newShop creates the shop: 24 stores, store 1 with 1000 purchases, store 2
// with 300 and the others 10 each, a product per 10 purchases, and a
// reference table.
func newShop(t *testing.T, o shopOptions) *shopCluster {
	t.Helper()
	cdb := env.NewCitusDB(t)
	s := &shopCluster{cdb: cdb, pool: pgtest.Pool(t, cdb.Coordinator), stores: shopStores}
	distinctOperationIDs(t, s.pool)
	for i, w := range env.Cluster(t).Workers {
		s.workers[i] = net.JoinHostPort("127.0.0.1", strconv.Itoa(w.Port))
	}
	if o.Unbalanced {
		s.setShouldHaveShards(t, 1, false)
	}
	stmts := []string{
		`CREATE TABLE country (code text PRIMARY KEY, name text)`,
		`CREATE TABLE store (id bigint PRIMARY KEY, name text NOT NULL, country text)`,
		`CREATE TABLE product (store_id bigint NOT NULL, id bigint NOT NULL, name text, PRIMARY KEY (store_id, id))`,
		`CREATE TABLE purchase (store_id bigint NOT NULL, id bigint NOT NULL, product_id bigint NOT NULL,
			amount numeric(12,2), PRIMARY KEY (store_id, id))`,
		`SELECT create_reference_table('country')`,
		fmt.Sprintf(`SELECT create_distributed_table('store', 'id', shard_count => %d)`, o.Shards),
		`SELECT create_distributed_table('product', 'store_id', colocate_with => 'store')`,
		`SELECT create_distributed_table('purchase', 'store_id', colocate_with => 'store')`,
		`ALTER TABLE product ADD FOREIGN KEY (store_id) REFERENCES store`,
		`ALTER TABLE purchase ADD FOREIGN KEY (store_id, product_id) REFERENCES product (store_id, id)`,
		`INSERT INTO country VALUES ('nl', 'Netherlands'), ('fr', 'France')`,
		fmt.Sprintf(`INSERT INTO store SELECT i, 'store ' || i, 'nl' FROM generate_series(1, %d) i`, shopStores),
	}
	stmts = append(stmts, o.Extra...)
	for _, sql := range stmts {
		pgtest.Exec(t, s.pool, sql)
	}
	pgtest.Exec(t, s.pool, fmt.Sprintf(`INSERT INTO product SELECT i, p, 'product ' || p
		FROM generate_series(1, %d) i, generate_series(1, greatest(CASE i WHEN 1 THEN 1000 WHEN 2 THEN 300 ELSE 10 END / 10, 1)) p`, shopStores))
	pgtest.Exec(t, s.pool, fmt.Sprintf(`INSERT INTO purchase SELECT i, n, 1 + n %% greatest(CASE i WHEN 1 THEN 1000 WHEN 2 THEN 300 ELSE 10 END / 10, 1), n %% 1000
		FROM generate_series(1, %d) i, generate_series(1, CASE i WHEN 1 THEN 1000 WHEN 2 THEN 300 ELSE 10 END) n`, shopStores))
	if o.Unbalanced {
		s.setShouldHaveShards(t, 1, true)
	}
	s.rows = pgtest.Scalar[int64](t, s.pool, `SELECT (SELECT count(*) FROM store) + (SELECT count(*) FROM product) + (SELECT count(*) FROM purchase)`)
	return s
}

// distinctOperationIDs makes the shard moves and splits of this test's
// database name their replication slots and roles apart from those of the
// other tests' databases on the same servers. Citus names them after the
// target node id, the table owner and an operation id from
// pg_dist_operationid_seq, all of which start out equal in every
// database of the cluster, while slots and roles are per server: two
// tests moving shards at once would otherwise fail with 'replication slot
// "citus_shard_move_slot_3_10_2" already exists'. A database's OID is
// unique on the coordinator, so it gives each database its own range.
func distinctOperationIDs(t *testing.T, pool *pgxpool.Pool) {
	t.Helper()
	pgtest.Exec(t, pool, `SELECT setval('pg_catalog.pg_dist_operationid_seq', oid::bigint << 20)
		FROM pg_database WHERE datname = current_database()`)
}

func (s *shopCluster) setShouldHaveShards(t *testing.T, worker int, v bool) {
	t.Helper()
	host, port, err := net.SplitHostPort(s.workers[worker])
	require.NoError(t, err)
	p, err := strconv.Atoi(port)
	require.NoError(t, err)
	pgtest.Exec(t, s.pool, `SELECT citus_set_node_property($1, $2, 'shouldhaveshards', $3)`, host, p, v)
}

// placements maps every shard of a hash-distributed table to the node
// (host:port) of its placement, read from pg_dist_placement.
func (s *shopCluster) placements(t *testing.T) map[int64]string {
	t.Helper()
	rows, err := s.pool.Query(context.Background(), `
		SELECT p.shardid, n.nodename, n.nodeport
		FROM pg_dist_placement p
		JOIN pg_dist_node n ON n.groupid = p.groupid AND n.noderole = 'primary'
		JOIN pg_dist_shard s ON s.shardid = p.shardid
		JOIN pg_dist_partition t ON t.logicalrelid = s.logicalrelid
		WHERE t.partmethod = 'h'`)
	require.NoError(t, err)
	out := map[int64]string{}
	for rows.Next() {
		var (
			id   int64
			host string
			port int
		)
		require.NoError(t, rows.Scan(&id, &host, &port))
		out[id] = net.JoinHostPort(host, strconv.Itoa(port))
	}
	require.NoError(t, rows.Err())
	return out
}

// perNode counts placements per node.
func perNode(placements map[int64]string) map[string]int {
	out := map[string]int{}
	for _, n := range placements {
		out[n]++
	}
	return out
}

// tenantCounts counts rows per table and tenant with plain SQL, independent
// of the code under test: "purchase/1" -> 1000.
func (s *shopCluster) tenantCounts(t *testing.T, tables ...string) map[string]int64 {
	t.Helper()
	if len(tables) == 0 {
		tables = []string{"store:id", "product:store_id", "purchase:store_id"}
	}
	out := map[string]int64{}
	for _, tc := range tables {
		var table, col string
		for i := range tc {
			if tc[i] == ':' {
				table, col = tc[:i], tc[i+1:]
			}
		}
		rows, err := s.pool.Query(context.Background(), fmt.Sprintf(`SELECT %s::text, count(*) FROM %s GROUP BY 1`, col, table))
		require.NoError(t, err)
		for rows.Next() {
			var (
				tenant string
				n      int64
			)
			require.NoError(t, rows.Scan(&tenant, &n))
			out[table+"/"+tenant] = n
		}
		require.NoError(t, rows.Err())
	}
	return out
}

// plannedShards is every shard Citus's own get_rebalance_table_shards_plan
// would move now, with its source and target.
func (s *shopCluster) plannedShards(t *testing.T, strategy string) map[int64][2]string {
	t.Helper()
	var strat *string
	if strategy != "" {
		strat = &strategy
	}
	rows, err := s.pool.Query(context.Background(), `
		SELECT shardid, sourcename, sourceport, targetname, targetport
		FROM get_rebalance_table_shards_plan(rebalance_strategy => $1::name)`, strat)
	require.NoError(t, err)
	out := map[int64][2]string{}
	for rows.Next() {
		var (
			id     int64
			sn, tn string
			sp, tp int
		)
		require.NoError(t, rows.Scan(&id, &sn, &sp, &tn, &tp))
		out[id] = [2]string{net.JoinHostPort(sn, strconv.Itoa(sp)), net.JoinHostPort(tn, strconv.Itoa(tp))}
	}
	require.NoError(t, rows.Err())
	return out
}

// rebalanceJobs is every rebalance job of pg_dist_background_job: id ->
// state.
func (s *shopCluster) rebalanceJobs(t *testing.T) map[int64]string {
	t.Helper()
	rows, err := s.pool.Query(context.Background(), `SELECT job_id, state::text FROM pg_dist_background_job WHERE job_type = 'rebalance'`)
	require.NoError(t, err)
	out := map[int64]string{}
	for rows.Next() {
		var (
			id    int64
			state string
		)
		require.NoError(t, rows.Scan(&id, &state))
		out[id] = state
	}
	require.NoError(t, rows.Err())
	return out
}

// taskCommands are the commands of a background job's tasks, as Citus
// runs them.
func (s *shopCluster) taskCommands(t *testing.T, job int64) []string {
	t.Helper()
	rows, err := s.pool.Query(context.Background(), `SELECT command FROM pg_dist_background_task WHERE job_id = $1 ORDER BY task_id`, job)
	require.NoError(t, err)
	cmds, err := pgx.CollectRows(rows, pgx.RowTo[string])
	require.NoError(t, err)
	return cmds
}

// waitJob waits until the job reaches state (Citus's background worker
// runs it on its own schedule).
func (s *shopCluster) waitJob(t *testing.T, job int64, state string) {
	t.Helper()
	var last string
	require.Eventually(t, func() bool {
		err := s.pool.QueryRow(context.Background(), `SELECT state::text FROM pg_dist_background_job WHERE job_id = $1`, job).Scan(&last)
		return err == nil && last == state
	}, 2*time.Minute, 50*time.Millisecond, "job %d never became %s (last %s)", job, state, last)
}

// holdShards opens a transaction on the first worker that locks the shards
// given IN mode until release is called (or the test ends), so a move of
// them cannot get past the lock; it returns release.
func (s *shopCluster) holdShards(t *testing.T, mode string, shards []int64) (names []string, release func()) {
	t.Helper()
	ctx := context.Background()
	rows, err := s.pool.Query(ctx, `SELECT shard_name::text FROM citus_shards WHERE shardid = ANY($1) ORDER BY shardid`, shards)
	require.NoError(t, err)
	names, err = pgx.CollectRows(rows, pgx.RowTo[string])
	require.NoError(t, err)
	require.Len(t, names, len(shards))
	conn, err := pgx.Connect(ctx, s.cdb.Workers[0])
	require.NoError(t, err)
	tx, err := conn.Begin(ctx)
	require.NoError(t, err)
	pgtest.Exec(t, tx, "SET LOCAL citus.enable_manual_changes_to_shards = on")
	for _, n := range names {
		pgtest.Exec(t, tx, "LOCK TABLE "+pgx.Identifier{"public", n}.Sanitize()+" IN "+mode+" MODE")
	}
	done := false
	release = func() {
		if done {
			return
		}
		done = true
		require.NoError(t, tx.Commit(ctx))
		require.NoError(t, conn.Close(ctx))
	}
	t.Cleanup(release)
	return names, release
}

// waitLockWaiter waits until a session on the first worker waits for a
// lock on one of the shards: a move has reached them.
func (s *shopCluster) waitLockWaiter(t *testing.T, shards []string) {
	t.Helper()
	pool := pgtest.Pool(t, s.cdb.Workers[0])
	require.Eventually(t, func() bool {
		var waiting bool
		err := pool.QueryRow(context.Background(), `
			SELECT EXISTS (SELECT FROM pg_locks l WHERE NOT l.granted
			               AND l.relation = ANY (SELECT to_regclass(quote_ident(s)) FROM unnest($1::text[]) s))`, shards).Scan(&waiting)
		return err == nil && waiting
	}, 2*time.Minute, 50*time.Millisecond, "no move reached the held shards")
}

// keys of a map, for messages and set comparisons.
func shardIDs[V any](m map[int64]V) []int64 {
	out := make([]int64, 0, len(m))
	for id := range m {
		out = append(out, id)
	}
	return out
}

// startJSON is rebalance start's JSON document, as scripts read it.
type startJSON struct {
	JobID int64 `json:"job_id"`
	Job   *struct {
		State string `json:"state"`
		Tasks []struct {
			State   string `json:"state"`
			Command string `json:"command"`
		} `json:"tasks"`
	} `json:"job"`
	Moves   []json.RawMessage `json:"moves"`
	Nothing bool              `json:"nothing_to_move"`
	Verify  *struct {
		Tables      int   `json:"tables"`
		Tenants     int   `json:"tenants"`
		Rows        int64 `json:"rows"`
		Differences []struct {
			Table  struct{ Schema, Name string } `json:"table"`
			Tenant string                        `json:"tenant"`
			Before int64                         `json:"before"`
			After  int64                         `json:"after"`
		} `json:"differences"`
	} `json:"verify"`
}

func decodeStart(t *testing.T, stdout string) startJSON {
	t.Helper()
	var doc startJSON
	require.NoError(t, json.Unmarshal([]byte(stdout), &doc), stdout)
	return doc
}
