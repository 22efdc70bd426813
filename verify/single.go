package verify

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5"

	"github.com/tenantmover/tenantmover/internal/citus"
	"github.com/tenantmover/tenantmover/internal/db"
)

// leadsIndex reports whether a btree index of the table (and so of each of
// its shards) starts with the distribution column.
func leadsIndex(ctx context.Context, dst side, t citus.Table) (bool, error) {
	if !t.IsHashDistributed() {
		return false, nil
	}
	var ok bool
	err := dst.pool.QueryRow(ctx, `
		SELECT EXISTS (
			SELECT FROM pg_catalog.pg_index i
			JOIN pg_catalog.pg_class ic ON ic.oid = i.indexrelid
			JOIN pg_catalog.pg_am am ON am.oid = ic.relam AND am.amname = 'btree'
			JOIN pg_catalog.pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = i.indkey[0]
			WHERE i.indrelid = $1::text::regclass AND a.attname = $2 AND i.indpred IS NULL AND i.indisvalid)`,
		t.Name.Quoted(), t.DistColumn).Scan(&ok)
	if err != nil {
		return false, fmt.Errorf("target: looking for an index on %s.%s: %w", t.Name, db.QuoteIfNeeded(t.DistColumn), err)
	}
	return ok, nil
}

// checkSinglePlacement checks a shard with one placement, where there is no
// replica to compare with and only misplaced rows can be wrong: it lists
// the shard's distinct tenants by walking the index (one probe per tenant,
// a "loose index scan"; ORDER BY ... LIMIT 1 rather than min(), which uuid
// and other orderable types lack), hashes each, and reads rows only of the tenants
// that do not belong. The per-tenant counts on the coordinator already
// read every row once.
func (v *verifier) checkSinglePlacement(ctx context.Context, nodes *nodePools, t shardTask, rel relation) ([]Difference, error) {
	on, err := nodes.side(ctx, t.shard.Placements[0].Node)
	if err != nil {
		return nil, err
	}
	args := []any{t.shard.MinValue, t.shard.MaxValue}
	filter := ""
	if len(v.cfg.Tenants) > 0 {
		filter = fmt.Sprintf(" AND %s = ANY($3::text[]::%s[])", rel.tenant, rel.keyType)
		args = append(args, v.cfg.Tenants)
	}
	sql := fmt.Sprintf(`WITH RECURSIVE d(v) AS (
			SELECT (SELECT %[1]s FROM %[2]s WHERE %[1]s IS NOT NULL%[3]s ORDER BY %[1]s LIMIT 1)
			UNION ALL
			SELECT (SELECT %[1]s FROM %[2]s WHERE %[1]s > d.v%[3]s ORDER BY %[1]s LIMIT 1) FROM d WHERE d.v IS NOT NULL)
		SELECT v::text, pg_catalog.worker_hash(v) FROM d
		WHERE v IS NOT NULL AND pg_catalog.worker_hash(v) NOT BETWEEN $1 AND $2`, rel.tenant, rel.from, filter)
	type stray struct {
		key  sortKey
		hash int32
	}
	var strays []stray
	err = on.each(ctx, sql, args, func(r pgx.Rows) error {
		var s stray
		err := r.Scan(&s.key.text, &s.hash)
		strays = append(strays, s)
		return err
	})
	if err != nil {
		return nil, err
	}
	var diffs []tenantDiff
	for _, s := range strays {
		var n int64
		if err := on.pool.QueryRow(ctx, "SELECT count(*) FROM "+rel.from+" WHERE "+rel.tenantIs(false, 1), s.key.text).Scan(&n); err != nil {
			return nil, fmt.Errorf("%s: %w", on.name, err)
		}
		diffs = append(diffs, misplaced(t, s.key, n, s.hash))
	}
	return v.sampleShard(ctx, t, rel, []placementReader{{p: t.shard.Placements[0], on: on}}, diffs)
}
