package citus

import (
	"context"
	"fmt"
	"sort"

	"github.com/jackc/pgx/v5"

	"github.com/tenantmover/tenantmover/internal/db"
)

// StatusOptions select what Status reads.
type StatusOptions struct {
	// TopTenants is how many of the largest tenants to report. Default 10.
	// Negative skips the tenant scan, which reads every distributed table
	// (a grouped count per table, run on the workers in parallel).
	TopTenants int
}

// ClusterStatus is how shards, bytes and tenants are spread over the nodes.
type ClusterStatus struct {
	Version string       `json:"citus_version"`
	Nodes   []NodeStatus `json:"nodes"`
	// Tenants are the largest tenants (by rows over their colocation
	// group's tables) of all groups, largest first.
	Tenants []TenantStat `json:"largest_tenants"`
	// TotalBytes is the size of all distributed shards.
	TotalBytes int64 `json:"total_bytes"`
	// Skew is the largest node's load divided by the mean over the nodes
	// that hold or may receive shards: 1.0 is perfectly even.
	Skew float64 `json:"skew"`
	// SkewBasis is what Skew measures: "bytes", or "shards" when the
	// shards are empty.
	SkewBasis string `json:"skew_basis"`
	// TenantStatsTracked says citus.stat_tenants_track is on, so tenants
	// carry query counts and CPU time from citus_stat_tenants.
	TenantStatsTracked bool `json:"tenant_stats_tracked"`
	// Warnings are parts of the status that could not be read.
	Warnings []string `json:"warnings,omitempty"`
}

// NodeStatus is one node's share of the distributed data.
type NodeStatus struct {
	Node Node `json:"node"`
	// Shards counts the distributed (non-reference) shard placements.
	Shards int64 `json:"shards"`
	// Bytes is the size of those placements.
	Bytes int64 `json:"bytes"`
	// ReferenceBytes is the size of reference table placements (the same
	// on every node, so they do not count towards skew).
	ReferenceBytes int64 `json:"reference_bytes"`
	// ByteShare is Bytes over all nodes' Bytes.
	ByteShare float64 `json:"byte_share"`
}

// TenantStat is one tenant (a distribution column value) of a colocation
// group: its rows over all the group's tables and its estimated bytes.
type TenantStat struct {
	ColocationID int32 `json:"colocation_id"`
	// Table names the group: its root table (the one whose primary key is
	// the distribution column) when there is one.
	Table  db.QualifiedName `json:"table"`
	Tenant string           `json:"tenant"`
	Rows   int64            `json:"rows"`
	// Bytes is estimated: for each table, the bytes of the shard holding
	// the tenant times the tenant's share of that shard's rows.
	Bytes     int64   `json:"bytes"`
	RowShare  float64 `json:"row_share"`  // of the group's rows
	ByteShare float64 `json:"byte_share"` // of the group's bytes
	ShardID   int64   `json:"shard_id"`   // shard of Table holding the tenant
	// Isolated says the tenant has a shard of its own.
	Isolated bool `json:"isolated"`
	Node     Node `json:"node"`
	// Queries and CPUSeconds come from citus_stat_tenants (this and the
	// last period) when tracking is on and the tenant is among those
	// tracked.
	Queries    *int64   `json:"queries,omitempty"`
	CPUSeconds *float64 `json:"cpu_seconds,omitempty"`
}

// Status reads the shard and tenant spread of the cluster.
func Status(ctx context.Context, q Querier, opts StatusOptions) (*ClusterStatus, error) {
	if opts.TopTenants == 0 {
		opts.TopTenants = 10
	}
	version, err := RequireCoordinator(ctx, q)
	if err != nil {
		return nil, err
	}
	st := &ClusterStatus{Version: version}
	nodes, err := Nodes(ctx, q)
	if err != nil {
		return nil, err
	}
	sizes, err := shardSizes(ctx, q)
	if err != nil {
		return nil, err
	}
	st.Nodes = nodeLoads(nodes, sizes)
	st.TotalBytes, st.Skew, st.SkewBasis = skew(st.Nodes)
	if opts.TopTenants > 0 {
		if err := addTenants(ctx, q, st, nodes, sizes, opts.TopTenants); err != nil {
			return nil, err
		}
	}
	return st, nil
}

// shardSize is a row of citus_shards.
type shardSize struct {
	Table        db.QualifiedName
	ShardID      int64
	ColocationID int32
	Type         string
	NodeName     string
	NodePort     int
	Bytes        int64
}

func shardSizes(ctx context.Context, q Querier) ([]shardSize, error) {
	rows, err := q.Query(ctx, `
		SELECT n.nspname, c.relname, cs.shardid, cs.colocation_id, cs.citus_table_type,
		       cs.nodename, cs.nodeport, coalesce(cs.shard_size, 0)
		FROM pg_catalog.citus_shards cs
		JOIN pg_catalog.pg_class c ON c.oid = cs.table_name
		JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace`)
	if err != nil {
		return nil, fmt.Errorf("reading citus_shards: %w", err)
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (shardSize, error) {
		var s shardSize
		err := r.Scan(&s.Table.Schema, &s.Table.Name, &s.ShardID, &s.ColocationID, &s.Type, &s.NodeName, &s.NodePort, &s.Bytes)
		return s, err
	})
	if err != nil {
		return nil, fmt.Errorf("reading citus_shards: %w", err)
	}
	return out, nil
}

// nodeLoads sums shard placements per node. Every active node that holds
// or may receive shards is listed, so an empty new worker shows as 0.
func nodeLoads(nodes []Node, sizes []shardSize) []NodeStatus {
	idx := map[string]int{}
	var out []NodeStatus
	for _, n := range nodes {
		idx[n.Addr()] = len(out)
		out = append(out, NodeStatus{Node: n})
	}
	for _, s := range sizes {
		i, ok := idx[Node{Name: s.NodeName, Port: s.NodePort}.Addr()]
		if !ok {
			continue
		}
		switch s.Type {
		case "reference":
			out[i].ReferenceBytes += s.Bytes
			continue
		case "local":
			continue // a coordinator table in Citus's metadata: not balanced, not a tenant's
		}
		out[i].Shards++
		out[i].Bytes += s.Bytes
	}
	kept := out[:0]
	for _, ns := range out {
		if ns.Shards > 0 || (ns.Node.Active && ns.Node.ShouldHaveShards && !ns.Node.IsCoordinator()) {
			kept = append(kept, ns)
		}
	}
	return kept
}

// skew is the largest node's bytes over the mean (shard counts when no
// shard has bytes yet).
func skew(nodes []NodeStatus) (total int64, skew float64, basis string) {
	var shards int64
	for _, n := range nodes {
		total += n.Bytes
		shards += n.Shards
	}
	for i := range nodes {
		if total > 0 {
			nodes[i].ByteShare = float64(nodes[i].Bytes) / float64(total)
		}
	}
	load := func(n NodeStatus) int64 { return n.Bytes }
	basis, sum := "bytes", total
	if total == 0 {
		load, basis, sum = func(n NodeStatus) int64 { return n.Shards }, "shards", shards
	}
	if len(nodes) == 0 || sum == 0 {
		return total, 0, basis
	}
	var largest int64
	for _, n := range nodes {
		largest = max(largest, load(n))
	}
	mean := float64(sum) / float64(len(nodes))
	return total, float64(largest) / mean, basis
}

// addTenants finds the largest tenants of every colocation group of
// hash-distributed tables.
func addTenants(ctx context.Context, q Querier, st *ClusterStatus, nodes []Node, sizes []shardSize, top int) error {
	tables, err := Tables(ctx, q)
	if err != nil {
		return err
	}
	groups := map[int32][]Table{}
	var ids []int32
	for _, t := range tables {
		if !t.IsHashDistributed() {
			continue
		}
		if _, ok := groups[t.ColocationID]; !ok {
			ids = append(ids, t.ColocationID)
		}
		groups[t.ColocationID] = append(groups[t.ColocationID], t)
	}
	for _, id := range ids {
		g, err := loadGroup(ctx, q, groups[id], sizes)
		if err != nil {
			return err
		}
		tenants, err := g.largestTenants(ctx, q, top)
		if err != nil {
			return err
		}
		st.Tenants = append(st.Tenants, tenants...)
	}
	sort.SliceStable(st.Tenants, func(i, j int) bool { return st.Tenants[i].Rows > st.Tenants[j].Rows })
	if len(st.Tenants) > top {
		st.Tenants = st.Tenants[:top]
	}
	return addTenantStats(ctx, q, st)
}
