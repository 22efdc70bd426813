package verify

import (
	"context"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/tenantmover/tenantmover/internal/plan"
)

// CheckSource checks, on the source alone, the tenant invariant that the
// target will enforce: every nested row carries its parent's tenant, and
// every row's foreign keys to other distributed tables point at rows of the
// same tenant (the target makes those keys composite with the tenant
// column). It needs the tenant columns filled, so it runs after backfill
// and before copy: a row referencing another tenant's row would otherwise
// be found only when the target's foreign keys are created, after the
// whole copy. Violations are Differences of kind invariant, with sample
// keys; only cfg.Tables, Tenants, MaxSamples and Workers apply.
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
	if err := v.checkInvariants(ctx); err != nil {
		return nil, err
	}
	return v.result(), nil
}
