package citus

import (
	"context"
	"fmt"
	"strconv"
	"strings"

	"github.com/tenantmover/tenantmover/internal/db"
)

// IsolateOptions say which tenant to isolate and where its shard goes.
type IsolateOptions struct {
	// Table is any hash-distributed table of the tenant's colocation group
	// (usually the tenant table); every colocated table is split with it.
	Table db.QualifiedName
	// Tenant is the distribution column value, as text.
	Tenant string
	// To names the node the tenant's new shard moves to: host:port, a node
	// name that is unique in the cluster, or a node id. Empty picks the
	// least loaded worker after the split.
	To string
	// Stay leaves the new shard where the split put it (on the tenant's
	// current node).
	Stay bool
	// TransferMode is how the split and the move copy data; empty is auto.
	TransferMode TransferMode
}

// IsolatePlan is what Isolate will do, known before anything changes.
type IsolatePlan struct {
	Table  Table  `json:"table"`
	Tenant string `json:"tenant"`
	Hash   int32  `json:"hash"`
	// ShardID is the tenant's shard now.
	ShardID int64 `json:"shard_id"`
	// AlreadyIsolated says the tenant has a shard of its own already, so
	// only the move remains.
	AlreadyIsolated bool `json:"already_isolated"`
	// Source is the node holding the tenant's shard (the split keeps the
	// new shard there).
	Source Node `json:"source"`
	// Target is where the shard moves; nil when it stays or is to be the
	// least loaded worker, chosen after the split (PickTarget).
	Target *Node `json:"target,omitempty"`
	Stay   bool  `json:"stay"`
	Mode   TransferMode
	// Calls are the Citus calls, for --dry-run; a move to a node chosen
	// after the split shows placeholders.
	Calls []Call `json:"-"`
}

// IsolateResult is what Isolate did.
type IsolateResult struct {
	Plan *IsolatePlan `json:"plan"`
	// ShardID is the tenant's own shard of Plan.Table.
	ShardID int64 `json:"shard_id"`
	// Node is where that shard is now.
	Node  Node   `json:"node"`
	Moved bool   `json:"moved"`
	Calls []Call `json:"-"` // the calls made
}

// PlanIsolate works out the isolation of a tenant without changing
// anything: the tenant's shard and node, the target node, the calls.
func PlanIsolate(ctx context.Context, q Querier, o IsolateOptions) (*IsolatePlan, error) {
	if _, err := RequireCoordinator(ctx, q); err != nil {
		return nil, err
	}
	p := &IsolatePlan{Tenant: o.Tenant, Stay: o.Stay, Mode: o.TransferMode}
	if p.Mode == "" {
		p.Mode = TransferAuto
	}
	var err error
	if p.Table, err = TableInfo(ctx, q, o.Table); err != nil {
		return nil, err
	}
	if !p.Table.IsHashDistributed() {
		return nil, fmt.Errorf("cannot isolate a tenant of %s: it is a %s table, not hash-distributed", p.Table.Name, p.Table.Type)
	}
	if err := checkTenantValue(ctx, q, p.Table, o.Tenant); err != nil {
		return nil, err
	}
	if p.Hash, err = HashValue(ctx, q, p.Table, o.Tenant); err != nil {
		return nil, err
	}
	shard, err := shardOfHash(ctx, q, p.Table.Name, p.Hash)
	if err != nil {
		return nil, err
	}
	p.ShardID, p.AlreadyIsolated, p.Source = shard.ShardID, shard.MinValue == shard.MaxValue, shard.Placements[0].Node
	if len(shard.Placements) > 1 {
		return nil, fmt.Errorf("cannot isolate tenant %s of %s: shard %d has %d placements (shard replication); Citus isolates only unreplicated shards", o.Tenant, p.Table.Name, shard.ShardID, len(shard.Placements))
	}
	if !o.Stay && o.To != "" {
		n, err := FindNode(ctx, q, o.To)
		if err != nil {
			return nil, err
		}
		p.Target = &n
	}
	p.Calls = p.calls()
	return p, nil
}

func shardOfHash(ctx context.Context, q Querier, table db.QualifiedName, h int32) (Shard, error) {
	shards, err := Shards(ctx, q, table)
	if err != nil {
		return Shard{}, err
	}
	for _, s := range shards {
		if s.Contains(h) && len(s.Placements) > 0 {
			return s, nil
		}
	}
	return Shard{}, fmt.Errorf("no active shard of %s covers hash %d", table, h)
}

// IsolateCall is Citus's tenant isolation call.
func IsolateCall(table db.QualifiedName, tenant string, mode TransferMode) Call {
	return Call{
		SQL:  `SELECT pg_catalog.isolate_tenant_to_new_shard($1::text::regclass, $2::text, 'CASCADE', shard_transfer_mode => $3::citus.shard_transfer_mode)`,
		Args: []any{table.String(), tenant, string(mode)}, // String is valid regclass input, and readable
	}
}

// MoveCall is Citus's shard move call; the shard's colocated shards move
// with it.
func MoveCall(shardID any, from, to Node, mode TransferMode) Call {
	return Call{
		SQL:  `SELECT pg_catalog.citus_move_shard_placement($1::bigint, $2::text, $3::int, $4::text, $5::int, shard_transfer_mode => $6::citus.shard_transfer_mode)`,
		Args: []any{shardID, from.Name, from.Port, to.Name, to.Port, string(mode)},
	}
}

func (p *IsolatePlan) calls() []Call {
	var calls []Call
	shard := any(p.ShardID)
	if !p.AlreadyIsolated {
		calls = append(calls, IsolateCall(p.Table.Name, p.Tenant, p.Mode))
		shard = placeholder("<new shard id>")
	}
	switch {
	case p.Stay:
	case p.Target != nil && p.Target.ID == p.Source.ID:
	case p.Target != nil:
		calls = append(calls, MoveCall(shard, p.Source, *p.Target, p.Mode))
	default:
		c := MoveCall(shard, p.Source, Node{Name: "<least loaded>", Port: 0}, p.Mode)
		c.Args[3], c.Args[4] = placeholder("<least loaded worker>"), placeholder("<its port>")
		c.Note = "the least loaded worker is chosen after the split, unless it is the tenant's own node"
		calls = append(calls, c)
	}
	return calls
}

// Isolate gives a tenant a shard of its own (isolate_tenant_to_new_shard
// with CASCADE, which splits every colocated table) and moves that shard
// group to the target node (citus_move_shard_placement). It checks the
// transfer preconditions first. progress (may be nil) hears each step.
func Isolate(ctx context.Context, q Querier, o IsolateOptions, progress func(step string)) (*IsolateResult, error) {
	say := func(format string, args ...any) {
		if progress != nil {
			progress(fmt.Sprintf(format, args...))
		}
	}
	p, err := PlanIsolate(ctx, q, o)
	if err != nil {
		return nil, err
	}
	group, err := ColocatedTables(ctx, q, p.Table.ColocationID)
	if err != nil {
		return nil, err
	}
	if err := CheckTransfer(ctx, q, p.Mode, group); err != nil {
		return nil, err
	}
	res := &IsolateResult{Plan: p, ShardID: p.ShardID, Node: p.Source}
	if !p.AlreadyIsolated {
		say("isolating tenant %s of %s (shard %d on %s)", p.Tenant, p.Table.Name, p.ShardID, p.Source.Addr())
		call := IsolateCall(p.Table.Name, p.Tenant, p.Mode)
		if err := q.QueryRow(ctx, call.SQL, call.Args...).Scan(&res.ShardID); err != nil {
			return res, fmt.Errorf("%s: %w", call, err)
		}
		res.Calls = append(res.Calls, call)
	}
	if p.Stay {
		return res, nil
	}
	target, err := p.target(ctx, q, res.ShardID)
	if err != nil {
		return res, err
	}
	if target.ID == p.Source.ID {
		why := "already the least loaded node"
		if p.Target != nil {
			why = "the node asked for"
		}
		say("shard %d stays on %s, %s", res.ShardID, p.Source.Addr(), why)
		return res, nil
	}
	say("moving shard %d and its colocated shards from %s to %s", res.ShardID, p.Source.Addr(), target.Addr())
	call := MoveCall(res.ShardID, p.Source, target, p.Mode)
	if err := call.exec(ctx, q); err != nil {
		return res, err
	}
	res.Calls = append(res.Calls, call)
	res.Node, res.Moved = target, true
	return res, nil
}

// target is the named node, or the least loaded worker not counting the
// tenant's new shard group.
func (p *IsolatePlan) target(ctx context.Context, q Querier, shardID int64) (Node, error) {
	if p.Target != nil {
		return *p.Target, nil
	}
	return PickTarget(ctx, q, shardID, p.Source)
}

// PickTarget returns the worker with the fewest distributed bytes that may
// hold shards, counting the source node without the shard group of
// shardID (which is what would move). It returns source when that is the
// least loaded.
func PickTarget(ctx context.Context, q Querier, shardID int64, source Node) (Node, error) {
	nodes, err := Nodes(ctx, q)
	if err != nil {
		return Node{}, err
	}
	sizes, err := shardSizes(ctx, q)
	if err != nil {
		return Node{}, err
	}
	var groupBytes int64
	if err := q.QueryRow(ctx, `
		SELECT coalesce(sum(cs.shard_size), 0)::bigint
		FROM pg_catalog.citus_shards cs
		JOIN pg_catalog.pg_dist_shard s ON s.shardid = cs.shardid
		JOIN pg_catalog.pg_dist_shard me ON me.shardid = $1
		JOIN pg_catalog.pg_dist_partition p ON p.logicalrelid = s.logicalrelid
		JOIN pg_catalog.pg_dist_partition mp ON mp.logicalrelid = me.logicalrelid
		WHERE p.colocationid = mp.colocationid
		  AND s.shardminvalue = me.shardminvalue AND s.shardmaxvalue = me.shardmaxvalue`, shardID).Scan(&groupBytes); err != nil {
		return Node{}, fmt.Errorf("measuring the shard group of shard %d: %w", shardID, err)
	}
	best, bestBytes := source, int64(-1)
	for _, ns := range nodeLoads(nodes, sizes) {
		if !ns.Node.Active || !ns.Node.ShouldHaveShards {
			continue
		}
		load := ns.Bytes
		if ns.Node.ID == source.ID {
			load -= groupBytes
		}
		if bestBytes < 0 || load < bestBytes || (load == bestBytes && ns.Node.ID == source.ID) {
			best, bestBytes = ns.Node, load
		}
	}
	return best, nil
}

// FindNode resolves a node given as host:port, a unique node name, or a
// node id.
func FindNode(ctx context.Context, q Querier, spec string) (Node, error) {
	nodes, err := Nodes(ctx, q)
	if err != nil {
		return Node{}, err
	}
	var byName []Node
	for _, n := range nodes {
		if n.Addr() == spec || fmt.Sprintf("%s:%d", n.Name, n.Port) == spec {
			return n, nil
		}
		if id, err := strconv.Atoi(spec); err == nil && int32(id) == n.ID {
			return n, nil
		}
		if n.Name == spec {
			byName = append(byName, n)
		}
	}
	if len(byName) == 1 {
		return byName[0], nil
	}
	known := make([]string, len(nodes))
	for i, n := range nodes {
		known[i] = fmt.Sprintf("%s (id %d)", n.Addr(), n.ID)
	}
	if len(byName) > 1 {
		return Node{}, fmt.Errorf("node %q is ambiguous: give host:port, one of %s", spec, strings.Join(known, ", "))
	}
	return Node{}, fmt.Errorf("no node %q in the cluster: nodes are %s", spec, strings.Join(known, ", "))
}

// checkTenantValue makes sure tenant is a value of the distribution
// column's type before anything is split.
func checkTenantValue(ctx context.Context, q Querier, t Table, tenant string) error {
	var typ string
	if err := q.QueryRow(ctx, `SELECT format_type(atttypid, atttypmod) FROM pg_catalog.pg_attribute WHERE attrelid = $1::text::regclass AND attname = $2`,
		t.Name.Quoted(), t.DistColumn).Scan(&typ); err != nil {
		return fmt.Errorf("reading the type of %s.%s: %w", t.Name, db.QuoteIfNeeded(t.DistColumn), err)
	}
	bad, err := db.InvalidValues(ctx, q, typ, []string{tenant}, 1)
	if err != nil {
		return err
	}
	if len(bad) > 0 {
		return fmt.Errorf("--tenant %q is not a valid %s (the type of %s.%s); nothing was done", tenant, typ, t.Name, db.QuoteIfNeeded(t.DistColumn))
	}
	return nil
}
