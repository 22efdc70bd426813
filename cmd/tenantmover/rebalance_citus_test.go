package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"regexp"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/tenantmover/tenantmover/internal/pgtest"
)

// rebalance start --wait --verify runs Citus's rebalancer to the end: the
// shard groups Citus planned move from the full worker to the empty one,
// nothing else moves, every tenant keeps its rows, and a second start has
// nothing to do.
func TestRebalanceStartWaitVerify(t *testing.T) {
	t.Parallel()
	s := newShop(t, shopOptions{Shards: 4, Unbalanced: true})
	before := s.placements(t)
	require.Equal(t, map[string]int{s.workers[0]: 12}, perNode(before), "every shard starts on the first worker")
	planned := s.plannedShards(t, "")
	require.Len(t, planned, 6, "Citus plans to move 2 of the 4 shard groups")
	counts := s.tenantCounts(t)

	code, stdout, stderr := runCLI(t, "rebalance", "start", "--target", s.cdb.Coordinator, "--wait", "--verify", "--no-progress", "--format", "json")
	require.Equal(t, exitOK, code, stderr)
	doc := decodeStart(t, stdout)
	require.NotZero(t, doc.JobID)
	require.NotNil(t, doc.Job, stdout)
	require.Equal(t, "finished", doc.Job.State)
	require.NotEmpty(t, doc.Job.Tasks)
	for _, task := range doc.Job.Tasks {
		require.Equal(t, "done", task.State, task.Command)
	}
	require.Contains(t, stderr, fmt.Sprintf("Rebalance job %d finished: %d tasks done.", doc.JobID, len(doc.Job.Tasks)))
	require.Regexp(t, `msg="moving shard" table=public\.(store|product|purchase) shard=\d+ from=`+regexp.QuoteMeta(s.workers[0])+` to=`+regexp.QuoteMeta(s.workers[1]), stderr)
	require.Equal(t, map[int64]string{doc.JobID: "finished"}, s.rebalanceJobs(t), "the job the CLI started, and it ended")
	for _, cmd := range s.taskCommands(t, doc.JobID) {
		require.Contains(t, cmd, "'auto'", "the default transfer mode is passed to Citus")
	}

	after := s.placements(t)
	require.Equal(t, map[string]int{s.workers[0]: 6, s.workers[1]: 6}, perNode(after))
	for id, node := range after {
		if p, ok := planned[id]; ok {
			require.Equal(t, p[1], node, "shard %d moved where Citus planned", id)
		} else {
			require.Equal(t, before[id], node, "shard %d was not in the plan and stayed", id)
		}
	}
	require.Equal(t, counts, s.tenantCounts(t), "every tenant keeps its rows")

	require.NotNil(t, doc.Verify)
	require.Equal(t, 3, doc.Verify.Tables)
	require.Equal(t, s.rows, doc.Verify.Rows)
	require.Equal(t, 3*s.stores, doc.Verify.Tenants)
	require.NotNil(t, doc.Verify.Differences, "an empty list, not null")
	require.Empty(t, doc.Verify.Differences)
	require.Contains(t, stderr, fmt.Sprintf("Verified: %d rows of %d tenant/table pairs in 3 tables, identical before and after.", s.rows, 3*s.stores))

	code, stdout, stderr = runCLI(t, "rebalance", "start", "--target", s.cdb.Coordinator, "--wait", "--format", "json")
	require.Equal(t, exitOK, code, stderr)
	require.True(t, decodeStart(t, stdout).Nothing)
	require.Contains(t, stderr, "Nothing to do: the cluster is balanced")
	require.Len(t, s.rebalanceJobs(t), 1, "no second job")
	require.Equal(t, after, s.placements(t))
}

// rebalance start --wait, while a job started outside tenantmover (SQL
// citus_rebalance_start) is running, says it follows that job, starts none
// of its own, and returns only when the job has finished. With --verify
// it counts before and after the whole job: a row written meanwhile to a
// shard that does not move is a difference (exit 2), naming the tenant.
func TestRebalanceStartAttachesToRunningJob(t *testing.T) {
	t.Parallel()
	s := newShop(t, shopOptions{Shards: 4, Unbalanced: true})
	planned := s.plannedShards(t, "")
	require.NotEmpty(t, planned)
	// A store whose shard stays on the first worker.
	staying := pgtest.Scalar[int64](t, s.pool, `SELECT min(id) FROM store
		WHERE get_shard_id_for_distribution_column('store', id) <> ALL ($1)`, shardIDs(planned))
	require.NotZero(t, staying)

	// Writes wait on the moving shards; reads (the counts) do not. The
	// moves cannot get past the lock, so the job keeps running until the
	// test lets go.
	names, release := s.holdShards(t, "EXCLUSIVE", shardIDs(planned))
	job := pgtest.Scalar[int64](t, s.pool, `SELECT citus_rebalance_start()`)
	s.waitLockWaiter(t, names)
	require.Equal(t, map[int64]string{job: "running"}, s.rebalanceJobs(t))

	done := runCLIAsync(t, "rebalance", "start", "--target", s.cdb.Coordinator, "--wait", "--verify", "--no-progress", "--format", "json")
	s.waitFollowing(t) // so it has counted the rows before
	select {
	case r := <-done:
		t.Fatalf("rebalance start --wait returned while the job was still running (exit %d):\n%s", r.code, r.stderr)
	default:
	}
	pgtest.Exec(t, s.pool, `INSERT INTO purchase VALUES ($1, 100000, 1, 1)`, staying)
	require.Equal(t, map[int64]string{job: "running"}, s.rebalanceJobs(t), "the job still runs")

	release()
	r := awaitCLI(t, done)
	require.Equal(t, exitDifferences, r.code, r.stderr)
	require.Contains(t, r.stderr, fmt.Sprintf(`msg="a rebalance job is already running: following it" job=%d`, job))
	require.NotContains(t, r.stderr, "rebalance job started")
	require.Equal(t, map[int64]string{job: "finished"}, s.rebalanceJobs(t), "the CLI followed Citus's job and started none")
	doc := decodeStart(t, r.stdout)
	require.Equal(t, job, doc.JobID)
	require.NotNil(t, doc.Job)
	require.Equal(t, "finished", doc.Job.State)
	require.Contains(t, r.stderr, fmt.Sprintf("Rebalance job %d finished", job))
	for id, node := range s.placements(t) {
		if p, ok := planned[id]; ok {
			require.Equal(t, p[1], node, "shard %d moved", id)
		}
	}

	require.NotNil(t, doc.Verify)
	require.Len(t, doc.Verify.Differences, 1, r.stdout)
	d := doc.Verify.Differences[0]
	require.Equal(t, "purchase", d.Table.Name)
	require.Equal(t, fmt.Sprint(staying), d.Tenant)
	require.Equal(t, d.Before+1, d.After)
	require.Contains(t, r.stderr, "VERIFY FAILED")
	require.Contains(t, r.stderr, fmt.Sprintf("public.purchase tenant %d: %d rows before, %d after", staying, d.Before, d.After))
}

// rebalance start without --wait leaves the job running in the background;
// rebalance stop cancels it (Citus's job ends cancelled) before any move
// finished, so every shard stays where it was, and a start --wait
// following the job exits 1 saying it was cancelled; a second stop has
// nothing to stop.
func TestRebalanceStopCancelsRunningJob(t *testing.T) {
	t.Parallel()
	s := newShop(t, shopOptions{Shards: 4, Unbalanced: true})
	before := s.placements(t)
	counts := s.tenantCounts(t)
	planned := s.plannedShards(t, "")
	names, release := s.holdShards(t, "EXCLUSIVE", shardIDs(planned))

	code, stdout, stderr := runCLI(t, "rebalance", "start", "--target", s.cdb.Coordinator, "--format", "json", "--no-progress")
	require.Equal(t, exitOK, code, stderr)
	job := decodeStart(t, stdout).JobID
	require.NotZero(t, job)
	require.Contains(t, stderr, fmt.Sprintf("Rebalance job %d started in the background.", job))
	s.waitLockWaiter(t, names)
	require.Equal(t, map[int64]string{job: "running"}, s.rebalanceJobs(t))

	code, _, stderr = runCLI(t, "rebalance", "start", "--target", s.cdb.Coordinator)
	require.Equal(t, exitError, code)
	require.Contains(t, stderr, fmt.Sprintf("rebalance job %d is already running", job))

	code, _, stderr = runCLI(t, "rebalance", "stop", "--target", s.cdb.Coordinator, "--dry-run")
	require.Equal(t, exitOK, code, stderr)
	require.Contains(t, stderr, fmt.Sprintf("running rebalance job: %d; would call\n  SELECT pg_catalog.citus_rebalance_stop();", job))
	require.Equal(t, map[int64]string{job: "running"}, s.rebalanceJobs(t), "a dry run stops nothing")

	// A follower attached to the job hears that it was cancelled: exit 1.
	follower := runCLIAsync(t, "rebalance", "start", "--target", s.cdb.Coordinator, "--wait", "--no-progress")
	s.waitFollowing(t)

	code, _, stderr = runCLI(t, "rebalance", "stop", "--target", s.cdb.Coordinator)
	require.Equal(t, exitOK, code, stderr)
	require.Contains(t, stderr, fmt.Sprintf("Rebalance job %d cancelled", job))
	s.waitJob(t, job, "cancelled")
	r := awaitCLI(t, follower)
	require.Equal(t, exitError, r.code, r.stderr)
	require.Contains(t, r.stderr, fmt.Sprintf("following it\" job=%d", job))
	require.Regexp(t, fmt.Sprintf(`rebalance job %d was cancelled after 0 of \d+ tasks`, job), r.stderr)
	release()

	require.Equal(t, before, s.placements(t), "no move finished")
	require.Equal(t, counts, s.tenantCounts(t))
	code, _, stderr = runCLI(t, "rebalance", "stop", "--target", s.cdb.Coordinator)
	require.Equal(t, exitOK, code, stderr)
	require.Contains(t, stderr, "Nothing to stop: no rebalance job is running")
	require.Equal(t, map[int64]string{job: "cancelled"}, s.rebalanceJobs(t))
}

// cliResult is what a CLI run gave.
type cliResult struct {
	code           int
	stdout, stderr string
}

// runCLIAsync runs the CLI in the background; awaitCLI collects it.
func runCLIAsync(t *testing.T, args ...string) <-chan cliResult {
	done := make(chan cliResult, 1)
	go func() {
		var r cliResult
		var out, errOut bytes.Buffer
		r.code = run(context.Background(), append([]string{"tenantmover"}, args...), &out, &errOut)
		r.stdout, r.stderr = out.String(), errOut.String()
		done <- r
	}()
	return done
}

func awaitCLI(t *testing.T, done <-chan cliResult) cliResult {
	t.Helper()
	select {
	case r := <-done:
		return r
	case <-time.After(3 * time.Minute):
		t.Fatal("the CLI did not return")
		return cliResult{}
	}
}

// waitFollowing waits until a tenantmover session on the coordinator polls
// a background job: each poll (citus.JobStatus) reads the job, its tasks,
// and last get_rebalance_progress, whose text stays in pg_stat_activity
// between polls.
func (s *shopCluster) waitFollowing(t *testing.T) {
	t.Helper()
	require.Eventually(t, func() bool {
		var following bool
		err := s.pool.QueryRow(context.Background(), `SELECT EXISTS (SELECT FROM pg_stat_activity
			WHERE datname = current_database() AND application_name = 'tenantmover'
			  AND query LIKE '%get_rebalance_progress%')`).Scan(&following)
		return err == nil && following
	}, 2*time.Minute, 20*time.Millisecond, "the CLI never followed the job")
}

// rebalancePlanJSON is rebalance plan's JSON document.
type rebalancePlanJSON struct {
	Strategy string `json:"strategy"`
	Moves    []struct {
		Table   struct{ Schema, Name string } `json:"table"`
		ShardID int64                         `json:"shard_id"`
		Bytes   int64                         `json:"bytes"`
		Source  string                        `json:"source"`
		Target  string                        `json:"target"`
	} `json:"moves"`
	Bytes  int64 `json:"bytes"`
	Before []struct {
		Node   string `json:"node"`
		Shards int64  `json:"shards"`
	} `json:"before"`
	After []struct {
		Node   string `json:"node"`
		Shards int64  `json:"shards"`
	} `json:"after"`
}

// rebalance plan lists exactly the moves get_rebalance_table_shards_plan
// makes, as text and JSON, with the load before and after; it changes
// nothing.
func TestRebalancePlanListsMoves(t *testing.T) {
	t.Parallel()
	s := newShop(t, shopOptions{Shards: 4, Unbalanced: true})
	before := s.placements(t)

	for _, strategy := range []string{"", "by_shard_count"} {
		args := []string{"rebalance", "plan", "--target", s.cdb.Coordinator, "--format", "json"}
		if strategy != "" {
			args = append(args, "--strategy", strategy)
		}
		code, stdout, stderr := runCLI(t, args...)
		require.Equal(t, exitOK, code, stderr)
		var p rebalancePlanJSON
		require.NoError(t, json.Unmarshal([]byte(stdout), &p), stdout)
		require.Equal(t, strategy, p.Strategy)
		want := s.plannedShards(t, strategy)
		require.Len(t, p.Moves, len(want))
		require.Len(t, want, 6, "2 shard groups of 3 tables")
		var total int64
		tables := map[string]int{}
		for _, m := range p.Moves {
			require.Contains(t, want, m.ShardID)
			require.Equal(t, want[m.ShardID], [2]string{m.Source, m.Target}, "shard %d", m.ShardID)
			require.Equal(t, s.workers[0], m.Source)
			require.Equal(t, s.workers[1], m.Target)
			require.Positive(t, m.Bytes, "shard %d carries its size", m.ShardID)
			tables[m.Table.Name]++
			total += m.Bytes
		}
		require.Equal(t, map[string]int{"store": 2, "product": 2, "purchase": 2}, tables)
		require.Equal(t, total, p.Bytes)
		shards := func(loads []struct {
			Node   string `json:"node"`
			Shards int64  `json:"shards"`
		}) map[string]int64 {
			out := map[string]int64{}
			for _, l := range loads {
				out[l.Node] = l.Shards
			}
			return out
		}
		require.Equal(t, map[string]int64{s.workers[0]: 12, s.workers[1]: 0}, shards(p.Before))
		require.Equal(t, map[string]int64{s.workers[0]: 6, s.workers[1]: 6}, shards(p.After))
	}

	code, stdout, stderr := runCLI(t, "rebalance", "plan", "--target", s.cdb.Coordinator)
	require.Equal(t, exitOK, code, stderr)
	require.Empty(t, stdout)
	require.Contains(t, stderr, "With the default strategy Citus would make 6 shard moves")
	for id := range s.plannedShards(t, "") {
		require.Regexp(t, fmt.Sprintf(`(?m)^public\.\w+ +%d +[0-9.]+ [KMG]?i?B +%s +%s$`, id, regexp.QuoteMeta(s.workers[0]), regexp.QuoteMeta(s.workers[1])), stderr)
	}
	require.Regexp(t, `(?m)^`+regexp.QuoteMeta(s.workers[0])+` +12 .* 6 `, stderr)

	code, _, stderr = runCLI(t, "rebalance", "plan", "--target", s.cdb.Coordinator, "--strategy", "no_such_strategy")
	require.Equal(t, exitError, code)
	require.Contains(t, stderr, "no_such_strategy")

	require.Equal(t, before, s.placements(t), "plan changes nothing")
	require.Empty(t, s.rebalanceJobs(t))

	// Once balanced, the plan says so.
	code, _, stderr = runCLI(t, "rebalance", "start", "--target", s.cdb.Coordinator, "--wait", "--no-progress", "--strategy", "by_shard_count",
		"--transfer-mode", "block_writes") // the quickest way there

	require.Equal(t, exitOK, code, stderr)
	code, stdout, stderr = runCLI(t, "rebalance", "plan", "--target", s.cdb.Coordinator, "--strategy", "by_shard_count", "--format", "json")
	require.Equal(t, exitOK, code, stderr)
	var p rebalancePlanJSON
	require.NoError(t, json.Unmarshal([]byte(stdout), &p), stdout)
	require.Empty(t, p.Moves)
	code, _, stderr = runCLI(t, "rebalance", "plan", "--target", s.cdb.Coordinator, "--strategy", "by_shard_count")
	require.Equal(t, exitOK, code, stderr)
	require.Contains(t, stderr, "Balanced: with by_shard_count strategy Citus has no shard moves to make.")
}

// Each transfer mode reaches Citus: block_writes moves a table without a
// replica identity that auto refuses before starting anything;
// force_logical moves it with logical replication. Both keep every
// tenant's rows.
func TestRebalanceTransferModes(t *testing.T) {
	t.Parallel()
	noIdentity := []string{
		`CREATE TABLE event_log (store_id bigint NOT NULL, payload text)`,
		`SELECT create_distributed_table('event_log', 'store_id', colocate_with => 'store')`,
		`INSERT INTO event_log SELECT i, 'event ' || n FROM generate_series(1, 24) i, generate_series(1, 5) n`,
	}
	for _, mode := range []string{"block_writes", "force_logical"} {
		t.Run(mode, func(t *testing.T) {
			t.Parallel()
			s := newShop(t, shopOptions{Shards: 4, Unbalanced: true, Extra: noIdentity})
			before := s.placements(t)
			require.Equal(t, map[string]int{s.workers[0]: 16}, perNode(before))
			tables := []string{"store:id", "product:store_id", "purchase:store_id", "event_log:store_id"}
			counts := s.tenantCounts(t, tables...)

			if mode == "block_writes" {
				code, _, stderr := runCLI(t, "rebalance", "start", "--target", s.cdb.Coordinator, "--wait", "--no-progress")
				require.Equal(t, exitError, code, stderr)
				require.Contains(t, stderr, "shard transfer mode auto uses logical replication, which cannot work here")
				require.Contains(t, stderr, "public.event_log: has no primary key or replica identity")
				require.Contains(t, stderr, "--transfer-mode block_writes")
				require.Empty(t, s.rebalanceJobs(t), "refused before Citus started a job")
				require.Equal(t, before, s.placements(t))
			}

			code, stdout, stderr := runCLI(t, "rebalance", "start", "--target", s.cdb.Coordinator, "--wait", "--verify",
				"--no-progress", "--format", "json", "--transfer-mode", mode)
			require.Equal(t, exitOK, code, stderr)
			doc := decodeStart(t, stdout)
			require.Equal(t, "finished", doc.Job.State)
			cmds := s.taskCommands(t, doc.JobID)
			require.NotEmpty(t, cmds)
			for _, cmd := range cmds {
				require.Contains(t, cmd, "'"+mode+"'", "Citus moved the shards with %s", mode)
			}
			require.Equal(t, map[string]int{s.workers[0]: 8, s.workers[1]: 8}, perNode(s.placements(t)))
			require.Equal(t, counts, s.tenantCounts(t, tables...))
			require.Empty(t, doc.Verify.Differences)
			require.Equal(t, 4, doc.Verify.Tables)
		})
	}
}

// isolateJSON is rebalance isolate's JSON document.
type isolateJSON struct {
	Plan struct {
		ShardID         int64 `json:"shard_id"`
		AlreadyIsolated bool  `json:"already_isolated"`
		Source          struct {
			Name string `json:"name"`
			Port int    `json:"port"`
		} `json:"source"`
	} `json:"plan"`
	ShardID int64    `json:"shard_id"`
	Node    string   `json:"node"`
	Moved   bool     `json:"moved"`
	Calls   []string `json:"calls"`
	Verify  *struct {
		Rows        int64 `json:"rows"`
		Differences []any `json:"differences"`
	} `json:"verify"`
}

// tenantShards is, for each table of the shop, the tenant's shard: its id,
// whether it holds only the tenant's hash, and its node.
type tenantShard struct {
	ID       int64
	Isolated bool
	Node     string
}

func (s *shopCluster) tenantShards(t *testing.T, tenant int) map[string]tenantShard {
	t.Helper()
	out := map[string]tenantShard{}
	for _, table := range []string{"store", "product", "purchase"} {
		var ts tenantShard
		require.NoError(t, s.pool.QueryRow(context.Background(), `
			SELECT s.shardid, s.shardminvalue = s.shardmaxvalue, n.nodename || ':' || n.nodeport
			FROM pg_dist_shard s
			JOIN pg_dist_placement p ON p.shardid = s.shardid
			JOIN pg_dist_node n ON n.groupid = p.groupid AND n.noderole = 'primary'
			WHERE s.shardid = get_shard_id_for_distribution_column($1::regclass, $2::bigint)`, table, tenant).Scan(&ts.ID, &ts.Isolated, &ts.Node))
		out[table] = ts
	}
	return out
}

func (s *shopCluster) shardCount(t *testing.T, table string) int {
	t.Helper()
	return pgtest.Scalar[int](t, s.pool, `SELECT count(*) FROM pg_dist_shard WHERE logicalrelid = $1::regclass`, table)
}

// rebalance isolate --stay splits the tenant's shard group and leaves the
// new shards on the tenant's node; --to HOST:PORT moves them there (an
// already isolated tenant is only moved, without a second split; the
// tenant's own node means no move), with the --transfer-mode given; a node
// that does not exist, or --stay with --to, is refused with nothing
// changed.
func TestRebalanceIsolateToAndStay(t *testing.T) {
	t.Parallel()
	s := newShop(t, shopOptions{Shards: 4})
	counts := s.tenantCounts(t)
	other := func(node string) string {
		if node == s.workers[0] {
			return s.workers[1]
		}
		return s.workers[0]
	}
	isolate := func(tenant int, extra ...string) (int, isolateJSON, string) {
		t.Helper()
		args := append([]string{"rebalance", "isolate", "--target", s.cdb.Coordinator, "--tenant-table", "store",
			"--tenant", fmt.Sprint(tenant), "--no-progress", "--verify", "--format", "json"}, extra...)
		code, stdout, stderr := runCLI(t, args...)
		var doc isolateJSON
		if code == exitOK {
			require.NoError(t, json.Unmarshal([]byte(stdout), &doc), stdout)
			require.NotNil(t, doc.Verify)
			require.Empty(t, doc.Verify.Differences)
			require.Equal(t, s.rows, doc.Verify.Rows)
		}
		return code, doc, stderr
	}

	// --stay: split in place.
	home := s.tenantShards(t, 1)
	require.False(t, home["store"].Isolated)
	code, doc, stderr := isolate(1, "--stay")
	require.Equal(t, exitOK, code, stderr)
	require.False(t, doc.Moved)
	require.Len(t, doc.Calls, 1)
	require.Contains(t, doc.Calls[0], "isolate_tenant_to_new_shard")
	stayed := s.tenantShards(t, 1)
	for table, ts := range stayed {
		require.True(t, ts.Isolated, "%s: tenant 1 has a shard of its own", table)
		require.NotEqual(t, home[table].ID, ts.ID, "%s: a new shard", table)
		require.Equal(t, home["store"].Node, ts.Node, "%s: the new shard stayed on the tenant's node", table)
		require.Equal(t, 6, s.shardCount(t, table), "%s: the tenant's shard was split in three", table)
	}
	require.Equal(t, doc.ShardID, stayed["store"].ID)
	require.Equal(t, home["store"].Node, doc.Node)
	require.Contains(t, stderr, fmt.Sprintf("Tenant 1 of public.store isolated in shard %d, on %s.", doc.ShardID, doc.Node))

	// --to an already isolated tenant: only the move.
	dest := other(home["store"].Node)
	code, doc, stderr = isolate(1, "--to", dest, "--transfer-mode", "block_writes")
	require.Equal(t, exitOK, code, stderr)
	require.True(t, doc.Plan.AlreadyIsolated)
	require.True(t, doc.Moved)
	require.Equal(t, dest, doc.Node)
	require.Len(t, doc.Calls, 1)
	require.Contains(t, doc.Calls[0], "citus_move_shard_placement")
	for table, ts := range s.tenantShards(t, 1) {
		require.Equal(t, stayed[table].ID, ts.ID, "%s: not split again", table)
		require.Equal(t, dest, ts.Node, "%s: moved to --to", table)
		require.Equal(t, 6, s.shardCount(t, table), table)
	}
	require.Contains(t, stderr, fmt.Sprintf("already alone in shard %d, moved from %s to %s.", doc.ShardID, home["store"].Node, dest))

	// --to on a tenant that shares a shard: split, then move.
	home2 := s.tenantShards(t, 2)
	dest2 := other(home2["store"].Node)
	code, doc, stderr = isolate(2, "--to", dest2, "--transfer-mode", "block_writes")
	require.Equal(t, exitOK, code, stderr)
	require.False(t, doc.Plan.AlreadyIsolated)
	require.True(t, doc.Moved)
	require.Len(t, doc.Calls, 2)
	for _, call := range doc.Calls {
		require.Contains(t, call, "shard_transfer_mode => 'block_writes'")
	}
	for table, ts := range s.tenantShards(t, 2) {
		require.True(t, ts.Isolated, table)
		require.Equal(t, dest2, ts.Node, "%s: tenant 2's new shard is on --to", table)
		require.Equal(t, 8, s.shardCount(t, table), table)
	}
	// The rest of tenant 2's old shard stays where it was.
	require.Equal(t, home2["store"].Node, pgtest.Scalar[string](t, s.pool, `
		SELECT n.nodename || ':' || n.nodeport FROM pg_dist_placement p JOIN pg_dist_node n USING (groupid)
		WHERE p.shardid = (SELECT shardid FROM pg_dist_shard WHERE logicalrelid = 'store'::regclass
		                   AND shardminvalue::int = worker_hash(2::bigint) + 1)`))

	// --to the tenant's own node: split, and no move.
	home3 := s.tenantShards(t, 3)
	code, doc, stderr = isolate(3, "--to", home3["store"].Node, "--transfer-mode", "block_writes")
	require.Equal(t, exitOK, code, stderr)
	require.False(t, doc.Moved)
	require.Len(t, doc.Calls, 1)
	require.Contains(t, doc.Calls[0], "isolate_tenant_to_new_shard")
	for table, ts := range s.tenantShards(t, 3) {
		require.True(t, ts.Isolated, table)
		require.Equal(t, home3[table].Node, ts.Node, table)
	}
	require.Contains(t, stderr, fmt.Sprintf("shard %d stays on %s, the node asked for", doc.ShardID, home3["store"].Node))

	placements := s.placements(t)
	code, _, stderr = isolate(3, "--to", "127.0.0.1:1")
	require.Equal(t, exitError, code)
	require.Contains(t, stderr, `no node "127.0.0.1:1" in the cluster: nodes are`)
	code, _, stderr = isolate(3, "--to", dest, "--stay")
	require.Equal(t, exitError, code)
	require.Contains(t, stderr, "--stay and --to contradict each other")
	require.Equal(t, placements, s.placements(t), "refused isolations change nothing")

	require.Equal(t, counts, s.tenantCounts(t))
}

// statusJSON is tenantmover status's JSON document.
type statusJSON map[string][]struct {
	Name    string `json:"name"`
	Command string `json:"command"`
	Phase   string `json:"phase"`
	Status  string `json:"status"`
	Tables  []struct {
		Phase     string `json:"phase"`
		Table     string `json:"table"`
		State     string `json:"state"`
		TotalRows int64  `json:"total_rows"`
		Rows      int64  `json:"rows"`
		Units     int    `json:"units"`
		UnitsDone int    `json:"units_done"`
	} `json:"tables"`
}

// tenantmover status --target reads copy's checkpoints on a Citus
// coordinator: every table of the run done, with the rows that are in the
// target table and all its chunks done.
func TestStatusOfCitusTarget(t *testing.T) {
	t.Parallel()
	cdb := env.NewCitusDB(t)
	src := sampleSource(t)
	srcPool := pgtest.Pool(t, src)
	pgtest.Exec(t, srcPool, `ALTER TABLE purchase ADD COLUMN store_id bigint;
		UPDATE purchase p SET store_id = pr.store_id FROM product pr WHERE pr.id = p.product_id;
		ALTER TABLE refund ADD COLUMN store_id bigint;
		UPDATE refund r SET store_id = p.store_id FROM purchase p WHERE p.id = r.purchase_id`)
	code, _, stderr := runCLI(t, "plan", "--source", src, "--target", cdb.Coordinator, "--tenant-table", "store", "--apply")
	require.Equal(t, exitOK, code, stderr)

	code, _, stderr = runCLI(t, "status", "--target", cdb.Coordinator)
	require.Equal(t, exitOK, code, stderr)
	require.Equal(t, "target: no runs\n", stderr)

	code, _, stderr = runCLI(t, "copy", "--source", src, "--target", cdb.Coordinator, "--tenant-table", "store", "--no-progress", "--chunk-rows", "2000")
	require.Equal(t, exitOK, code, stderr)

	code, stdout, stderr := runCLI(t, "status", "--target", cdb.Coordinator, "--format", "json")
	require.Equal(t, exitOK, code, stderr)
	var st statusJSON
	require.NoError(t, json.Unmarshal([]byte(stdout), &st), stdout)
	require.Len(t, st["target"], 1, stdout)
	require.NotContains(t, st, "source")
	run := st["target"][0]
	require.Equal(t, "copy", run.Name)
	require.Equal(t, "copy", run.Command)
	require.Equal(t, "done", run.Status)
	dst := pgtest.Pool(t, cdb.Coordinator)
	tables := map[string]bool{}
	chunked := false
	for _, tb := range run.Tables {
		tables[tb.Table] = true
		n := pgtest.Scalar[int64](t, dst, "SELECT count(*) FROM "+tb.Table)
		require.Equal(t, "copy", tb.Phase)
		require.Equal(t, "done", tb.State, tb.Table)
		require.Equal(t, n, tb.Rows, "%s: status counts the rows that are in the target", tb.Table)
		require.Equal(t, pgtest.Scalar[int64](t, srcPool, "SELECT count(*) FROM "+tb.Table), tb.TotalRows, tb.Table)
		require.Equal(t, tb.Units, tb.UnitsDone, tb.Table)
		require.Positive(t, tb.Units, tb.Table)
		chunked = chunked || tb.Units > 1
	}
	require.True(t, chunked, "some table was copied in several chunks: %s", stdout)
	require.Len(t, tables, 8)
	for _, tb := range []string{"public.store", "public.product", "public.purchase", "public.refund", "public.auth_user"} {
		require.True(t, tables[tb], tb)
	}
	purchases := pgtest.Scalar[int64](t, dst, "SELECT count(*) FROM purchase")

	code, stdout, stderr = runCLI(t, "status", "--target", cdb.Coordinator, "--source", src)
	require.Equal(t, exitOK, code, stderr)
	require.Empty(t, stdout)
	require.Contains(t, stderr, "source: no runs")
	require.Regexp(t, `(?m)^target: run "copy" \(copy\) phase=\w+ status=done started `, stderr)
	require.Regexp(t, fmt.Sprintf(`(?m)^  copy +public\.purchase +done +(\d+)/(\d+) +%d +%d +100\.0%%$`, purchases, purchases), stderr)

	code, _, stderr = runCLI(t, "status", "--target", cdb.Coordinator, "--run", "other")
	require.Equal(t, exitOK, code, stderr)
	require.Equal(t, "target: no runs\n", stderr)
}
