package verify

import (
	"context"
	"fmt"
	"slices"
	"sort"

	"github.com/tenantmover/tenantmover/internal/plan"
)

// compareTables compares every table's per-tenant counts (and checksums),
// cfg.Workers tables at a time.
func (v *verifier) compareTables(ctx context.Context) error {
	tenants, err := v.estimateTenants(ctx)
	if err != nil {
		return err
	}
	var total int64
	for _, s := range v.specs {
		total += v.units(s, tenants)
	}
	tr := newTracker(v.emit, StepCompare, total)
	return fanOut(ctx, v.win, v.cfg.Workers, largestFirst(v.specs), func(ctx context.Context, s *spec) error {
		return v.compareTable(ctx, s, tr.share(v.units(s, tenants)))
	})
}

// largestFirst orders tables by size, biggest first, so the biggest table
// never starts last and holds up the end while the other workers idle.
func largestFirst(specs []*spec) []*spec {
	out := append([]*spec(nil), specs...)
	sort.SliceStable(out, func(i, j int) bool { return out[i].t.Source.Bytes > out[j].t.Source.Bytes })
	return out
}

// units is what a table is worth in the compare phase's progress.
func (v *verifier) units(s *spec, tenants int64) int64 {
	if s.t.Kind == plan.Reference {
		return 1
	}
	return tenants
}

// estimateTenants is how many tenants each distributed table is expected
// to have, for progress only: the tenant list's length, else the planner's
// row estimate of the tenant table, else its count.
func (v *verifier) estimateTenants(ctx context.Context) (int64, error) {
	if len(v.cfg.Tenants) > 0 {
		return int64(len(v.cfg.Tenants)), nil
	}
	if v.p.Root == nil {
		return 1, nil
	}
	if n := v.p.Root.Source.EstimatedRows; n > 0 {
		return n, nil
	}
	var n int64
	if err := v.src.pool.QueryRow(ctx, "SELECT count(*) FROM "+v.p.Root.Name().Quoted()).Scan(&n); err != nil {
		return 0, fmt.Errorf("source: counting tenants in %s: %w", v.p.Root.Name(), err)
	}
	return max(n, 1), nil
}

// tenantDiff is a difference found by the merge, with its tenant's key for
// narrowing down.
type tenantDiff struct {
	Difference
	key       sortKey
	placement int // for placement differences: the placement that disagrees with the first
}

// compareTable merges the per-tenant aggregates of one table from both
// sides, then narrows the first differing tenants down to sample keys.
func (v *verifier) compareTable(ctx context.Context, s *spec, progress *share) error {
	sum := &TableSummary{Table: s.name, Kind: string(s.t.Kind)}
	if s.missing != "" {
		v.record(s.name, sum, []Difference{{Kind: KindCount, Table: s.name, Detail: s.missing}})
		progress.finish()
		return nil
	}
	diffs, err := v.mergeTable(ctx, s, sum, progress)
	if err != nil {
		return fmt.Errorf("comparing %s: %w", s.name, err)
	}
	progress.finish()
	out := make([]Difference, len(diffs))
	for i, d := range diffs {
		if i < v.cfg.MaxSamples {
			n, err := narrow(ctx, v.src, v.dst, s.src, s.dst, d.key, v.cfg.Checksum, v.cfg.MaxSamples)
			if err != nil {
				return fmt.Errorf("narrowing down %s tenant %s: %w", s.name, d.key, err)
			}
			d.Keys, d.Detail = n.keys, n.detail("source", "target")
			if len(n.keys) == 0 && v.dst.citus {
				d.Detail += "; on Citus, rows outside their tenant's shard are counted but invisible to per-tenant queries: see the misplaced differences"
			}
		}
		out[i] = d.Difference
	}
	v.record(s.name, sum, out)
	return nil
}

// mergeTable runs the aggregate on both sides concurrently and merges the
// two tenant-ordered streams.
func (v *verifier) mergeTable(ctx context.Context, s *spec, sum *TableSummary, progress *share) ([]tenantDiff, error) {
	checksum := v.cfg.Checksum
	filter := len(v.cfg.Tenants) > 0 && s.src.tenant != ""
	var args []any
	if filter {
		args = []any{v.cfg.Tenants}
	}
	srcSQL, srcArgs := s.src.aggregateSQL(checksum, filter, false)
	dstSQL, dstArgs := s.dst.aggregateSQL(checksum, filter, false)
	cursors, err := openAll(ctx, []query{
		{on: v.src, sql: srcSQL, args: append(slices.Clone(args), srcArgs...)},
		{on: v.dst, sql: dstSQL, args: append(slices.Clone(args), dstArgs...)},
	})
	if err != nil {
		return nil, err
	}
	defer closeAll(cursors)
	sc, dc := cursors[0], cursors[1]

	var diffs []tenantDiff
	streams := []reader[group]{groupReader("source", sc, checksum, false, len(s.src.folds)), groupReader("target", dc, checksum, false, len(s.dst.folds))}
	err = mergeSorted(streams, func(g group) sortKey { return g.key }, func(at []*group) (bool, error) {
		src, dst := orZero(at[0], at[1]), orZero(at[1], at[0])
		sum.Tenants++
		sum.SourceRows += src.rows
		sum.TargetRows += dst.rows
		if d, ok := diffGroups(s, src, dst, checksum); ok {
			diffs = append(diffs, d)
		}
		v.foldFound(s.src.folds, src)
		v.foldFound(s.dst.folds, dst)
		progress.tick()
		return false, nil
	})
	return diffs, err
}

// foldFound hands one tenant's violation counts to the folds they count.
func (v *verifier) foldFound(folds []*fold, g group) {
	for i, n := range g.violations {
		folds[i].found(g.key, n, v.cfg.MaxSamples)
	}
}

// orZero is g, or an empty group with other's key when g is missing.
func orZero(g, other *group) group {
	if g != nil {
		return *g
	}
	return group{key: other.key}
}

// diffGroups compares one tenant's aggregates.
func diffGroups(s *spec, src, dst group, checksum bool) (tenantDiff, bool) {
	d := tenantDiff{key: src.key, Difference: Difference{Table: s.name, Tenant: src.key.String(), Source: src.rows, Target: dst.rows}}
	if s.t.Kind == plan.Reference {
		d.Tenant = ""
	}
	switch {
	case src.rows != dst.rows:
		d.Kind = KindCount
	case checksum && src.sum != dst.sum:
		d.Kind = KindChecksum
	default:
		return d, false
	}
	return d, true
}
