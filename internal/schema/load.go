package schema

import (
	"context"
	"fmt"
	"sort"
	"strings"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/tenantmover/tenantmover/internal/db"
)

// systemSchemas are never read unless asked for by name: PostgreSQL's own,
// tenantmover's checkpoints, and the schemas the Citus and columnar
// extensions create.
var systemSchemas = []string{
	"pg_catalog", "information_schema", "pg_toast",
	"tenantmover", "citus", "citus_internal", "columnar", "columnar_internal",
}

// Load reads every user table of the given schemas (every non-system schema
// when schemas is empty) in one read-only, repeatable-read transaction, so
// the result is one consistent snapshot. It runs a fixed handful of catalog
// queries whatever the number of tables, because real applications have
// hundreds of them. Partitions are folded into their partitioned parent and
// tables owned by extensions are skipped. It reads the other schema objects
// too (Catalog.Objects).
func Load(ctx context.Context, pool *pgxpool.Pool, schemas []string) (*Catalog, error) {
	tx, err := pool.BeginTx(ctx, pgx.TxOptions{IsoLevel: pgx.RepeatableRead, AccessMode: pgx.ReadOnly})
	if err != nil {
		return nil, fmt.Errorf("reading the catalog: %w", err)
	}
	defer func() { _ = tx.Rollback(ctx) }()

	l := &loader{tx: tx, byOID: map[uint32]*Table{}, readable: map[uint32]bool{}}
	steps := []loadStep{
		{"search path", l.searchPath},
		{"tables", func(ctx context.Context) error { return l.tables(ctx, schemas) }},
		{"row counts", l.countRows},
		{"columns", l.columns},
		{"null fractions", l.nullFractions},
		{"null counts", l.countNulls},
		{"constraints", l.constraints},
		{"indexes", l.indexes},
		{"type values", l.typeValues},
		{"content types", l.contentTypes},
		{"sequences", l.sequences},
		{"partitions", l.partitions},
		{"types", func(ctx context.Context) error { return l.types(ctx, schemas) }},
	}
	for _, s := range append(steps, l.objectSteps(schemas)...) {
		if err := s.run(ctx); err != nil {
			return nil, fmt.Errorf("reading the catalog (%s): %w", s.what, err)
		}
	}
	cat := NewCatalog(l.list)
	cat.SearchPath = l.path
	cat.Sequences = l.seqs
	cat.Types = l.typs
	cat.Objects = l.objs
	cat.ContentTypes = l.ctypes
	return cat, nil
}

// loader accumulates one Load.
type loader struct {
	tx    pgx.Tx
	path  []string
	list  []*Table
	byOID map[uint32]*Table
	oids  []uint32
	seqs  []*Sequence
	typs  []*Type
	objs  Objects
	// ctypes are the content-type tables' rows (Catalog.ContentTypes).
	ctypes map[Name]map[string]string
	// readable are the tables the session may SELECT from: the only ones
	// Load reads rows of (null counts, type values, content types).
	readable map[uint32]bool
	// toCount are the leaves whose missing row estimate countRows fills.
	toCount []leafCount
}

// searchPath records the user's search path, then empties it for the rest
// of the transaction so that every name the catalog functions print
// (format_type, pg_get_expr, pg_get_constraintdef, pg_get_indexdef) comes
// out schema-qualified and means the same on a target whatever its
// search_path.
func (l *loader) searchPath(ctx context.Context) error {
	if err := l.tx.QueryRow(ctx, `SELECT current_schemas(false)::text[]`).Scan(&l.path); err != nil {
		return err
	}
	_, err := l.tx.Exec(ctx, `SELECT set_config('search_path', 'pg_catalog', true)`)
	return err
}

// tables reads the tables; sizes and row estimates of a partitioned table
// are the sums over its partitions. Leaves whose estimate is missing are
// listed for countRows (small ones) or make the table's estimate unknown.
func (l *loader) tables(ctx context.Context, schemas []string) error {
	const q = `
SELECT c.oid, n.nspname, c.relname, c.relkind = 'p', c.relreplident::text, has_table_privilege(c.oid, 'SELECT'),
       r.rows, r.unknown, r.count_schemas, r.count_names,
       CASE WHEN c.relkind = 'p' THEN
            (SELECT coalesce(sum(pg_total_relation_size(t.relid)), 0) FROM pg_partition_tree(c.oid) t WHERE t.isleaf)
            ELSE pg_total_relation_size(c.oid) END::bigint
FROM pg_class c
JOIN pg_namespace n ON n.oid = c.relnamespace
CROSS JOIN LATERAL (
    SELECT coalesce(sum(CASE WHEN e.state = 'known' THEN e.estimate END), 0)::bigint AS rows,
           coalesce(bool_or(e.state = 'unknown'), false) AS unknown,
           coalesce(array_agg(e.nspname::text ORDER BY e.oid) FILTER (WHERE e.state = 'count'), '{}') AS count_schemas,
           coalesce(array_agg(e.relname::text ORDER BY e.oid) FILTER (WHERE e.state = 'count'), '{}') AS count_names
    FROM (SELECT p.oid, pn.nspname, p.relname,
                 CASE WHEN s.size = 0 THEN 0 ELSE greatest(p.reltuples, 0) END AS estimate,
                 CASE WHEN s.size = 0 OR (p.reltuples >= 0 AND p.relpages > 0) THEN 'known'
                      WHEN s.size <= $3 AND has_table_privilege(p.oid, 'SELECT') THEN 'count'
                      ELSE 'unknown' END AS state
          FROM (SELECT c.oid AS relid WHERE c.relkind <> 'p'
                UNION ALL
                SELECT t.relid FROM pg_partition_tree(c.oid) t WHERE c.relkind = 'p' AND t.isleaf) leaf
          JOIN pg_class p ON p.oid = leaf.relid
          JOIN pg_namespace pn ON pn.oid = p.relnamespace
          CROSS JOIN LATERAL (SELECT pg_relation_size(p.oid) AS size) s) e) r
WHERE c.relkind IN ('r', 'p') AND NOT c.relispartition
  AND CASE WHEN cardinality($1::text[]) > 0 THEN n.nspname = ANY($1)
           ELSE n.nspname <> ALL($2) AND n.nspname NOT LIKE 'pg\_temp\_%' AND n.nspname NOT LIKE 'pg\_toast\_temp\_%' END
  AND NOT EXISTS (SELECT 1 FROM pg_depend d
                  WHERE d.classid = 'pg_class'::regclass AND d.objid = c.oid AND d.deptype = 'e')`
	return db.EachRow(ctx, l.tx, q, []any{schemas, systemSchemas, CountRowsMaxBytes}, func(row pgx.CollectableRow) error {
		t := &Table{}
		var (
			unknown                bool
			countSchemas, countNms []string
		)
		var readable bool
		if err := row.Scan(&t.OID, &t.Name.Schema, &t.Name.Name, &t.Partitioned, &t.ReplicaIdentity, &readable,
			&t.EstimatedRows, &unknown, &countSchemas, &countNms, &t.Bytes); err != nil {
			return err
		}
		if unknown {
			t.EstimatedRows = UnknownRows
		} else {
			for i := range countSchemas {
				l.toCount = append(l.toCount, leafCount{table: t, leaf: Name{Schema: countSchemas[i], Name: countNms[i]}})
			}
		}
		l.list = append(l.list, t)
		l.byOID[t.OID] = t
		l.readable[t.OID] = readable
		l.oids = append(l.oids, t.OID)
		return nil
	})
}

// leafCount is a table, or a partition of one, that countRows counts.
type leafCount struct {
	table *Table
	leaf  Name
}

// countRows counts, in one query, the small tables and partitions whose
// row estimate is missing (never analyzed), and adds the counts to their
// tables' estimates.
func (l *loader) countRows(ctx context.Context) error {
	if len(l.toCount) == 0 {
		return nil
	}
	parts := make([]string, len(l.toCount))
	for i, c := range l.toCount {
		parts[i] = fmt.Sprintf("SELECT %d, count(*) FROM ONLY %s", i, c.leaf.Quoted())
	}
	return db.EachRow(ctx, l.tx, strings.Join(parts, " UNION ALL "), nil, func(row pgx.CollectableRow) error {
		var i int
		var n int64
		if err := row.Scan(&i, &n); err != nil {
			return err
		}
		l.toCount[i].table.EstimatedRows += n
		return nil
	})
}

// columns reads every column with its collation, default, identity,
// generation and owned sequence (serial and identity columns own one
// through pg_depend).
func (l *loader) columns(ctx context.Context) error {
	const q = `
SELECT a.attrelid, a.attname, a.attnum, format_type(a.atttypid, a.atttypmod), a.atttypid,
       CASE WHEN a.attcollation NOT IN (0, (SELECT typcollation FROM pg_type WHERE oid = a.atttypid))
            THEN (pg_identify_object('pg_collation'::regclass, a.attcollation, 0)).identity ELSE '' END,
       a.attnotnull,
       coalesce(pg_get_expr(d.adbin, d.adrelid), ''), a.attidentity::text, a.attgenerated::text,
       s.nspname, s.relname
FROM pg_attribute a
LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum
LEFT JOIN LATERAL (
    SELECT sn.nspname, sc.relname
    FROM pg_depend dep
    JOIN pg_class sc ON sc.oid = dep.objid AND sc.relkind = 'S'
    JOIN pg_namespace sn ON sn.oid = sc.relnamespace
    WHERE dep.classid = 'pg_class'::regclass AND dep.refclassid = 'pg_class'::regclass
      AND dep.refobjid = a.attrelid AND dep.refobjsubid = a.attnum AND dep.deptype IN ('a', 'i')
    ORDER BY sc.relname LIMIT 1) s ON true
WHERE a.attrelid = ANY($1) AND a.attnum > 0 AND NOT a.attisdropped
ORDER BY a.attrelid, a.attnum`
	return db.EachRow(ctx, l.tx, q, []any{l.oids}, func(row pgx.CollectableRow) error {
		var (
			rel              uint32
			c                Column
			seqSchema, seqNm *string
		)
		if err := row.Scan(&rel, &c.Name, &c.Num, &c.Type, &c.TypeOID, &c.Collation, &c.NotNull, &c.Default, &c.Identity, &c.Generated, &seqSchema, &seqNm); err != nil {
			return err
		}
		if seqSchema != nil && seqNm != nil {
			c.Sequence = &Name{Schema: *seqSchema, Name: *seqNm}
		}
		if t := l.byOID[rel]; t != nil {
			t.Columns = append(t.Columns, c)
		}
		return nil
	})
}

// constraints reads primary keys, unique, foreign-key, check and exclusion
// constraints. Foreign keys a partitioned referenced table clones per
// partition (conparentid <> 0) are skipped: the parent constraint stands
// for them.
func (l *loader) constraints(ctx context.Context) error {
	const q = `
SELECT con.conrelid, con.conname, con.contype::text, pg_get_constraintdef(con.oid),
       coalesce((SELECT array_agg(a.attname ORDER BY k.ord) FROM unnest(con.conkey) WITH ORDINALITY k(num, ord)
                 JOIN pg_attribute a ON a.attrelid = con.conrelid AND a.attnum = k.num), '{}'),
       coalesce(rn.nspname, ''), coalesce(rc.relname, ''),
       coalesce((SELECT array_agg(a.attname ORDER BY k.ord) FROM unnest(con.confkey) WITH ORDINALITY k(num, ord)
                 JOIN pg_attribute a ON a.attrelid = con.confrelid AND a.attnum = k.num), '{}'),
       con.confupdtype::text, con.confdeltype::text, con.condeferrable, con.condeferred, con.convalidated
FROM pg_constraint con
LEFT JOIN pg_class rc ON rc.oid = con.confrelid
LEFT JOIN pg_namespace rn ON rn.oid = rc.relnamespace
WHERE con.conrelid = ANY($1) AND con.contype IN ('p', 'u', 'f', 'c', 'x') AND con.conparentid = 0
ORDER BY con.conrelid, con.conname`
	return db.EachRow(ctx, l.tx, q, []any{l.oids}, func(row pgx.CollectableRow) error {
		var (
			rel                  uint32
			name, typ, def       string
			cols, refCols        []string
			refSchema, refName   string
			upd, del             string
			deferrable, deferred bool
			validated            bool
		)
		if err := row.Scan(&rel, &name, &typ, &def, &cols, &refSchema, &refName, &refCols, &upd, &del, &deferrable, &deferred, &validated); err != nil {
			return err
		}
		t := l.byOID[rel]
		if t == nil {
			return nil
		}
		switch typ {
		case "p":
			t.PrimaryKey = &Key{Name: name, Columns: cols, IsConstraint: true, Definition: def, PlainColumns: cols}
		case "u":
			t.Uniques = append(t.Uniques, Key{Name: name, Columns: cols, IsConstraint: true, Definition: def, PlainColumns: cols})
		case "f":
			t.ForeignKeys = append(t.ForeignKeys, ForeignKey{
				Name: name, Table: t.Name, Columns: cols,
				RefTable: Name{Schema: refSchema, Name: refName}, RefColumns: refCols,
				OnDelete: fkAction(del), OnUpdate: fkAction(upd),
				Deferrable: deferrable, InitiallyDeferred: deferred, Validated: validated,
			})
		case "c":
			t.Checks = append(t.Checks, Check{Name: name, Definition: def})
		case "x":
			t.Exclusions = append(t.Exclusions, Check{Name: name, Definition: def})
		}
		return nil
	})
}

// fkAction spells pg_constraint's one-letter action codes as SQL.
func fkAction(code string) string {
	switch code {
	case "c":
		return "CASCADE"
	case "n":
		return "SET NULL"
	case "d":
		return "SET DEFAULT"
	case "r":
		return "RESTRICT"
	}
	return "NO ACTION"
}

// indexes reads the indexes that back no constraint: unique ones join
// Uniques (they constrain the data just the same), the others go to Indexes.
// Each definition is cut into IndexParts after the exact head
// pg_get_indexdef prints ("CREATE UNIQUE INDEX name ON [ONLY] table USING
// method ("), computed here with the same quoting, so that no name can be
// mistaken for that head.
func (l *loader) indexes(ctx context.Context) error {
	const q = `
SELECT i.indrelid, ic.relname, i.indisunique, d.def,
       coalesce(pg_get_expr(i.indpred, i.indrelid), ''),
       i.indexprs IS NOT NULL OR 0 = ANY ((i.indkey::int2[])[0:i.indnkeyatts - 1]),
       coalesce((SELECT array_agg(a.attname ORDER BY k.ord)
                 FROM unnest((i.indkey::int2[])[0:i.indnkeyatts - 1]) WITH ORDINALITY k(num, ord)
                 JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = k.num), '{}'),
       coalesce((SELECT array_agg(a.attname ORDER BY k.ord)
                 FROM unnest((i.indkey::int2[])[i.indnkeyatts:i.indnatts - 1]) WITH ORDINALITY k(num, ord)
                 JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = k.num), '{}'),
       am.amname::text,
       CASE WHEN starts_with(d.def, h.head) THEN substr(d.def, length(h.head) + 1)
            WHEN starts_with(d.def, h.head_only) THEN substr(d.def, length(h.head_only) + 1)
            ELSE '' END
FROM pg_index i
JOIN pg_class ic ON ic.oid = i.indexrelid
JOIN pg_class c ON c.oid = i.indrelid
JOIN pg_namespace n ON n.oid = c.relnamespace
JOIN pg_am am ON am.oid = ic.relam
CROSS JOIN LATERAL (SELECT pg_get_indexdef(i.indexrelid) AS def) d
CROSS JOIN LATERAL (
    SELECT format('CREATE %sINDEX %I ON %I.%I USING %I (', u.kw, ic.relname, n.nspname, c.relname, am.amname) AS head,
           format('CREATE %sINDEX %I ON ONLY %I.%I USING %I (', u.kw, ic.relname, n.nspname, c.relname, am.amname) AS head_only
    FROM (SELECT CASE WHEN i.indisunique THEN 'UNIQUE ' ELSE '' END AS kw) u) h
WHERE i.indrelid = ANY($1)
  AND NOT EXISTS (SELECT 1 FROM pg_constraint con
                  WHERE con.conindid = i.indexrelid AND con.conrelid = i.indrelid AND con.contype IN ('p', 'u', 'x'))
ORDER BY i.indrelid, ic.relname`
	return db.EachRow(ctx, l.tx, q, []any{l.oids}, func(row pgx.CollectableRow) error {
		var (
			rel              uint32
			name, def        string
			pred             string
			unique           bool
			expression       bool
			cols, included   []string
			method, afterKey string
		)
		if err := row.Scan(&rel, &name, &unique, &def, &pred, &expression, &cols, &included, &method, &afterKey); err != nil {
			return err
		}
		t := l.byOID[rel]
		if t == nil {
			return nil
		}
		parts := IndexParts{Method: method}
		parts.Elements, parts.Options = SplitIndexList(afterKey)
		plain := cols
		if expression {
			cols = nil
		}
		if unique {
			t.Uniques = append(t.Uniques, Key{Name: name, Columns: cols, Definition: def, Predicate: pred, Expression: expression,
				PlainColumns: plain, IndexParts: parts})
		} else {
			t.Indexes = append(t.Indexes, Index{Name: name, Columns: cols, Definition: def, Predicate: pred, Included: included, IndexParts: parts})
		}
		return nil
	})
}

// SplitIndexList cuts what follows "USING method (" in pg_get_indexdef at
// the parenthesis closing the key list: the key columns and expressions,
// and the rest (INCLUDE, NULLS NOT DISTINCT, WITH, TABLESPACE, WHERE).
// Parentheses inside quoted names and string literals do not count (the
// catalog prints literals with quotes doubled, never with backslash
// escapes). It returns "", "" when s has no closing parenthesis.
func SplitIndexList(s string) (elements, rest string) {
	depth := 0
	for i := 0; i < len(s); i++ {
		switch s[i] {
		case '"', '\'':
			q := s[i]
			for i++; i < len(s); i++ {
				if s[i] == q {
					if i+1 < len(s) && s[i+1] == q {
						i++ // a doubled quote stays inside
						continue
					}
					break
				}
			}
		case '(':
			depth++
		case ')':
			if depth == 0 {
				return s[:i], s[i+1:]
			}
			depth--
		}
	}
	return "", ""
}

// sequences reads the sequences of the schemas holding the tables read and
// those owned by their columns.
func (l *loader) sequences(ctx context.Context) error {
	const q = `
SELECT n.nspname, c.relname, format_type(s.seqtypid, NULL), s.seqstart, s.seqincrement, s.seqmin, s.seqmax,
       s.seqcache, s.seqcycle, own.nspname, own.relname, own.attname, coalesce(own.deptype = 'i', false)
FROM pg_sequence s
JOIN pg_class c ON c.oid = s.seqrelid
JOIN pg_namespace n ON n.oid = c.relnamespace
LEFT JOIN LATERAL (
    SELECT tn.nspname, t.relname, a.attname, d.deptype::text AS deptype, t.oid
    FROM pg_depend d
    JOIN pg_class t ON t.oid = d.refobjid
    JOIN pg_namespace tn ON tn.oid = t.relnamespace
    JOIN pg_attribute a ON a.attrelid = t.oid AND a.attnum = d.refobjsubid
    WHERE d.classid = 'pg_class'::regclass AND d.objid = c.oid AND d.refclassid = 'pg_class'::regclass
      AND d.deptype IN ('a', 'i')
    LIMIT 1) own ON true
WHERE (own.oid = ANY($1) OR n.oid IN (SELECT relnamespace FROM pg_class WHERE oid = ANY($1)))
  AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.classid = 'pg_class'::regclass AND d.objid = c.oid AND d.deptype = 'e')
ORDER BY n.nspname, c.relname`
	return db.EachRow(ctx, l.tx, q, []any{l.oids}, func(row pgx.CollectableRow) error {
		s := &Sequence{}
		var ownSchema, ownTable, ownCol *string
		if err := row.Scan(&s.Name.Schema, &s.Name.Name, &s.Type, &s.Start, &s.Increment, &s.Min, &s.Max, &s.Cache, &s.Cycle,
			&ownSchema, &ownTable, &ownCol, &s.Identity); err != nil {
			return err
		}
		if ownSchema != nil {
			s.OwnedBy = &Name{Schema: *ownSchema, Name: *ownTable}
			s.OwnedCol = *ownCol
		}
		l.seqs = append(l.seqs, s)
		return nil
	})
}

// partitions reads partition keys and the direct partitions of the
// partitioned tables.
func (l *loader) partitions(ctx context.Context) error {
	const q = `
SELECT p.partrelid, pg_get_partkeydef(p.partrelid), n.nspname, c.relname, pg_get_expr(c.relpartbound, c.oid)
FROM pg_partitioned_table p
LEFT JOIN pg_inherits i ON i.inhparent = p.partrelid
LEFT JOIN pg_class c ON c.oid = i.inhrelid
LEFT JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE p.partrelid = ANY($1)
ORDER BY p.partrelid, n.nspname, c.relname`
	return db.EachRow(ctx, l.tx, q, []any{l.oids}, func(row pgx.CollectableRow) error {
		var (
			rel             uint32
			key             string
			ns, name, bound *string
		)
		if err := row.Scan(&rel, &key, &ns, &name, &bound); err != nil {
			return err
		}
		t := l.byOID[rel]
		if t == nil {
			return nil
		}
		t.PartitionKey = key
		if ns != nil {
			t.Partitions = append(t.Partitions, Partition{Name: Name{Schema: *ns, Name: *name}, Bound: *bound})
		}
		return nil
	})
}

// types reads the user-defined types the columns use, looking through
// arrays to their element type, and the other user types of the schemas
// read (enums, domains, composite, range and base types, but not the
// array, multirange and row types PostgreSQL makes by itself, nor an
// extension's).
func (l *loader) types(ctx context.Context, schemas []string) error {
	q := `
SELECT n.nspname, t.typname, (pg_identify_object('pg_type'::regclass, t.oid, 0)).identity, t.typtype::text,
       coalesce((SELECT array_agg(e.enumlabel::text ORDER BY e.enumsortorder) FROM pg_enum e WHERE e.enumtypid = t.oid), '{}'),
       coalesce((SELECT x.extname::text FROM pg_depend d JOIN pg_extension x ON x.oid = d.refobjid
                 WHERE d.classid = 'pg_type'::regclass AND d.objid = t.oid AND d.deptype = 'e' LIMIT 1), ''),
       CASE WHEN t.typtype = 'd' THEN format_type(t.typbasetype, t.typtypmod) ELSE '' END,
       t.typnotnull, coalesce(pg_get_expr(t.typdefaultbin, 0), ''),
       coalesce((SELECT array_agg(pg_get_constraintdef(c.oid) ORDER BY c.conname) FROM pg_constraint c WHERE c.contypid = t.oid), '{}'),
       coalesce((SELECT array_agg(a.attname::text ORDER BY a.attnum) FROM pg_attribute a
                 WHERE a.attrelid = t.typrelid AND t.typtype = 'c' AND a.attnum > 0 AND NOT a.attisdropped), '{}'),
       coalesce((SELECT array_agg(format_type(a.atttypid, a.atttypmod) ORDER BY a.attnum) FROM pg_attribute a
                 WHERE a.attrelid = t.typrelid AND t.typtype = 'c' AND a.attnum > 0 AND NOT a.attisdropped), '{}'),
       coalesce((SELECT array_agg(CASE WHEN a.attcollation IN (0, ct.typcollation) THEN ''
                                  ELSE (pg_identify_object('pg_collation'::regclass, a.attcollation, 0)).identity END ORDER BY a.attnum)
                 FROM pg_attribute a JOIN pg_type ct ON ct.oid = a.atttypid
                 WHERE a.attrelid = t.typrelid AND t.typtype = 'c' AND a.attnum > 0 AND NOT a.attisdropped), '{}'),
       coalesce(format_type(r.rngsubtype, NULL), ''),
       coalesce(CASE WHEN r.rngsubopc <> (SELECT oc.oid FROM pg_opclass oc JOIN pg_am am ON am.oid = oc.opcmethod
                                          WHERE am.amname = 'btree' AND oc.opcdefault AND oc.opcintype = r.rngsubtype LIMIT 1)
                THEN (pg_identify_object('pg_opclass'::regclass, r.rngsubopc, 0)).identity END, ''),
       coalesce(CASE WHEN r.rngcollation NOT IN (0, (SELECT typcollation FROM pg_type WHERE oid = r.rngsubtype))
                THEN (pg_identify_object('pg_collation'::regclass, r.rngcollation, 0)).identity END, ''),
       coalesce(CASE WHEN r.rngcanonical <> 0 THEN r.rngcanonical::regproc::text END, ''),
       coalesce(CASE WHEN r.rngsubdiff <> 0 THEN r.rngsubdiff::regproc::text END, ''),
       coalesce((SELECT quote_ident(mn.nspname) || '.' || quote_ident(mt.typname) FROM pg_type mt JOIN pg_namespace mn ON mn.oid = mt.typnamespace
                 WHERE mt.oid = (to_jsonb(r)->>'rngmultitypid')::oid), '')
FROM pg_type t
JOIN pg_namespace n ON n.oid = t.typnamespace
LEFT JOIN pg_range r ON r.rngtypid = t.oid
WHERE n.nspname NOT IN ('pg_catalog', 'information_schema')
  AND (t.oid IN (SELECT CASE WHEN at.typcategory = 'A' AND at.typelem <> 0 THEN at.typelem ELSE at.oid END
                 FROM pg_attribute a JOIN pg_type at ON at.oid = a.atttypid
                 WHERE a.attrelid = ANY($3) AND a.attnum > 0 AND NOT a.attisdropped)
       OR ` + inSchemas("n.nspname") + ` AND ` + notMember("pg_type", "t.oid") + `
          AND (t.typtype IN ('e', 'd', 'r') OR t.typtype = 'c' AND (SELECT relkind FROM pg_class WHERE oid = t.typrelid) = 'c'
               OR t.typtype = 'b' AND t.typcategory <> 'A'))
ORDER BY n.nspname, t.typname`
	return db.EachRow(ctx, l.tx, q, []any{schemas, systemSchemas, l.oids}, func(row pgx.CollectableRow) error {
		t := &Type{}
		var typtype string
		var attNames, attTypes, attColls []string
		var rng Range
		if err := row.Scan(&t.Name.Schema, &t.Name.Name, &t.Identity, &typtype, &t.Labels, &t.Extension, &t.BaseType, &t.NotNull, &t.Default, &t.Checks,
			&attNames, &attTypes, &attColls,
			&rng.Subtype, &rng.Opclass, &rng.Collation, &rng.Canonical, &rng.SubtypeDiff, &rng.Multirange); err != nil {
			return err
		}
		t.Kind = typeKind(t.Extension, typtype)
		for i := range attNames {
			t.Attributes = append(t.Attributes, Attribute{Name: attNames[i], Type: attTypes[i], Collation: attColls[i]})
		}
		if typtype == "r" {
			t.Range = &rng
		}
		l.typs = append(l.typs, t)
		return nil
	})
}

// typeKind names a type's kind from pg_type.typtype.
func typeKind(extension, typtype string) string {
	switch {
	case extension != "":
		return "extension"
	case typtype == "e":
		return "enum"
	case typtype == "d":
		return "domain"
	case typtype == "c":
		return "composite"
	case typtype == "r":
		return "range"
	}
	return "other"
}

// inSchemas is the condition that the schema called expr is one Load
// reads: one of $1 when given, else any but the system schemas ($2).
func inSchemas(expr string) string {
	return fmt.Sprintf(`CASE WHEN cardinality($1::text[]) > 0 THEN %[1]s = ANY($1)
           ELSE %[1]s <> ALL($2) AND %[1]s NOT LIKE 'pg\_temp\_%%' AND %[1]s NOT LIKE 'pg\_toast\_temp\_%%' END`, expr)
}

// notMember is the condition that the object of catalog cat with OID oid
// does not belong to an extension.
func notMember(cat, oid string) string {
	return fmt.Sprintf(`NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.classid = '%s'::regclass AND d.objid = %s AND d.deptype = 'e')`, cat, oid)
}

// NewCatalog indexes tables by name and sorts them. Load uses it; tests and
// callers that build a catalog by hand (or derive one) use it too.
func NewCatalog(tables []*Table) *Catalog {
	c := &Catalog{Tables: append([]*Table(nil), tables...), byName: map[Name]*Table{}}
	sort.Slice(c.Tables, func(i, j int) bool { return Less(c.Tables[i].Name, c.Tables[j].Name) })
	for _, t := range c.Tables {
		c.byName[t.Name] = t
	}
	return c
}

// Less orders names by schema, then table name.
func Less(a, b Name) bool {
	if a.Schema != b.Schema {
		return a.Schema < b.Schema
	}
	return a.Name < b.Name
}
