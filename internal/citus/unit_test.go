package citus

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/tenantmover/tenantmover/internal/db"
)

func TestCallString(t *testing.T) {
	c := MoveCall(int64(102008), Node{Name: "10.0.0.1", Port: 5432}, Node{Name: "w2", Port: 5433}, TransferBlockWrites)
	require.Equal(t, "SELECT pg_catalog.citus_move_shard_placement(102008::bigint, '10.0.0.1'::text, 5432::int, 'w2'::text, 5433::int, shard_transfer_mode => 'block_writes'::citus.shard_transfer_mode);", c.String())

	// Values are quoted once and never substituted again.
	c = IsolateCall(db.QualifiedName{Schema: "Sales Ops", Name: "Tenant"}, "it's $2", TransferAuto)
	require.Equal(t, `SELECT pg_catalog.isolate_tenant_to_new_shard('"Sales Ops"."Tenant"'::text::regclass, 'it''s $2'::text, 'CASCADE', shard_transfer_mode => 'auto'::citus.shard_transfer_mode);`, c.String())

	require.Contains(t, StartCall(RebalanceOptions{}).String(), "rebalance_strategy => NULL::name, shard_transfer_mode => 'auto'")
	require.Equal(t, "SELECT pg_catalog.citus_rebalance_stop();", StopCall().String())
}

func TestIsolatePlanCalls(t *testing.T) {
	src := Node{ID: 2, Name: "w1", Port: 1}
	p := &IsolatePlan{Table: Table{Name: db.QualifiedName{Schema: "public", Name: "store"}}, Tenant: "7", ShardID: 5, Source: src, Mode: TransferAuto}
	calls := p.calls()
	require.Len(t, calls, 2)
	require.Contains(t, calls[0].String(), "isolate_tenant_to_new_shard('public.store'::text::regclass, '7'::text, 'CASCADE'")
	require.Contains(t, calls[1].String(), "citus_move_shard_placement(<new shard id>::bigint, 'w1'::text, 1::int, <least loaded worker>::text")

	p.AlreadyIsolated, p.Target = true, &Node{ID: 3, Name: "w2", Port: 2}
	calls = p.calls()
	require.Len(t, calls, 1)
	require.Contains(t, calls[0].String(), "citus_move_shard_placement(5::bigint, 'w1'::text, 1::int, 'w2'::text, 2::int")

	p.Target = &src
	require.Empty(t, p.calls(), "already isolated on the named node: nothing to do")
	p.Target, p.Stay = nil, true
	require.Empty(t, p.calls())
}

func TestPredict(t *testing.T) {
	before := []NodeLoad{{Node: "a:1", Shards: 4, Bytes: 400}, {Node: "b:1", Shards: 4, Bytes: 100}}
	after := predict(before, []Move{
		{Source: "a:1", Target: "c:1", Bytes: 150},
		{Source: "a:1", Target: "b:1", Bytes: 50},
	})
	require.Equal(t, []NodeLoad{{Node: "a:1", Shards: 2, Bytes: 200}, {Node: "b:1", Shards: 5, Bytes: 150}, {Node: "c:1", Shards: 1, Bytes: 150}}, after)
	require.Equal(t, int64(400), before[0].Bytes, "the current load is not modified")
}

func TestSkew(t *testing.T) {
	nodes := []NodeStatus{{Bytes: 300, Shards: 2}, {Bytes: 100, Shards: 2}}
	total, s, basis := skew(nodes)
	require.Equal(t, int64(400), total)
	require.InDelta(t, 1.5, s, 1e-9)
	require.Equal(t, "bytes", basis)
	require.InDelta(t, 0.75, nodes[0].ByteShare, 1e-9)

	_, s, basis = skew([]NodeStatus{{Shards: 3}, {Shards: 1}, {Shards: 0}})
	require.InDelta(t, 3*3/4.0, s, 1e-9)
	require.Equal(t, "shards", basis)
}

func TestJudge(t *testing.T) {
	job := func(state string, tasks ...Task) *Job { return &Job{ID: 1, State: state, Tasks: tasks} }
	done, err := judge(job("running", Task{State: "running"}), 0)
	require.False(t, done)
	require.NoError(t, err)

	done, err = judge(job("finished", Task{State: "done", Retries: 1}), 0)
	require.True(t, done)
	require.NoError(t, err, "a task that failed once and then succeeded leaves a finished job")

	for _, state := range []string{"failed", "failing", "cancelled", "cancelling"} {
		done, err = judge(job(state, Task{State: "error", Retries: 32, Message: "ERROR: boom"}), 0)
		require.True(t, done)
		var je *JobError
		require.ErrorAs(t, err, &je, state)
		require.False(t, je.Retrying)
	}

	j := job("running", Task{ID: 9, State: "runnable", Retries: 1, Message: "ERROR:  connection to the remote node w1:5432 failed", Command: "SELECT citus_move_shard_placement(1,2,3,'auto')"})
	done, err = judge(j, 0)
	require.True(t, done)
	var je *JobError
	require.ErrorAs(t, err, &je)
	require.True(t, je.Retrying)
	require.Contains(t, err.Error(), "task 9 SELECT citus_move_shard_placement(1,2,3,'auto') (failed 1 time(s), now runnable): ERROR: connection to the remote node w1:5432 failed")
	done, _ = judge(j, 1)
	require.False(t, done, "within the retries allowed, keep following")
}

func TestPluginAllowed(t *testing.T) {
	require.True(t, pluginAllowed("pgoutput, citus", "citus"))
	require.True(t, pluginAllowed("*", "citus"))
	require.False(t, pluginAllowed("pgoutput, test_decoding", "citus"))
	require.False(t, pluginAllowed("", "citus"))
	require.Equal(t, "pgoutput, citus", addPlugin("pgoutput", "citus"))
}

func TestDiff(t *testing.T) {
	a := db.QualifiedName{Schema: "public", Name: "a"}
	before := TenantCounts{a: {"1": 10, "2": 5}}
	after := TenantCounts{a: {"1": 10, "2": 4, "3": 1}}
	require.Empty(t, Diff(before, before))
	d := Diff(before, after)
	require.Equal(t, []CountDiff{{Table: a, Tenant: "2", Before: 5, After: 4}, {Table: a, Tenant: "3", Before: 0, After: 1}}, d)
	require.Contains(t, (&CountsChangedError{Diffs: d}).Error(), "public.a tenant 2: 5 rows before, 4 after")
}

// Node loads count the shards of distributed tables only: a reference
// table's placements are its own figure, and a Citus local table (a
// coordinator table in the metadata) makes the coordinator no shard holder.
func TestNodeLoadsCountDistributedShards(t *testing.T) {
	coord := Node{GroupID: 0, Name: "c", Port: 1, Active: true}
	w1 := Node{GroupID: 1, Name: "w1", Port: 1, Active: true, ShouldHaveShards: true}
	w2 := Node{GroupID: 2, Name: "w2", Port: 1, Active: true, ShouldHaveShards: true}
	at := func(n Node, typ string, bytes int64) shardSize {
		return shardSize{Type: typ, NodeName: n.Name, NodePort: n.Port, Bytes: bytes}
	}
	loads := nodeLoads([]Node{coord, w1, w2}, []shardSize{
		at(w1, "distributed", 100), at(w2, "distributed", 50), at(w2, "distributed", 50),
		at(w1, "reference", 7), at(w2, "reference", 7), at(coord, "reference", 7), at(coord, "local", 1000),
	})
	require.Len(t, loads, 2, "the coordinator holds no shard: %+v", loads)
	require.Equal(t, []int64{1, 2}, []int64{loads[0].Shards, loads[1].Shards})
	require.Equal(t, []int64{100, 100}, []int64{loads[0].Bytes, loads[1].Bytes})
	require.Equal(t, []int64{7, 7}, []int64{loads[0].ReferenceBytes, loads[1].ReferenceBytes})
}
