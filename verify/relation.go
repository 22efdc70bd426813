package verify

import (
	"fmt"
	"strings"

	"github.com/tenantmover/tenantmover/internal/db"
	"github.com/tenantmover/tenantmover/internal/plan"
)

// relation is how to read one table on one side, as SQL fragments over the
// table aliased t0. Every identifier in it is quoted; values are always
// bind parameters.
type relation struct {
	// from is the FROM clause: the table (or a shard of it) as t0, and on a
	// source that lacks the tenant column, the joins along the plan's path
	// to the nearest table that has it.
	from string
	// tenant is the tenant expression; "" for reference tables.
	tenant string
	// key is a row's primary key as text (the whole row when the table has
	// no primary key), the order rows are narrowed down in.
	key string
	// hash is a 64-bit hash of a row over the columns both sides have (see
	// hasher); set only when checksums are compared.
	hash string
	// keyType is the tenant key's SQL type, to cast tenant values (bound as
	// text) so comparisons use the column's own type and indexes.
	keyType string
	// folds are the invariant checks the per-tenant aggregate also counts
	// (see fold); only on the source's and the coordinator's relations.
	folds []*fold
}

// buildRelation makes the relation of table t reading base (the quoted
// table or shard name) on a side whose columns are cols. common are the
// columns both sides have, sorted by name.
func buildRelation(p *plan.Plan, t *plan.Table, cols columns, base string, common []string) (relation, error) {
	r := relation{from: base + " AS t0", keyType: p.KeyType}
	if r.keyType == "" {
		r.keyType = "text"
	}
	r.key = record("t0", common)
	if pk := t.Source.PrimaryKey; pk != nil && len(pk.Columns) > 0 && containsAll(common, pk.Columns) {
		if len(pk.Columns) == 1 {
			r.key = "(t0." + db.Ident(pk.Columns[0]) + ")::text"
		} else {
			r.key = record("t0", pk.Columns)
		}
	}
	if t.Kind == plan.Reference {
		return r, nil
	}
	joins, tenant, err := tenantPath(p, t, cols)
	if err != nil {
		return r, err
	}
	r.from += joins
	r.tenant = tenant
	return r, nil
}

// tenantPath finds the tenant of t's rows on a side: its own tenant column
// when the side has it, else the tenant of the nearest table along the
// plan's path that has one (LEFT JOINs, so a row whose parent is missing
// counts under the tenant NULL instead of vanishing).
func tenantPath(p *plan.Plan, t *plan.Table, cols columns) (joins, tenant string, err error) {
	if cols.has(t.Name(), t.TenantColumn) {
		return "", "t0." + db.Ident(t.TenantColumn), nil
	}
	if len(t.Branches) > 0 {
		return "", "", fmt.Errorf("%s: no tenant column %s yet, and its rows reach the tenant through a polymorphic association: run backfill first", t.Name(), db.QuoteIfNeeded(t.TenantColumn))
	}
	var b strings.Builder
	for i, hop := range t.Path {
		from, alias := fmt.Sprintf("t%d", i), fmt.Sprintf("t%d", i+1)
		to := p.Table(hop.To)
		if to == nil {
			return "", "", fmt.Errorf("%s: path goes through %s, which is not in the plan", t.Name(), hop.To)
		}
		// A reference to the root's key already is the tenant value.
		if to.Kind == plan.Root && len(hop.FromColumns) == 1 && len(hop.ToColumns) == 1 && hop.ToColumns[0] == p.RootKey {
			return b.String(), from + "." + db.Ident(hop.FromColumns[0]), nil
		}
		fmt.Fprintf(&b, " LEFT JOIN %s AS %s ON %s", hop.To.Quoted(), alias, equalities(alias, hop.ToColumns, from, hop.FromColumns))
		if cols.has(hop.To, to.TenantColumn) {
			return b.String(), alias + "." + db.Ident(to.TenantColumn), nil
		}
	}
	return "", "", fmt.Errorf("%s: no tenant column %s and no path to a table that has one", t.Name(), db.QuoteIfNeeded(t.TenantColumn))
}

// equalities is "a.x = b.y AND ..." for paired column lists.
func equalities(a string, aCols []string, b string, bCols []string) string {
	parts := make([]string, len(aCols))
	for i := range aCols {
		parts[i] = a + "." + db.Ident(aCols[i]) + " = " + b + "." + db.Ident(bCols[i])
	}
	return strings.Join(parts, " AND ")
}

// record is ROW(alias.c1, alias.c2, ...)::text: PostgreSQL's own record
// output quotes and escapes every value, so distinct rows give distinct
// text. It is the key of rows of a table without a primary key.
func record(alias string, cols []string) string {
	parts := make([]string, len(cols))
	for i, c := range cols {
		parts[i] = alias + "." + db.Ident(c)
	}
	return "ROW(" + strings.Join(parts, ", ") + ")::text"
}

func containsAll(set, want []string) bool {
	for _, w := range want {
		found := false
		for _, s := range set {
			found = found || s == w
		}
		if !found {
			return false
		}
	}
	return true
}

// rowHash is the row hash expression; it fails loudly in SQL if used
// without a hasher.
func (r relation) rowHash() string {
	if r.hash == "" {
		return "NULL::bigint"
	}
	return r.hash
}

// tenantFilter restricts rows to the tenants bound as a text array in
// parameter n.
func (r relation) tenantFilter(n int) string {
	return fmt.Sprintf("%s = ANY($%d::text[]::%s[])", r.tenant, n, r.keyType)
}

// tenantIs restricts rows to one tenant, bound as text in parameter n (or
// to rows without a tenant when null).
func (r relation) tenantIs(null bool, n int) string {
	if null {
		return r.tenant + " IS NULL"
	}
	return fmt.Sprintf("%s = $%d::text::%s", r.tenant, n, r.keyType)
}

// aggregateSQL counts (and with checksum, sums the row hashes of) every
// tenant's rows, in the byte order of the tenant's text form; a reference
// table gives one row for the whole table, tenant "". With filter, $1 is
// the tenant list. With hash, each group also carries worker_hash of its
// tenant (Citus nodes only). Each of r's folds adds its violations' count
// to each group; args are the bind values of those, after the filter's.
func (r relation) aggregateSQL(checksum, filter, hash bool) (sql string, args []any) {
	var b strings.Builder
	if r.tenant == "" {
		b.WriteString("SELECT ''::text AS k, count(*)")
	} else {
		fmt.Fprintf(&b, "SELECT (%s)::text COLLATE \"C\" AS k, count(*)", r.tenant)
	}
	if checksum {
		fmt.Fprintf(&b, ", coalesce(sum(%s), 0)::text", r.rowHash())
	}
	if hash {
		fmt.Fprintf(&b, ", pg_catalog.worker_hash(%s)", r.tenant)
	}
	first := 1
	if filter {
		first = 2
	}
	joins, counts, args := r.foldSQL(first)
	for _, c := range counts {
		b.WriteString(", " + c)
	}
	fmt.Fprintf(&b, " FROM %s%s", r.from, joins)
	if r.tenant == "" {
		return b.String(), args
	}
	if filter {
		b.WriteString(" WHERE " + r.tenantFilter(1))
	}
	fmt.Fprintf(&b, " GROUP BY %s ORDER BY k NULLS FIRST", r.tenant)
	return b.String(), args
}

// rowsSQL lists the keys (and with checksum the row hashes) of one
// tenant's rows ($1, unless null) in the byte order of the key text; of
// every row for a reference table.
func (r relation) rowsSQL(checksum, null bool) string {
	var b strings.Builder
	fmt.Fprintf(&b, "SELECT (%s) COLLATE \"C\" AS k", r.key)
	if checksum {
		fmt.Fprintf(&b, ", %s", r.rowHash())
	}
	fmt.Fprintf(&b, " FROM %s", r.from)
	if r.tenant != "" {
		b.WriteString(" WHERE " + r.tenantIs(null, 1))
	}
	b.WriteString(" ORDER BY k")
	return b.String()
}
