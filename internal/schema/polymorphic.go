package schema

import (
	"context"
	"fmt"
	"strings"

	"github.com/jackc/pgx/v5"

	"github.com/tenantmover/tenantmover/internal/db"
)

// Polymorphic associations have no foreign key to follow: a type column
// says which table the id column points at (Rails' commentable_type =
// 'Post'; Django's content_type_id, a key to django_content_type). Plan
// notes such pairs with the exact --relation flags to write, one per
// type, so it needs the values the type column holds. They are read as
// cheaply as the other figures: the planner's most common values when the
// table was analyzed, else read from tables small enough to scan.

// maxTypeValues is how many distinct values of a small table's type
// column are read; more make the list incomplete.
const maxTypeValues = 100

// IsContentTypeTable reports whether t looks like Django's
// django_content_type: a one-column primary key and text columns
// app_label and model.
func IsContentTypeTable(t *Table) bool {
	if t.PrimaryKey == nil || len(t.PrimaryKey.Columns) != 1 {
		return false
	}
	for _, n := range []string{"app_label", "model"} {
		if c := t.Column(n); c == nil || !isText(c.Type) {
			return false
		}
	}
	return true
}

// IsTypeColumn reports whether column c of t looks like the type column
// of a polymorphic association: text named *_type, or a single-column key
// to a content-type table.
func (cat *Catalog) IsTypeColumn(t *Table, c *Column) bool {
	if strings.HasSuffix(strings.ToLower(c.Name), "_type") && isText(c.Type) {
		return true
	}
	for _, fk := range t.ForeignKeys {
		if len(fk.Columns) == 1 && fk.Columns[0] == c.Name {
			if p := cat.Table(fk.RefTable); p != nil && IsContentTypeTable(p) {
				return true
			}
		}
	}
	return false
}

func isText(typ string) bool { return typ == "text" || strings.HasPrefix(typ, "character") }

// typeColumn is a type column whose values typeValues reads.
type typeColumn struct {
	table *Table
	col   *Column
}

// typeValues fills Values of the type columns: from pg_stats where the
// table was analyzed, else by reading small tables.
func (l *loader) typeValues(ctx context.Context) error {
	cat := NewCatalog(l.list)
	var cols []typeColumn
	for _, t := range l.list {
		for i := range t.Columns {
			if cat.IsTypeColumn(t, &t.Columns[i]) {
				cols = append(cols, typeColumn{table: t, col: &t.Columns[i]})
			}
		}
	}
	if len(cols) == 0 {
		return nil
	}
	if err := l.typeStats(ctx, cols); err != nil {
		return err
	}
	var small []typeColumn
	for _, tc := range cols {
		if !tc.col.ValuesComplete && tc.col.Values == nil && tc.table.Bytes <= CountRowsMaxBytes && l.readable[tc.table.OID] {
			small = append(small, tc)
		}
	}
	return l.readTypeValues(ctx, small)
}

// typeStats reads the most common values of the type columns; they are
// all the values when the planner counted that many distinct ones.
func (l *loader) typeStats(ctx context.Context, cols []typeColumn) error {
	byKey := map[string]*Column{}
	var oids []uint32
	var names []string
	for _, tc := range cols {
		byKey[fmt.Sprint(tc.table.OID, ".", tc.col.Name)] = tc.col
		oids = append(oids, tc.table.OID)
		names = append(names, tc.col.Name)
	}
	const q = `
SELECT c.oid, s.attname::text, coalesce(s.most_common_vals::text::text[], '{}'), s.n_distinct::float8, s.null_frac::float8
FROM unnest($1::oid[], $2::text[]) AS w(oid, attname)
JOIN pg_class c ON c.oid = w.oid
JOIN pg_namespace n ON n.oid = c.relnamespace
JOIN pg_stats s ON s.schemaname = n.nspname AND s.tablename = c.relname AND s.attname = w.attname AND s.inherited = (c.relkind = 'p')`
	return db.EachRow(ctx, l.tx, q, []any{oids, names}, func(row pgx.CollectableRow) error {
		var (
			rel            uint32
			name           string
			vals           []string
			distinct, null float64
		)
		if err := row.Scan(&rel, &name, &vals, &distinct, &null); err != nil {
			return err
		}
		if c := byKey[fmt.Sprint(rel, ".", name)]; c != nil {
			c.Values = vals
			c.ValuesComplete = null >= 1 || distinct > 0 && int(distinct) <= len(vals)
		}
		return nil
	})
}

// readTypeValues reads the distinct values of small tables' type columns,
// in one query.
func (l *loader) readTypeValues(ctx context.Context, cols []typeColumn) error {
	if len(cols) == 0 {
		return nil
	}
	parts := make([]string, len(cols))
	for i, tc := range cols {
		col := db.Ident(tc.col.Name)
		parts[i] = fmt.Sprintf("SELECT %d, array(SELECT DISTINCT %s::text FROM %s WHERE %s IS NOT NULL ORDER BY 1 LIMIT %d)",
			i, col, tc.table.Name.Quoted(), col, maxTypeValues+1)
	}
	return db.EachRow(ctx, l.tx, strings.Join(parts, " UNION ALL "), nil, func(row pgx.CollectableRow) error {
		var (
			i    int
			vals []string
		)
		if err := row.Scan(&i, &vals); err != nil {
			return err
		}
		c := cols[i].col
		c.ValuesComplete = len(vals) <= maxTypeValues
		c.Values = vals[:min(len(vals), maxTypeValues)]
		return nil
	})
}

// contentTypes reads the rows of small content-type tables, so plan can
// name Django's content types by app_label.model.
func (l *loader) contentTypes(ctx context.Context) error {
	var tables []*Table
	for _, t := range l.list {
		if IsContentTypeTable(t) && t.Bytes <= CountRowsMaxBytes && l.readable[t.OID] {
			tables = append(tables, t)
		}
	}
	if len(tables) == 0 {
		return nil
	}
	parts := make([]string, len(tables))
	for i, t := range tables {
		parts[i] = fmt.Sprintf("SELECT %d, %s::text, app_label || '.' || model FROM %s", i, db.Ident(t.PrimaryKey.Columns[0]), t.Name.Quoted())
	}
	l.ctypes = map[Name]map[string]string{}
	return db.EachRow(ctx, l.tx, strings.Join(parts, " UNION ALL "), nil, func(row pgx.CollectableRow) error {
		var (
			i         int
			key, name string
		)
		if err := row.Scan(&i, &key, &name); err != nil {
			return err
		}
		n := tables[i].Name
		if l.ctypes[n] == nil {
			l.ctypes[n] = map[string]string{}
		}
		l.ctypes[n][key] = name
		return nil
	})
}
