package verify

import (
	"context"
	"errors"
	"fmt"

	"github.com/jackc/pgerrcode"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/tenantmover/tenantmover/internal/citus"
	"github.com/tenantmover/tenantmover/internal/db"
	"github.com/tenantmover/tenantmover/internal/plan"
)

// shardTask is one shard to check.
type shardTask struct {
	s     *spec
	table citus.Table
	shard citus.Shard
	// indexed: a btree index leads with the distribution column, so a
	// shard's distinct tenants can be listed without reading its rows.
	indexed bool
}

// maxShardRetries bounds how often a shard that keeps moving is re-read.
const maxShardRetries = 5

// checkShards reads the shard map of every compared table and checks each
// shard's placements directly on their nodes (nothing on a plain
// PostgreSQL target).
func (v *verifier) checkShards(ctx context.Context) error {
	if !v.dst.citus {
		return nil
	}
	tasks, err := v.shardTasks(ctx)
	if err != nil {
		return err
	}
	tr := newTracker(v.emit, StepShards, int64(len(tasks)))
	return fanOut(ctx, v.win, v.cfg.Workers, tasks, func(ctx context.Context, t shardTask) error {
		if err := v.checkShard(ctx, v.nodes, t, 0); err != nil {
			return fmt.Errorf("checking shard %d of %s: %w", t.shard.ShardID, t.s.name, err)
		}
		tr.add(1)
		return nil
	})
}

// shardTasks lists every shard of the compared tables. A table the plan
// distributes (or makes a reference table) that is a plain local table on
// the Citus target is a difference: queries would not find its tenants.
func (v *verifier) shardTasks(ctx context.Context) ([]shardTask, error) {
	tables, err := citus.Tables(ctx, v.dst.pool)
	if err != nil {
		return nil, err
	}
	byName := map[string]citus.Table{}
	for _, t := range tables {
		byName[t.Name.String()] = t
	}
	var tasks []shardTask
	for _, s := range v.specs {
		if s.missing != "" {
			continue
		}
		ct, ok := byName[s.name]
		if !ok || (s.t.Kind.Distributed() && !ct.IsHashDistributed()) || (s.t.Kind == plan.Reference && ct.Type != "reference") {
			v.record(s.name, nil, []Difference{{Kind: KindPlacement, Table: s.name,
				Detail: fmt.Sprintf("the plan makes it a %s table, but on the target it is %s", s.t.Kind, citusKind(ct, ok))}})
			continue
		}
		shards, err := citus.Shards(ctx, v.dst.pool, ct.Name)
		if err != nil {
			return nil, err
		}
		indexed, err := leadsIndex(ctx, v.dst, ct)
		if err != nil {
			return nil, err
		}
		for _, sh := range shards {
			tasks = append(tasks, shardTask{s: s, table: ct, shard: sh, indexed: indexed})
		}
	}
	return tasks, nil
}

func citusKind(t citus.Table, ok bool) string {
	switch {
	case !ok:
		return "not a Citus table"
	case t.IsHashDistributed():
		return "distributed by " + db.QuoteIfNeeded(t.DistColumn)
	}
	return "a Citus " + t.Type + " table"
}

// checkShard checks one shard, and when a placement's table is gone (the
// shard moved, or was split, while verify ran) re-reads the shard map and
// checks the shard where it is now (or the shards that replaced it).
func (v *verifier) checkShard(ctx context.Context, nodes *nodePools, t shardTask, attempt int) error {
	diffs, err := v.checkPlacements(ctx, nodes, t)
	if err == nil {
		v.countShard(t.s.name, len(t.shard.Placements), diffs)
		return nil
	}
	var pgErr *pgconn.PgError
	if !errors.As(err, &pgErr) || pgErr.Code != pgerrcode.UndefinedTable || attempt >= maxShardRetries {
		return err
	}
	shards, rerr := citus.Shards(ctx, v.dst.pool, t.table.Name)
	if rerr != nil {
		return fmt.Errorf("%w (re-reading the shard map after: %v)", err, rerr)
	}
	for _, sh := range shards {
		if sh.ShardID == t.shard.ShardID || (t.shard.HasRange && sh.HasRange && sh.MinValue <= t.shard.MaxValue && t.shard.MinValue <= sh.MaxValue && sh.ShardID > t.shard.ShardID) {
			if err := v.checkShard(ctx, nodes, shardTask{s: t.s, table: t.table, shard: sh, indexed: t.indexed}, attempt+1); err != nil {
				return err
			}
		}
	}
	return nil
}

func (v *verifier) countShard(table string, placements int, diffs []Difference) {
	v.mu.Lock()
	v.shards++
	v.placements += placements
	v.mu.Unlock()
	v.record(table, nil, diffs)
}

// placementReader is one placement being read.
type placementReader struct {
	p  citus.Placement
	on side
}

// checkPlacements aggregates per tenant on every placement of the shard at
// once and merges the streams: a tenant whose hash is outside the shard's
// range is misplaced; a tenant whose count or checksum differs between
// placements means the replicas diverged.
func (v *verifier) checkPlacements(ctx context.Context, nodes *nodePools, t shardTask) ([]Difference, error) {
	rel, err := v.shardRelation(t)
	if err != nil {
		return nil, err
	}
	hashed := rel.tenant != ""
	if hashed && t.indexed && len(t.shard.Placements) == 1 {
		return v.checkSinglePlacement(ctx, nodes, t, rel)
	}
	filter := hashed && len(v.cfg.Tenants) > 0
	var args []any
	if filter {
		args = []any{v.cfg.Tenants}
	}
	readers := make([]placementReader, len(t.shard.Placements))
	queries := make([]query, len(readers))
	for i, p := range t.shard.Placements {
		on, err := nodes.side(ctx, p.Node)
		if err != nil {
			return nil, err
		}
		readers[i] = placementReader{p: p, on: on}
		sql, _ := rel.aggregateSQL(v.cfg.Checksum, filter, hashed) // a shard's relation has no folds
		queries[i] = query{on: on, sql: sql, args: args}
	}
	cursors, err := openAll(ctx, queries)
	if err != nil {
		return nil, err
	}
	defer closeAll(cursors)
	streams := make([]reader[group], len(readers))
	for i, c := range cursors {
		streams[i] = groupReader(readers[i].on.name, c, v.cfg.Checksum, hashed, 0)
	}
	var diffs []tenantDiff
	err = mergeSorted(streams, func(g group) sortKey { return g.key }, func(at []*group) (bool, error) {
		diffs = append(diffs, v.placementDiffs(t, readers, at, hashed)...)
		return false, nil
	})
	closeAll(cursors)
	if err != nil {
		return nil, err
	}
	return v.sampleShard(ctx, t, rel, readers, diffs)
}

// shardRelation reads the shard's table on a node: the tenant is the
// distribution column (none for reference tables, compared whole).
func (v *verifier) shardRelation(t shardTask) (relation, error) {
	rel, err := buildRelation(v.p, t.s.t, v.dstCols, t.shard.Name.Quoted(), t.s.common)
	if err != nil {
		return rel, err
	}
	rel.from = t.shard.Name.Quoted() + " AS t0"
	rel.hash = t.s.dst.hash
	rel.tenant = ""
	if t.table.IsHashDistributed() {
		rel.tenant = "t0." + db.Ident(t.table.DistColumn)
	}
	return rel, nil
}

// placementDiffs compares one tenant's aggregates across the placements.
func (v *verifier) placementDiffs(t shardTask, readers []placementReader, at []*group, hashed bool) []tenantDiff {
	var out []tenantDiff
	var first *group
	for _, g := range at {
		if g != nil {
			first = g
			break
		}
	}
	tenant := first.key.String()
	if !hashed {
		tenant = ""
	}
	if hashed && !t.shard.Contains(first.hash) {
		out = append(out, misplaced(t, first.key, first.rows, first.hash))
	}
	base := orZero(at[0], first)
	for i := 1; i < len(at); i++ {
		g := orZero(at[i], first)
		if g.rows == base.rows && (!v.cfg.Checksum || g.sum == base.sum) {
			continue
		}
		what := fmt.Sprintf("%d rows on %s, %d on %s", base.rows, readers[0].on.name, g.rows, readers[i].on.name)
		if g.rows == base.rows {
			what = fmt.Sprintf("same %d rows on %s and %s, different content", g.rows, readers[0].on.name, readers[i].on.name)
		}
		out = append(out, tenantDiff{key: first.key, Difference: Difference{Kind: KindPlacement, Table: t.s.name, Tenant: tenant,
			Shard: t.shard.ShardID, Source: base.rows, Target: g.rows,
			Detail: fmt.Sprintf("placements of shard %d disagree: %s", t.shard.ShardID, what)}})
		out[len(out)-1].placement = i
	}
	return out
}

// misplaced is the difference for rows of a tenant in a shard whose range
// does not hold the tenant's hash.
func misplaced(t shardTask, tenant sortKey, rows int64, hash int32) tenantDiff {
	return tenantDiff{key: tenant, Difference: Difference{Kind: KindMisplaced, Table: t.s.name, Tenant: tenant.String(),
		Shard: t.shard.ShardID, Target: rows,
		Detail: fmt.Sprintf("%d rows of tenant %s sit in shard %d (hash range %d..%d), but the tenant hashes to %d: queries for the tenant never see them",
			rows, tenant, t.shard.ShardID, t.shard.MinValue, t.shard.MaxValue, hash)}}
}

// sampleShard fills in sample keys: the misplaced rows themselves, and the
// rows that differ between two placements.
func (v *verifier) sampleShard(ctx context.Context, t shardTask, rel relation, readers []placementReader, diffs []tenantDiff) ([]Difference, error) {
	out := make([]Difference, len(diffs))
	for i, d := range diffs {
		if i < v.cfg.MaxSamples {
			var err error
			switch d.Kind {
			case KindMisplaced:
				d.Keys, err = v.misplacedKeys(ctx, readers, rel, d.key)
			case KindPlacement:
				var n narrowing
				n, err = narrow(ctx, readers[0].on, readers[d.placement].on, rel, rel, d.key, v.cfg.Checksum, v.cfg.MaxSamples)
				d.Keys = n.keys
			}
			if err != nil {
				return nil, err
			}
		}
		out[i] = d.Difference
	}
	return out, nil
}

// misplacedKeys lists keys of a tenant's rows in the shard, from the first
// placement that has them.
func (v *verifier) misplacedKeys(ctx context.Context, readers []placementReader, rel relation, tenant sortKey) ([]string, error) {
	var keys []string
	var args []any
	if !tenant.null {
		args = []any{tenant.text}
	}
	sql := fmt.Sprintf("SELECT (%s) COLLATE \"C\" AS k FROM %s WHERE %s ORDER BY k LIMIT %d", rel.key, rel.from, rel.tenantIs(tenant.null, 1), v.cfg.MaxSamples)
	for _, r := range readers {
		err := r.on.each(ctx, sql, args, func(row pgx.Rows) error {
			k, err := scanText(row)
			keys = append(keys, k)
			return err
		})
		if err != nil || len(keys) > 0 {
			return keys, err
		}
	}
	return keys, nil
}
