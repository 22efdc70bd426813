package verify

import (
	"context"
	"fmt"
	"strings"

	"github.com/tenantmover/tenantmover/internal/db"
	"github.com/tenantmover/tenantmover/internal/phase"
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
// cfg.Tables, Tenants, MaxSamples and Workers apply. It reads env.Source
// and env.Plan, and reports progress to env.Progress.
func CheckSource(ctx context.Context, env *phase.Env, cfg Config) (*Result, error) {
	if env.Target != "" {
		env = &phase.Env{Source: env.Source, Plan: env.Plan, Progress: env.Progress}
	}
	return check(ctx, env, cfg, SourceCheckName, (*verifier).resolve, (*verifier).checkTenantsPresent, (*verifier).planInvariants, (*verifier).checkInvariants)
}

// SourceCheckName is the name of CheckSource as a phase.
const SourceCheckName = "tenant-check"

// NewSourceCheck validates cfg and returns CheckSource as a phase of a
// migration, between backfill and copy: rows it finds would otherwise stop
// the copy, or the creation of the target's foreign keys after it. It fails
// with a *TenantProblemsError. Once it passed, a rerun does not read the
// source again (copy refuses what it would have found all the same).
func NewSourceCheck(cfg Config) (phase.Phase, error) {
	return phase.Of(SourceCheckName, phase.Once, cfg, Config.withDefaults, CheckSource, func(res *Result, err error) (phase.Result, error) {
		if err != nil {
			return phase.Result{}, err
		}
		out := phase.Result{Summary: res.Summary, Report: res}
		if !res.Match {
			return out, &TenantProblemsError{Differences: res.Differences}
		}
		out.Note = "every row has a tenant; foreign keys stay within it"
		return out, nil
	})
}

// TenantProblemsError lists the rows of distributed tables that have no
// tenant or reference another tenant's rows: Citus and the target's
// composite foreign keys would refuse them.
type TenantProblemsError struct {
	Differences []Difference
}

func (e *TenantProblemsError) Error() string {
	var noTenant, crossing int64
	for _, d := range e.Differences {
		if d.Kind == KindNoTenant {
			noTenant += d.Source
		} else {
			crossing += d.Source
		}
	}
	var what []string
	if noTenant > 0 {
		what = append(what, fmt.Sprintf("%d rows have no tenant (Citus cannot store a NULL distribution column)", noTenant))
	}
	if crossing > 0 {
		what = append(what, fmt.Sprintf("%d rows reference a row of another tenant (the target's foreign keys, composite with the tenant column, would reject them)", crossing))
	}
	return strings.Join(what, "; ") + "; they are listed with sample keys: correct or delete those rows on the source, or --exclude their tables, then rerun"
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
	return fanOut(ctx, v.win, v.cfg.Workers, specs, func(ctx context.Context, s *spec) error {
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
