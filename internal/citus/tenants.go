package citus

import (
	"context"
	"fmt"
	"strconv"
	"strings"

	"github.com/jackc/pgx/v5"

	"github.com/tenantmover/tenantmover/internal/db"
)

// group is a colocation group with each table's shards, and rows and bytes
// per shard: what turns a tenant's row counts into a byte estimate.
type group struct {
	id          int32
	root        *groupTable
	tables      []*groupTable
	rows, bytes int64
}

type groupTable struct {
	Table
	colType   string // the distribution column's type, as SQL
	shards    []Shard
	shardRows map[int64]int64
	shardSize map[int64]int64
}

func loadGroup(ctx context.Context, q Querier, tables []Table, sizes []shardSize) (*group, error) {
	g := &group{id: tables[0].ColocationID}
	for _, t := range tables {
		gt, err := loadGroupTable(ctx, q, t, sizes)
		if err != nil {
			return nil, err
		}
		g.tables = append(g.tables, gt)
		for id, n := range gt.shardRows {
			g.rows += n
			g.bytes += gt.shardSize[id]
		}
		isRoot, err := keyIsDistColumn(ctx, q, t)
		if err != nil {
			return nil, err
		}
		if isRoot && g.root == nil {
			g.root = gt
		}
	}
	if g.root == nil {
		g.root = g.tables[0]
	}
	return g, nil
}

func loadGroupTable(ctx context.Context, q Querier, t Table, sizes []shardSize) (*groupTable, error) {
	gt := &groupTable{Table: t, shardRows: map[int64]int64{}, shardSize: map[int64]int64{}}
	var err error
	if gt.colType, err = columnType(ctx, q, t.Name, t.DistColumn); err != nil {
		return nil, err
	}
	if gt.shards, err = Shards(ctx, q, t.Name); err != nil {
		return nil, err
	}
	for _, s := range sizes {
		if s.Table == t.Name {
			gt.shardSize[s.ShardID] = max(gt.shardSize[s.ShardID], s.Bytes)
		}
	}
	gt.shardRows, err = ShardRowCounts(ctx, q, t.Name)
	return gt, err
}

// ShardRowCounts counts the rows of every shard of a table, on the workers
// (run_command_on_shards), keyed by shard id.
func ShardRowCounts(ctx context.Context, q Querier, table db.QualifiedName) (map[int64]int64, error) {
	rows, err := q.Query(ctx, `
		SELECT shardid, success, result
		FROM pg_catalog.run_command_on_shards($1::text::regclass, 'SELECT count(*) FROM %s')`, table.Quoted())
	if err != nil {
		return nil, fmt.Errorf("counting rows per shard of %s: %w", table, err)
	}
	defer rows.Close()
	out := map[int64]int64{}
	for rows.Next() {
		var (
			id     int64
			ok     bool
			result string
		)
		if err := rows.Scan(&id, &ok, &result); err != nil {
			return nil, fmt.Errorf("counting rows per shard of %s: %w", table, err)
		}
		if !ok {
			return nil, fmt.Errorf("counting rows of shard %d of %s: %s", id, table, result)
		}
		if out[id], err = strconv.ParseInt(result, 10, 64); err != nil {
			return nil, fmt.Errorf("counting rows of shard %d of %s: %q: %w", id, table, result, err)
		}
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("counting rows per shard of %s: %w", table, err)
	}
	return out, nil
}

// keyIsDistColumn reports whether t's primary key is exactly its
// distribution column: then t is the tenant table of its group.
func keyIsDistColumn(ctx context.Context, q Querier, t Table) (bool, error) {
	var ok bool
	err := q.QueryRow(ctx, `
		SELECT EXISTS (
			SELECT FROM pg_catalog.pg_index i
			JOIN pg_catalog.pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = i.indkey[0]
			WHERE i.indrelid = $1::text::regclass AND i.indisprimary AND i.indnkeyatts = 1 AND a.attname = $2)`,
		t.Name.Quoted(), t.DistColumn).Scan(&ok)
	if err != nil {
		return false, fmt.Errorf("reading the primary key of %s: %w", t.Name, err)
	}
	return ok, nil
}

// largestTenants returns the top tenants of the group by rows over all its
// tables, with their shard, node and estimated bytes.
func (g *group) largestTenants(ctx context.Context, q Querier, top int) ([]TenantStat, error) {
	tenants, err := g.topByRows(ctx, q, top)
	if err != nil || len(tenants) == 0 {
		return nil, err
	}
	keys := make([]string, len(tenants))
	for i, t := range tenants {
		keys[i] = t.Tenant
	}
	hashes := map[string]int32{}
	for _, t := range g.tables {
		perTenant, err := t.tenantRows(ctx, q, keys, hashes)
		if err != nil {
			return nil, err
		}
		for i := range tenants {
			tenants[i].Bytes += t.estimateBytes(hashes[tenants[i].Tenant], perTenant[tenants[i].Tenant])
		}
	}
	for i := range tenants {
		g.finish(&tenants[i], hashes[tenants[i].Tenant])
	}
	return tenants, nil
}

// topByRows sums each tenant's rows over the group's tables on the
// cluster and keeps the top ones.
func (g *group) topByRows(ctx context.Context, q Querier, top int) ([]TenantStat, error) {
	parts := make([]string, len(g.tables))
	for i, t := range g.tables {
		col := db.Ident(t.DistColumn)
		parts[i] = fmt.Sprintf("SELECT %s::text AS tenant, count(*) AS n FROM %s GROUP BY %s", col, t.Name.Quoted(), col)
	}
	sql := `SELECT tenant, sum(n)::bigint FROM (` + strings.Join(parts, " UNION ALL ") + `) t
		WHERE tenant IS NOT NULL GROUP BY tenant ORDER BY 2 DESC, 1 LIMIT $1`
	rows, err := q.Query(ctx, sql, top)
	if err != nil {
		return nil, fmt.Errorf("counting rows per tenant of colocation group %d (%s): %w", g.id, g.root.Name, err)
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (TenantStat, error) {
		t := TenantStat{ColocationID: g.id, Table: g.root.Name}
		err := r.Scan(&t.Tenant, &t.Rows)
		return t, err
	})
	if err != nil {
		return nil, fmt.Errorf("counting rows per tenant of colocation group %d (%s): %w", g.id, g.root.Name, err)
	}
	return out, nil
}

// tenantRows counts the rows of the given tenants in one table (a query
// pruned to their shards) and records each tenant's hash.
func (t *groupTable) tenantRows(ctx context.Context, q Querier, keys []string, hashes map[string]int32) (map[string]int64, error) {
	col := db.Ident(t.DistColumn)
	// colType comes from format_type; the keys are a bind parameter.
	rows, err := q.Query(ctx, fmt.Sprintf(`
		SELECT %[1]s::text, pg_catalog.worker_hash(%[1]s), count(*) FROM %[2]s
		WHERE %[1]s = ANY($1::text[]::%[3]s[]) GROUP BY %[1]s`, col, t.Name.Quoted(), t.colType), keys)
	if err != nil {
		return nil, fmt.Errorf("counting rows of the largest tenants in %s: %w", t.Name, err)
	}
	defer rows.Close()
	out := map[string]int64{}
	for rows.Next() {
		var (
			key string
			h   int32
			n   int64
		)
		if err := rows.Scan(&key, &h, &n); err != nil {
			return nil, fmt.Errorf("counting rows of the largest tenants in %s: %w", t.Name, err)
		}
		out[key], hashes[key] = n, h
	}
	return out, rows.Err()
}

// shardFor returns the shard whose range holds hash h.
func (t *groupTable) shardFor(h int32) (Shard, bool) {
	for _, s := range t.shards {
		if s.Contains(h) {
			return s, true
		}
	}
	return Shard{}, false
}

// estimateBytes is the tenant's share of its shard's rows times the
// shard's bytes.
func (t *groupTable) estimateBytes(h int32, rows int64) int64 {
	s, ok := t.shardFor(h)
	if !ok || rows == 0 || t.shardRows[s.ShardID] == 0 {
		return 0
	}
	return int64(float64(t.shardSize[s.ShardID]) * float64(rows) / float64(t.shardRows[s.ShardID]))
}

// finish fills in shares, shard and node.
func (g *group) finish(t *TenantStat, h int32) {
	if g.rows > 0 {
		t.RowShare = float64(t.Rows) / float64(g.rows)
	}
	if g.bytes > 0 {
		t.ByteShare = float64(t.Bytes) / float64(g.bytes)
	}
	if s, ok := g.root.shardFor(h); ok {
		t.ShardID = s.ShardID
		t.Isolated = s.MinValue == s.MaxValue
		if len(s.Placements) > 0 {
			t.Node = s.Placements[0].Node
		}
	}
}

// addTenantStats attaches citus_stat_tenants figures when tracking is on.
func addTenantStats(ctx context.Context, q Querier, st *ClusterStatus) error {
	var track *string
	if err := q.QueryRow(ctx, `SELECT current_setting('citus.stat_tenants_track', true)`).Scan(&track); err != nil {
		return fmt.Errorf("reading citus.stat_tenants_track: %w", err)
	}
	if track == nil || *track == "" || *track == "none" {
		return nil
	}
	st.TenantStatsTracked = true
	rows, err := q.Query(ctx, `
		SELECT colocation_id, tenant_attribute,
		       sum(query_count_in_this_period + query_count_in_last_period)::bigint,
		       sum(cpu_usage_in_this_period + cpu_usage_in_last_period)
		FROM pg_catalog.citus_stat_tenants(true)
		GROUP BY 1, 2`)
	if err != nil {
		// Reading them needs pg_monitor; the rest of the status stands.
		st.Warnings = append(st.Warnings, fmt.Sprintf("citus_stat_tenants: %s", db.RedactError(err)))
		return nil
	}
	defer rows.Close()
	for rows.Next() {
		var (
			coloc   int32
			tenant  string
			queries int64
			cpu     float64
		)
		if err := rows.Scan(&coloc, &tenant, &queries, &cpu); err != nil {
			return fmt.Errorf("reading citus_stat_tenants: %w", err)
		}
		for i := range st.Tenants {
			if t := &st.Tenants[i]; t.ColocationID == coloc && t.Tenant == tenant {
				t.Queries, t.CPUSeconds = &queries, &cpu
			}
		}
	}
	return rows.Err()
}
