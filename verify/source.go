package verify

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/tenantmover/tenantmover/internal/db"
	"github.com/tenantmover/tenantmover/internal/plan"
)

// CheckSource checks, on the source alone, what the target will enforce
// about tenants: every row of a distributed table has a tenant (Citus
// refuses a NULL distribution column), every nested row carries its
// parent's tenant, and every row's foreign keys to other distributed tables
// point at rows of the same tenant (the target makes those keys composite
// with the tenant column). It needs the tenant columns filled, so it runs
// after backfill and before copy: such rows would otherwise stop the copy,
// or the creation of the target's foreign keys after it. Violations are
// Differences of kind no_tenant and invariant, with sample keys; only
// cfg.Tables, Tenants, MaxSamples and Workers apply.
func CheckSource(ctx context.Context, src *pgxpool.Pool, p *plan.Plan, cfg Config, onProgress func(Progress)) (*Result, error) {
	cfg, tables, err := cfg.prepare(p)
	if err != nil {
		return nil, err
	}
	source := side{name: "source", pool: src}
	v := &verifier{
		p: p, cfg: cfg, onProgress: onProgress, sourceOnly: true,
		src: source, dst: source,
		summaries: map[string]*TableSummary{},
	}
	if err := v.resolve(ctx, tables); err != nil {
		return nil, err
	}
	if err := v.checkTenantsPresent(ctx); err != nil {
		return nil, err
	}
	if err := v.checkInvariants(ctx); err != nil {
		return nil, err
	}
	return v.result(), nil
}

// checkTenantsPresent finds the rows of distributed tables (other than the
// root, whose key is the tenant) whose tenant column is NULL.
func (v *verifier) checkTenantsPresent(ctx context.Context) error {
	var specs []*spec
	for _, s := range v.specs {
		t := s.t
		if s.missing == "" && (t.Kind == plan.Direct || t.Kind == plan.Nested) && v.srcCols.has(t.Name(), t.TenantColumn) {
			specs = append(specs, s)
		}
	}
	return fanOut(ctx, v.cfg.Workers, specs, func(ctx context.Context, s *spec) error {
		col := db.QuoteIfNeeded(s.t.TenantColumn)
		sql := fmt.Sprintf("SELECT (%s)::text FROM %s AS t0 WHERE t0.%s IS NULL", s.src.key, s.t.Name().Quoted(), db.Ident(s.t.TenantColumn))
		n, keys, err := v.sampleKeys(ctx, v.src, sql, nil)
		if err != nil {
			return fmt.Errorf("looking for rows of %s without a tenant: %w", s.name, err)
		}
		if n > 0 {
			v.record(s.name, nil, []Difference{{Kind: KindNoTenant, Table: s.name, Source: n, Keys: keys,
				Detail: fmt.Sprintf("%d rows have no tenant (%s IS NULL): Citus cannot store a NULL distribution column", n, col)}})
		}
		return nil
	})
}
