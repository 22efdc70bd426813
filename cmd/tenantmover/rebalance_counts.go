package main

import (
	"fmt"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/urfave/cli/v2"

	"github.com/tenantmover/tenantmover/internal/citus"
)

// verifyCountsJSON is the --verify part of the JSON documents of rebalance
// start and isolate.
type verifyCountsJSON struct {
	Tables      int               `json:"tables"`
	Tenants     int               `json:"tenants"`
	Rows        int64             `json:"rows"`
	Differences []citus.CountDiff `json:"differences"`
}

// countsBefore counts rows per tenant when --verify is given: of the
// tables given, or of every distributed table.
func countsBefore(c *cli.Context, pool *pgxpool.Pool, tables []citus.Table) (citus.TenantCounts, error) {
	if !c.Bool("verify") {
		return nil, nil
	}
	counts, err := countTenants(c, pool, tables)
	if err != nil {
		return nil, fmt.Errorf("counting rows per tenant before the change: %w", err)
	}
	newLogger(c).Info("counted rows per tenant before the change", "tables", len(counts), "tenants", counts.Tenants(), "rows", counts.Rows())
	return counts, nil
}

// checkCountsAfter recounts and compares; a changed count exits 2.
func checkCountsAfter(c *cli.Context, pool *pgxpool.Pool, tables []citus.Table, before citus.TenantCounts, out **verifyCountsJSON) error {
	if before == nil {
		return nil
	}
	after, err := countTenants(c, pool, tables)
	if err != nil {
		return fmt.Errorf("counting rows per tenant after the change: %w", err)
	}
	diffs := citus.Diff(before, after)
	if diffs == nil {
		diffs = []citus.CountDiff{} // JSON: [] rather than null
	}
	*out = &verifyCountsJSON{Tables: len(after), Tenants: after.Tenants(), Rows: after.Rows(), Differences: diffs}
	if len(diffs) == 0 {
		fmt.Fprintf(stderrOf(c), "Verified: %d rows of %d tenant/table pairs in %d tables, identical before and after.\n", after.Rows(), after.Tenants(), len(after))
		return nil
	}
	fmt.Fprintln(stderrOf(c), "VERIFY FAILED:", (&citus.CountsChangedError{Diffs: diffs}).Error())
	return &differencesError{msg: fmt.Sprintf("per-tenant row counts changed for %d tenant/table pairs (listed above)", len(diffs))}
}

// countTenants counts rows per tenant of tables, or of every distributed
// table when tables is nil.
func countTenants(c *cli.Context, pool *pgxpool.Pool, tables []citus.Table) (citus.TenantCounts, error) {
	if tables == nil {
		var err error
		if tables, err = citus.Tables(c.Context, pool); err != nil {
			return nil, err
		}
	}
	return citus.CountTenants(c.Context, pool, tables)
}
