package citus

import (
	"context"
	"errors"
	"fmt"
	"net"
	"sort"
	"strconv"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/tenantmover/tenantmover/internal/db"
)

// Querier is what every function here needs: *pgxpool.Pool, *pgx.Conn and
// pgx.Tx all satisfy it. It must be connected to the coordinator.
type Querier interface {
	Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error)
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
}

// Node is a row of pg_dist_node: a coordinator or worker as the coordinator
// knows it. Name and Port are how the coordinator reaches the node.
type Node struct {
	ID               int32  `json:"node_id"`
	GroupID          int32  `json:"group_id"` // 0 is the coordinator's group
	Name             string `json:"name"`
	Port             int    `json:"port"`
	Role             string `json:"role"` // primary, secondary, ...
	Active           bool   `json:"active"`
	ShouldHaveShards bool   `json:"should_have_shards"`
}

// Addr is host:port, the form the CLI shows and --to accepts.
func (n Node) Addr() string { return net.JoinHostPort(n.Name, strconv.Itoa(n.Port)) }

// IsCoordinator reports whether the node is the coordinator.
func (n Node) IsCoordinator() bool { return n.GroupID == 0 }

// Nodes lists the primary nodes (coordinator first, then workers by node
// id). Secondaries are left out: placements live on primaries.
func Nodes(ctx context.Context, q Querier) ([]Node, error) {
	rows, err := q.Query(ctx, `
		SELECT nodeid, groupid, nodename, nodeport, noderole::text, isactive, shouldhaveshards
		FROM pg_catalog.pg_dist_node
		WHERE noderole = 'primary'
		ORDER BY groupid <> 0, nodeid`)
	if err != nil {
		return nil, fmt.Errorf("reading pg_dist_node: %w", err)
	}
	nodes, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (Node, error) {
		var n Node
		err := r.Scan(&n.ID, &n.GroupID, &n.Name, &n.Port, &n.Role, &n.Active, &n.ShouldHaveShards)
		return n, err
	})
	if err != nil {
		return nil, fmt.Errorf("reading pg_dist_node: %w", err)
	}
	return nodes, nil
}

// Table is a Citus table: a row of pg_dist_partition.
type Table struct {
	Name db.QualifiedName `json:"name"`
	// Type is "distributed", "reference" or another citus_table_type
	// ("local" for coordinator-local tables added to metadata, "schema" for
	// schema-based sharding).
	Type string `json:"type"`
	// Method is pg_dist_partition.partmethod: h (hash), n (none: reference
	// and local tables), r (range), a (append).
	Method string `json:"method"`
	// DistColumn is the distribution column; empty for reference tables.
	DistColumn   string `json:"distribution_column,omitempty"`
	ColocationID int32  `json:"colocation_id"`
}

// IsHashDistributed reports whether rows are placed by the hash of
// DistColumn, the only kind of table tenants live in.
func (t Table) IsHashDistributed() bool { return t.Method == "h" && t.DistColumn != "" }

const tablesSQL = `
	SELECT n.nspname, c.relname, p.partmethod::text,
	       coalesce(pg_catalog.column_to_column_name(p.logicalrelid, p.partkey), ''),
	       p.colocationid,
	       CASE WHEN p.partkey IS NOT NULL THEN 'distributed'
	            WHEN p.repmodel = 't' THEN 'reference'
	            WHEN p.colocationid = 0 THEN 'local'
	            ELSE 'distributed' END
	FROM pg_catalog.pg_dist_partition p
	JOIN pg_catalog.pg_class c ON c.oid = p.logicalrelid
	JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
	WHERE NOT EXISTS (SELECT FROM pg_catalog.pg_depend d
	                  WHERE d.classid = 'pg_catalog.pg_class'::regclass AND d.objid = p.logicalrelid
	                    AND d.refclassid = 'pg_catalog.pg_extension'::regclass AND d.deptype = 'e')`

// Tables lists every Citus table (distributed, reference, local) except
// those owned by extensions, ordered by colocation group then name.
func Tables(ctx context.Context, q Querier) ([]Table, error) {
	rows, err := q.Query(ctx, tablesSQL+` ORDER BY p.colocationid, n.nspname, c.relname`)
	if err != nil {
		return nil, fmt.Errorf("reading pg_dist_partition: %w", err)
	}
	tables, err := pgx.CollectRows(rows, scanTable)
	if err != nil {
		return nil, fmt.Errorf("reading pg_dist_partition: %w", err)
	}
	return tables, nil
}

func scanTable(r pgx.CollectableRow) (Table, error) {
	var t Table
	err := r.Scan(&t.Name.Schema, &t.Name.Name, &t.Method, &t.DistColumn, &t.ColocationID, &t.Type)
	return t, err
}

// NotCitusTableError says a table is not known to Citus.
type NotCitusTableError struct{ Table db.QualifiedName }

func (e *NotCitusTableError) Error() string {
	return fmt.Sprintf("table %s is not a Citus table (not in pg_dist_partition): distribute it first", e.Table)
}

// TableInfo returns one Citus table, or a *NotCitusTableError.
func TableInfo(ctx context.Context, q Querier, name db.QualifiedName) (Table, error) {
	rows, err := q.Query(ctx, tablesSQL+` AND n.nspname = $1 AND c.relname = $2`, name.Schema, name.Name)
	if err != nil {
		return Table{}, fmt.Errorf("reading pg_dist_partition for %s: %w", name, err)
	}
	t, err := pgx.CollectExactlyOneRow(rows, scanTable)
	if errors.Is(err, pgx.ErrNoRows) {
		return Table{}, &NotCitusTableError{Table: name}
	}
	if err != nil {
		return Table{}, fmt.Errorf("reading pg_dist_partition for %s: %w", name, err)
	}
	return t, nil
}

// ColocatedTables returns the tables of a colocation group (distributed
// tables whose shards always move together), by name.
func ColocatedTables(ctx context.Context, q Querier, colocationID int32) ([]Table, error) {
	rows, err := q.Query(ctx, tablesSQL+` AND p.colocationid = $1 ORDER BY n.nspname, c.relname`, colocationID)
	if err != nil {
		return nil, fmt.Errorf("reading colocation group %d: %w", colocationID, err)
	}
	tables, err := pgx.CollectRows(rows, scanTable)
	if err != nil {
		return nil, fmt.Errorf("reading colocation group %d: %w", colocationID, err)
	}
	return tables, nil
}

// Placement is where a copy of a shard lives (a row of pg_dist_placement
// joined to the primary node of its group).
type Placement struct {
	PlacementID int64 `json:"placement_id"`
	ShardID     int64 `json:"shard_id"`
	GroupID     int32 `json:"group_id"`
	Node        Node  `json:"node"`
}

// Shard is a row of pg_dist_shard with its placements. For hash-distributed
// tables a row belongs to the shard whose [MinValue, MaxValue] contains the
// hash of its distribution column (see ShardForValue); reference tables
// have one shard without a range, placed on every node.
type Shard struct {
	ShardID int64            `json:"shard_id"`
	Table   db.QualifiedName `json:"table"`
	// Name is the shard's relation on the workers, e.g. public.store_102008
	// (long names are shortened by Citus, so use this rather than building
	// it). Query it as Name.Quoted() on a worker holding a placement.
	Name       db.QualifiedName `json:"name"`
	HasRange   bool             `json:"has_range"`
	MinValue   int32            `json:"min_value"`
	MaxValue   int32            `json:"max_value"`
	Placements []Placement      `json:"placements"`
}

// Contains reports whether hash value h falls in the shard's range.
func (s Shard) Contains(h int32) bool { return s.HasRange && s.MinValue <= h && h <= s.MaxValue }

// Shards returns the shards of a Citus table ordered by hash range (by
// shard id for tables without ranges), each with its active placements.
// A table unknown to Citus gives a *NotCitusTableError.
func Shards(ctx context.Context, q Querier, table db.QualifiedName) ([]Shard, error) {
	if _, err := TableInfo(ctx, q, table); err != nil {
		return nil, err
	}
	rows, err := q.Query(ctx, `
		SELECT s.shardid, pg_catalog.shard_name(s.logicalrelid, s.shardid, false),
		       s.shardminvalue, s.shardmaxvalue,
		       p.placementid, p.groupid,
		       n.nodeid, n.groupid, n.nodename, n.nodeport, n.noderole::text, n.isactive, n.shouldhaveshards
		FROM pg_catalog.pg_dist_shard s
		JOIN pg_catalog.pg_dist_placement p ON p.shardid = s.shardid AND p.shardstate = 1
		JOIN pg_catalog.pg_dist_node n ON n.groupid = p.groupid AND n.noderole = 'primary'
		WHERE s.logicalrelid = $1::text::regclass
		ORDER BY s.shardid, n.nodeid`, table.Quoted())
	if err != nil {
		return nil, fmt.Errorf("reading shards of %s: %w", table, err)
	}
	return collectShards(rows, table)
}

func collectShards(rows pgx.Rows, table db.QualifiedName) ([]Shard, error) {
	defer rows.Close()
	var shards []Shard
	for rows.Next() {
		var (
			id         int64
			name       string
			minV, maxV *string
			pl         Placement
		)
		n := &pl.Node
		if err := rows.Scan(&id, &name, &minV, &maxV, &pl.PlacementID, &pl.GroupID,
			&n.ID, &n.GroupID, &n.Name, &n.Port, &n.Role, &n.Active, &n.ShouldHaveShards); err != nil {
			return nil, fmt.Errorf("reading shards of %s: %w", table, err)
		}
		pl.ShardID = id
		if len(shards) == 0 || shards[len(shards)-1].ShardID != id {
			s, err := newShard(id, name, minV, maxV, table)
			if err != nil {
				return nil, err
			}
			shards = append(shards, s)
		}
		last := &shards[len(shards)-1]
		last.Placements = append(last.Placements, pl)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("reading shards of %s: %w", table, err)
	}
	sort.SliceStable(shards, func(i, j int) bool {
		if shards[i].HasRange && shards[j].HasRange {
			return shards[i].MinValue < shards[j].MinValue
		}
		return shards[i].ShardID < shards[j].ShardID
	})
	return shards, nil
}

func newShard(id int64, name string, minV, maxV *string, table db.QualifiedName) (Shard, error) {
	s := Shard{ShardID: id, Table: table}
	qn, err := db.ParseQualifiedName(name, table.Schema)
	if err != nil {
		return s, fmt.Errorf("shard %d of %s: parsing shard name %q: %w", id, table, name, err)
	}
	s.Name = qn
	if minV == nil || maxV == nil {
		return s, nil
	}
	lo, err1 := strconv.ParseInt(*minV, 10, 32)
	hi, err2 := strconv.ParseInt(*maxV, 10, 32)
	if err1 != nil || err2 != nil {
		// Range- and append-distributed shards have ranges in the column's
		// own type; they carry no tenants tenantmover places.
		return s, nil
	}
	s.HasRange, s.MinValue, s.MaxValue = true, int32(lo), int32(hi)
	return s, nil
}

// ShardForValue returns the id of the shard of a hash-distributed table
// that holds distribution value v (given as text, converted by Citus to
// the column's type), through get_shard_id_for_distribution_column.
func ShardForValue(ctx context.Context, q Querier, table db.QualifiedName, v string) (int64, error) {
	var id int64
	err := q.QueryRow(ctx, `SELECT pg_catalog.get_shard_id_for_distribution_column($1::text::regclass, $2::text)`,
		table.Quoted(), v).Scan(&id)
	if err != nil {
		return 0, fmt.Errorf("finding the shard of %s for value %s: %w", table, v, err)
	}
	return id, nil
}

// HashValue returns Citus's hash of distribution value v (as text) of a
// hash-distributed table: the value shard ranges cover (worker_hash).
func HashValue(ctx context.Context, q Querier, table Table, v string) (int32, error) {
	typ, err := columnType(ctx, q, table.Name, table.DistColumn)
	if err != nil {
		return 0, err
	}
	var h int32
	// typ comes from format_type, which quotes it as SQL needs; the value
	// is a bind parameter cast to it, hashed as placement hashes rows.
	if err := q.QueryRow(ctx, `SELECT pg_catalog.worker_hash($1::text::`+typ+`)`, v).Scan(&h); err != nil {
		return 0, fmt.Errorf("hashing %s value %s: %w", table.Name, v, err)
	}
	return h, nil
}

// columnType is a column's type as SQL text (format_type).
func columnType(ctx context.Context, q Querier, table db.QualifiedName, column string) (string, error) {
	var typ string
	err := q.QueryRow(ctx, `
		SELECT pg_catalog.format_type(a.atttypid, a.atttypmod) FROM pg_catalog.pg_attribute a
		WHERE a.attrelid = $1::text::regclass AND a.attname = $2 AND NOT a.attisdropped`,
		table.Quoted(), column).Scan(&typ)
	if err != nil {
		return "", fmt.Errorf("reading the type of %s.%s: %w", table, db.QuoteIfNeeded(column), err)
	}
	return typ, nil
}

// ResolveTable finds a table named as typed in SQL (schema-qualified or
// found on the search_path, quoted as SQL quotes) on the coordinator.
func ResolveTable(ctx context.Context, q Querier, typed string) (db.QualifiedName, error) {
	if _, err := db.ParseIdentifierPath(typed); err != nil {
		return db.QualifiedName{}, err
	}
	var name db.QualifiedName
	err := q.QueryRow(ctx, `
		SELECT n.nspname, c.relname FROM pg_catalog.pg_class c
		JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
		WHERE c.oid = pg_catalog.to_regclass($1)`, typed).Scan(&name.Schema, &name.Name)
	if errors.Is(err, pgx.ErrNoRows) {
		return name, fmt.Errorf("table %s does not exist on the target", typed)
	}
	if err != nil {
		return name, fmt.Errorf("resolving table %s: %w", typed, err)
	}
	return name, nil
}
