package schema

import (
	"context"
	"fmt"
	"strings"

	"github.com/jackc/pgx/v5"

	"github.com/tenantmover/tenantmover/internal/db"
)

// Plan chooses among equally short tenant paths by how often their
// foreign-key columns are NULL: a column the application rarely sets
// leaves rows without a tenant. The figure must be cheap, since plan runs
// against production: the planner's statistics when the table was
// analyzed, else a count, but only of tables small enough to count in
// milliseconds (the same bound as row estimates, CountRowsMaxBytes).

// nullFractions marks NOT NULL columns as never NULL and reads
// pg_stats.null_frac for the others (the inherited statistics of a
// partitioned table, the plain ones of any other).
func (l *loader) nullFractions(ctx context.Context) error {
	for _, t := range l.list {
		for i := range t.Columns {
			if t.Columns[i].NotNull {
				t.Columns[i].NullsKnown = true
			}
		}
	}
	const q = `
SELECT c.oid, s.attname::text, s.null_frac::float8
FROM pg_class c
JOIN pg_namespace n ON n.oid = c.relnamespace
JOIN pg_stats s ON s.schemaname = n.nspname AND s.tablename = c.relname AND s.inherited = (c.relkind = 'p')
WHERE c.oid = ANY($1)`
	return db.EachRow(ctx, l.tx, q, []any{l.oids}, func(row pgx.CollectableRow) error {
		var (
			rel  uint32
			name string
			frac float64
		)
		if err := row.Scan(&rel, &name, &frac); err != nil {
			return err
		}
		if t := l.byOID[rel]; t != nil {
			if c := t.Column(name); c != nil && !c.NotNull {
				c.NullFrac, c.NullsKnown = frac, true
			}
		}
		return nil
	})
}

// nullCandidate is a table whose nullable columns countNulls counts.
type nullCandidate struct {
	table *Table
	cols  []string
}

// countNulls counts, in one query, the NULLs of the nullable columns that
// have no statistics, in tables of at most CountRowsMaxBytes (one scan of
// each such table).
func (l *loader) countNulls(ctx context.Context) error {
	var cands []nullCandidate
	for _, t := range l.list {
		if t.Bytes > CountRowsMaxBytes || !l.readable[t.OID] {
			continue
		}
		var cols []string
		for _, c := range t.Columns {
			if !c.NullsKnown {
				cols = append(cols, c.Name)
			}
		}
		if len(cols) > 0 {
			cands = append(cands, nullCandidate{table: t, cols: cols})
		}
	}
	if len(cands) == 0 {
		return nil
	}
	parts := make([]string, len(cands))
	for i, c := range cands {
		parts[i] = nullCountQuery(i, c)
	}
	return db.EachRow(ctx, l.tx, strings.Join(parts, " UNION ALL "), nil, func(row pgx.CollectableRow) error {
		var (
			i, col      int
			rows, nulls int64
		)
		if err := row.Scan(&i, &col, &rows, &nulls); err != nil {
			return err
		}
		c := cands[i].table.Column(cands[i].cols[col])
		c.NullsKnown = true
		if rows > 0 {
			c.NullFrac = float64(nulls) / float64(rows)
		}
		return nil
	})
}

// nullCountQuery is one table's part of countNulls: a row per column with
// the table's row count and the column's NULLs, from one scan.
func nullCountQuery(i int, c nullCandidate) string {
	aggs := []string{"count(*) AS n"}
	vals := make([]string, len(c.cols))
	for j, col := range c.cols {
		aggs = append(aggs, fmt.Sprintf("count(*) FILTER (WHERE %s IS NULL) AS c%d", db.Ident(col), j))
		vals[j] = fmt.Sprintf("(%d, s.c%d)", j, j)
	}
	return fmt.Sprintf("(SELECT %d, v.col, s.n, v.nulls FROM (SELECT %s FROM %s) AS s CROSS JOIN LATERAL (VALUES %s) AS v(col, nulls))",
		i, strings.Join(aggs, ", "), c.table.Name.Quoted(), strings.Join(vals, ", "))
}
