package verify

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5"

	"github.com/tenantmover/tenantmover/internal/schema"
)

// columns is what one side has of each table: the data columns by name,
// with their types as SQL text (format_type); generated columns are left
// out because copy never writes them. A table absent from the map does not
// exist on that side.
type columns map[schema.Name]map[string]string

// has reports whether table has column on this side.
func (c columns) has(table schema.Name, column string) bool {
	_, ok := c[table][column]
	return column != "" && ok
}

// readColumns reads the columns of the given tables on one side in one
// catalog query.
func readColumns(ctx context.Context, s side, tables []schema.Name) (columns, error) {
	schemas, names := make([]string, len(tables)), make([]string, len(tables))
	for i, t := range tables {
		schemas[i], names[i] = t.Schema, t.Name
	}
	out := columns{}
	err := s.each(ctx, `
		SELECT n.nspname, c.relname, a.attname, pg_catalog.format_type(a.atttypid, a.atttypmod)
		FROM unnest($1::text[], $2::text[]) AS w(nspname, relname)
		JOIN pg_catalog.pg_namespace n ON n.nspname = w.nspname
		JOIN pg_catalog.pg_class c ON c.relnamespace = n.oid AND c.relname = w.relname AND c.relkind IN ('r', 'p')
		JOIN pg_catalog.pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped AND a.attgenerated = ''`,
		[]any{schemas, names}, func(r pgx.Rows) error {
			var t schema.Name
			var col, typ string
			if err := r.Scan(&t.Schema, &t.Name, &col, &typ); err != nil {
				return err
			}
			if out[t] == nil {
				out[t] = map[string]string{}
			}
			out[t][col] = typ
			return nil
		})
	if err != nil {
		return nil, fmt.Errorf("reading table columns: %w", err)
	}
	return out, nil
}
