package citus

import (
	"context"
	"fmt"
	"sort"
	"strings"

	"github.com/tenantmover/tenantmover/internal/db"
)

// TenantCounts are the rows per tenant (distribution value, as text) of
// each hash-distributed table: taken before and after a shard move or
// isolation, they must be identical.
type TenantCounts map[db.QualifiedName]map[string]int64

// CountTenants counts rows per tenant in each of tables that is hash
// distributed (a grouped count the coordinator pushes to the workers).
// Rows with a NULL distribution value count under tenant "NULL".
func CountTenants(ctx context.Context, q Querier, tables []Table) (TenantCounts, error) {
	out := TenantCounts{}
	for _, t := range tables {
		if !t.IsHashDistributed() {
			continue
		}
		col := db.Ident(t.DistColumn)
		rows, err := q.Query(ctx, fmt.Sprintf(`SELECT coalesce(%[1]s::text, 'NULL'), count(*) FROM %[2]s GROUP BY %[1]s`, col, t.Name.Quoted()))
		if err != nil {
			return nil, fmt.Errorf("counting rows per tenant of %s: %w", t.Name, err)
		}
		counts := map[string]int64{}
		for rows.Next() {
			var (
				tenant string
				n      int64
			)
			if err := rows.Scan(&tenant, &n); err != nil {
				rows.Close()
				return nil, fmt.Errorf("counting rows per tenant of %s: %w", t.Name, err)
			}
			counts[tenant] = n
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return nil, fmt.Errorf("counting rows per tenant of %s: %w", t.Name, err)
		}
		out[t.Name] = counts
	}
	return out, nil
}

// Rows is the total over all tables and tenants.
func (c TenantCounts) Rows() int64 {
	var n int64
	for _, m := range c {
		for _, v := range m {
			n += v
		}
	}
	return n
}

// Tenants is the number of distinct (table, tenant) pairs.
func (c TenantCounts) Tenants() int {
	n := 0
	for _, m := range c {
		n += len(m)
	}
	return n
}

// CountDiff is a tenant whose rows in a table differ between two counts.
type CountDiff struct {
	Table  db.QualifiedName `json:"table"`
	Tenant string           `json:"tenant"`
	Before int64            `json:"before"`
	After  int64            `json:"after"`
}

// Diff lists every (table, tenant) whose count differs from before to
// after, ordered by table and tenant.
func Diff(before, after TenantCounts) []CountDiff {
	var out []CountDiff
	tables := map[db.QualifiedName]bool{}
	for t := range before {
		tables[t] = true
	}
	for t := range after {
		tables[t] = true
	}
	for t := range tables {
		keys := map[string]bool{}
		for k := range before[t] {
			keys[k] = true
		}
		for k := range after[t] {
			keys[k] = true
		}
		for k := range keys {
			if b, a := before[t][k], after[t][k]; a != b {
				out = append(out, CountDiff{Table: t, Tenant: k, Before: b, After: a})
			}
		}
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Table != out[j].Table {
			return out[i].Table.String() < out[j].Table.String()
		}
		return out[i].Tenant < out[j].Tenant
	})
	return out
}

// CountsChangedError says tenants' rows changed across a shard operation.
type CountsChangedError struct{ Diffs []CountDiff }

func (e *CountsChangedError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "per-tenant row counts changed across the operation in %d places (were writes running?):", len(e.Diffs))
	for i, d := range e.Diffs {
		if i == 10 {
			fmt.Fprintf(&b, "\n  ... and %d more", len(e.Diffs)-10)
			break
		}
		fmt.Fprintf(&b, "\n  %s tenant %s: %d rows before, %d after", d.Table, d.Tenant, d.Before, d.After)
	}
	return b.String()
}
