// Package citus reads a Citus cluster's shard metadata and drives Citus's
// own rebalancer and tenant isolation functions. tenantmover never moves
// shard data itself: every change goes through citus_rebalance_start,
// isolate_tenant_to_new_shard or citus_move_shard_placement.
//
// The metadata half (Nodes, Tables, Shards, WorkerURL, ShardForValue) is a
// small read-only API other packages (verify) use to find placements and
// connect to workers. The rest reports how tenants and bytes are spread over
// the nodes (Status), what the rebalancer would do (RebalancePlan), runs and
// follows background rebalance jobs (StartRebalance, FollowJob), checks the
// preconditions of logical-replication shard transfers (CheckTransfer), and
// isolates a tenant to a shard of its own (Isolate).
//
// Every function takes a Querier: a *pgxpool.Pool, *pgx.Conn or pgx.Tx
// connected to the coordinator's database. The package never prints;
// long-running calls report through a callback.
package citus
