package citus

import (
	"context"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"

	"github.com/tenantmover/tenantmover/internal/db"
)

// RebalanceOptions are the arguments tenantmover passes to Citus's
// rebalancer.
type RebalanceOptions struct {
	// Strategy is a pg_dist_rebalance_strategy name (by_shard_count,
	// by_disk_size, ...); empty uses the cluster's default strategy.
	Strategy string
	// TransferMode is how shards move; empty means auto.
	TransferMode TransferMode
}

// Move is one shard placement move of a rebalance plan. Colocated shards
// move together, so a plan has one Move per table of the group.
type Move struct {
	Table   db.QualifiedName `json:"table"`
	ShardID int64            `json:"shard_id"`
	Bytes   int64            `json:"bytes"`
	Source  string           `json:"source"` // host:port
	Target  string           `json:"target"`
}

// NodeLoad is a node's distributed shards and bytes.
type NodeLoad struct {
	Node   string `json:"node"` // host:port
	Shards int64  `json:"shards"`
	Bytes  int64  `json:"bytes"`
}

// Plan is what the rebalancer would do now and the load it predicts.
type Plan struct {
	Strategy string     `json:"strategy"` // empty: the default strategy
	Moves    []Move     `json:"moves"`
	Bytes    int64      `json:"bytes"` // total bytes moved
	Before   []NodeLoad `json:"before"`
	After    []NodeLoad `json:"after"`
}

// PlanCall is the call RebalancePlan makes.
func PlanCall(strategy string) Call {
	return Call{SQL: `SELECT pg_catalog.get_rebalance_table_shards_plan(rebalance_strategy => $1::name)`, Args: []any{nullable(strategy)}}
}

// RebalancePlan asks Citus which moves a rebalance would make now
// (get_rebalance_table_shards_plan), and predicts each node's shards and
// bytes after them.
func RebalancePlan(ctx context.Context, q Querier, strategy string) (*Plan, error) {
	if _, err := RequireCoordinator(ctx, q); err != nil {
		return nil, err
	}
	rows, err := q.Query(ctx, `
		SELECT n.nspname, c.relname, p.shardid, coalesce(p.shard_size, 0),
		       p.sourcename, p.sourceport, p.targetname, p.targetport
		FROM pg_catalog.get_rebalance_table_shards_plan(rebalance_strategy => $1::name) p
		JOIN pg_catalog.pg_class c ON c.oid = p.table_name
		JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace`, nullable(strategy))
	if err != nil {
		return nil, fmt.Errorf("asking Citus for a rebalance plan: %w", err)
	}
	moves, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (Move, error) {
		var m Move
		var sn, tn string
		var sp, tp int
		err := r.Scan(&m.Table.Schema, &m.Table.Name, &m.ShardID, &m.Bytes, &sn, &sp, &tn, &tp)
		m.Source, m.Target = Node{Name: sn, Port: sp}.Addr(), Node{Name: tn, Port: tp}.Addr()
		return m, err
	})
	if err != nil {
		return nil, fmt.Errorf("asking Citus for a rebalance plan: %w", err)
	}
	nodes, err := Nodes(ctx, q)
	if err != nil {
		return nil, err
	}
	sizes, err := shardSizes(ctx, q)
	if err != nil {
		return nil, err
	}
	// The plan's shard_size is the legacy pg_dist_shard.shardlength (0
	// for hash-distributed shards with some strategies): use real sizes.
	bytes := map[int64]int64{}
	for _, s := range sizes {
		bytes[s.ShardID] = max(bytes[s.ShardID], s.Bytes)
	}
	for i := range moves {
		if b, ok := bytes[moves[i].ShardID]; ok {
			moves[i].Bytes = b
		}
	}
	var before []NodeLoad
	for _, n := range nodeLoads(nodes, sizes) {
		before = append(before, NodeLoad{Node: n.Node.Addr(), Shards: n.Shards, Bytes: n.Bytes})
	}
	p := &Plan{Strategy: strategy, Moves: moves, Before: before}
	p.After = predict(before, moves)
	for _, m := range moves {
		p.Bytes += m.Bytes
	}
	return p, nil
}

// predict applies moves to a copy of the load.
func predict(before []NodeLoad, moves []Move) []NodeLoad {
	after := append([]NodeLoad(nil), before...)
	idx := map[string]int{}
	for i, n := range after {
		idx[n.Node] = i
	}
	for _, m := range moves {
		for _, side := range []struct {
			node string
			sign int64
		}{{m.Source, -1}, {m.Target, 1}} {
			i, ok := idx[side.node]
			if !ok {
				idx[side.node] = len(after)
				i = len(after)
				after = append(after, NodeLoad{Node: side.node})
			}
			after[i].Shards += side.sign
			after[i].Bytes += side.sign * m.Bytes
		}
	}
	return after
}

// StartCall is the call StartRebalance makes.
func StartCall(o RebalanceOptions) Call {
	mode := o.TransferMode
	if mode == "" {
		mode = TransferAuto
	}
	return Call{
		SQL:  `SELECT pg_catalog.citus_rebalance_start(rebalance_strategy => $1::name, shard_transfer_mode => $2::citus.shard_transfer_mode)`,
		Args: []any{nullable(o.Strategy), string(mode)},
	}
}

// ErrNothingToMove says the cluster is already balanced for the strategy.
var ErrNothingToMove = errors.New("the cluster is balanced: Citus has no shard moves to make")

// AlreadyRunningError says a rebalance job is already running.
type AlreadyRunningError struct{ JobID int64 }

func (e *AlreadyRunningError) Error() string {
	return fmt.Sprintf("rebalance job %d is already running: follow it with `rebalance start --wait`, or stop it with `rebalance stop`", e.JobID)
}

// StartRebalance checks the transfer preconditions for the tables that
// would move, then schedules a background rebalance (citus_rebalance_start)
// and returns its job id. It returns ErrNothingToMove when Citus schedules
// nothing, and *AlreadyRunningError when a rebalance job is running.
func StartRebalance(ctx context.Context, q Querier, o RebalanceOptions) (int64, error) {
	if _, err := RequireCoordinator(ctx, q); err != nil {
		return 0, err
	}
	if job, err := RunningRebalance(ctx, q); err != nil {
		return 0, err
	} else if job != 0 {
		return 0, &AlreadyRunningError{JobID: job}
	}
	if o.TransferMode.Logical() {
		plan, err := RebalancePlan(ctx, q, o.Strategy)
		if err != nil {
			return 0, err
		}
		if err := CheckPlanTransfer(ctx, q, o.TransferMode, plan); err != nil {
			return 0, err
		}
	}
	var id *int64
	call := StartCall(o)
	if err := q.QueryRow(ctx, call.SQL, call.Args...).Scan(&id); err != nil {
		return 0, fmt.Errorf("%s: %w", call, err)
	}
	if id == nil {
		return 0, ErrNothingToMove
	}
	return *id, nil
}

// CheckPlanTransfer runs CheckTransfer for the colocation groups a
// rebalance plan moves.
func CheckPlanTransfer(ctx context.Context, q Querier, mode TransferMode, plan *Plan) error {
	if mode == "" {
		mode = TransferAuto
	}
	if !mode.Logical() || len(plan.Moves) == 0 {
		return nil
	}
	tables, err := Tables(ctx, q)
	if err != nil {
		return err
	}
	moving := map[db.QualifiedName]bool{}
	for _, m := range plan.Moves {
		moving[m.Table] = true
	}
	groups := map[int32]bool{}
	for _, t := range tables {
		if moving[t.Name] {
			groups[t.ColocationID] = true
		}
	}
	var moved []Table
	for _, t := range tables {
		if groups[t.ColocationID] {
			moved = append(moved, t)
		}
	}
	return CheckTransfer(ctx, q, mode, moved)
}

// RunningRebalance returns the id of the rebalance job that has not
// finished yet, or 0.
func RunningRebalance(ctx context.Context, q Querier) (int64, error) {
	var id int64
	err := q.QueryRow(ctx, `
		SELECT job_id FROM pg_catalog.pg_dist_background_job
		WHERE job_type = 'rebalance' AND state NOT IN ('finished', 'cancelled', 'failed')
		ORDER BY job_id DESC LIMIT 1`).Scan(&id)
	if errors.Is(err, pgx.ErrNoRows) {
		return 0, nil
	}
	if err != nil {
		return 0, fmt.Errorf("looking for a running rebalance job: %w", err)
	}
	return id, nil
}

// StopCall is the call StopRebalance makes.
func StopCall() Call { return Call{SQL: `SELECT pg_catalog.citus_rebalance_stop()`} }

// ErrNoRebalance says there is no rebalance job to stop.
var ErrNoRebalance = errors.New("no rebalance job is running")

// StopRebalance cancels the running rebalance job (citus_rebalance_stop)
// and returns its id. Moves already done stay done; the move in flight is
// cancelled and cleaned up by Citus.
func StopRebalance(ctx context.Context, q Querier) (int64, error) {
	if _, err := RequireCoordinator(ctx, q); err != nil {
		return 0, err
	}
	id, err := RunningRebalance(ctx, q)
	if err != nil {
		return 0, err
	}
	if id == 0 {
		return 0, ErrNoRebalance
	}
	if err := StopCall().exec(ctx, q); err != nil {
		return 0, err
	}
	return id, nil
}
