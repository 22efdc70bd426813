package verify

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"sync"

	"github.com/jackc/pgx/v5/pgxpool"
	"golang.org/x/sync/errgroup"

	"github.com/tenantmover/tenantmover/internal/citus"
	"github.com/tenantmover/tenantmover/internal/plan"
	"github.com/tenantmover/tenantmover/internal/schema"
)

// spec is one table to compare, with how to read it on each side.
type spec struct {
	t        *plan.Table
	name     string   // as shown: public.store
	common   []string // columns both sides have, by name
	src, dst relation
	// missing is why the table cannot be compared ("" when it can).
	missing string
}

// verifier holds one Run's state.
type verifier struct {
	p          *plan.Plan
	cfg        Config
	src, dst   side
	targetURL  string
	onProgress func(Progress)
	specs      []*spec
	sourceOnly bool // CheckSource: the invariants on the source, nothing else
	srcCols    columns
	dstCols    columns

	mu         sync.Mutex
	diffs      []Difference
	summaries  map[string]*TableSummary
	shards     int
	placements int
}

// Run compares the source and the target table by table and tenant by
// tenant, and on a Citus target checks every shard placement. src and dst
// are pools on the source and on the target (the Citus coordinator);
// targetURL is the target's connection string, from which the workers' are
// derived (same user, password and options, the node's host and port). p is
// the plan built on the source. onProgress may be nil.
//
// Differences are not errors: Run returns them in the Result (Match false)
// and an error only when it could not compare.
func Run(ctx context.Context, src, dst *pgxpool.Pool, targetURL string, p *plan.Plan, cfg Config, onProgress func(Progress)) (*Result, error) {
	cfg, tables, err := cfg.prepare(p)
	if err != nil {
		return nil, err
	}
	v := &verifier{
		p: p, cfg: cfg, targetURL: targetURL, onProgress: onProgress,
		src:       side{name: "source", pool: src},
		dst:       side{name: "target", pool: dst},
		summaries: map[string]*TableSummary{},
	}
	if err := v.detectCitus(ctx); err != nil {
		return nil, err
	}
	if err := v.resolve(ctx, tables); err != nil {
		return nil, err
	}
	if err := v.compareTables(ctx); err != nil {
		return nil, err
	}
	if err := v.checkInvariants(ctx); err != nil {
		return nil, err
	}
	if v.dst.citus {
		if err := v.checkShards(ctx); err != nil {
			return nil, err
		}
	}
	return v.result(), nil
}

// detectCitus finds out whether the target is a Citus coordinator (shard
// checks) or a plain PostgreSQL database (none).
func (v *verifier) detectCitus(ctx context.Context) error {
	ok, err := citus.IsCitus(ctx, v.dst.pool)
	if err != nil {
		return fmt.Errorf("target: %w", err)
	}
	if !ok {
		return nil
	}
	if _, err := citus.RequireCoordinator(ctx, v.dst.pool); err != nil {
		return err
	}
	v.dst.citus = true
	return nil
}

// resolve reads both sides' columns and builds each table's relations.
func (v *verifier) resolve(ctx context.Context, tables []*plan.Table) error {
	names := make([]schema.Name, 0, len(v.p.Tables))
	for _, t := range v.p.Tables {
		names = append(names, t.Name())
	}
	var srcCols, dstCols columns
	g, gctx := errgroup.WithContext(ctx)
	g.Go(func() (err error) { srcCols, err = readColumns(gctx, v.src, names); return err })
	if !v.sourceOnly { // CheckSource: both sides are the source
		g.Go(func() (err error) { dstCols, err = readColumns(gctx, v.dst, names); return err })
	}
	if err := g.Wait(); err != nil {
		return err
	}
	if v.sourceOnly {
		dstCols = srcCols
	}
	v.srcCols, v.dstCols = srcCols, dstCols
	for _, t := range tables {
		s, err := v.newSpec(t, srcCols, dstCols)
		if err != nil {
			return err
		}
		v.specs = append(v.specs, s)
	}
	if v.cfg.Checksum {
		return v.prepareHashes(ctx)
	}
	return nil
}

// prepareHashes sets the row hash of every table on both sides.
func (v *verifier) prepareHashes(ctx context.Context) error {
	var types []string
	for _, s := range v.specs {
		for _, c := range s.common {
			types = append(types, v.srcCols[s.t.Name()][c])
		}
	}
	h, err := newHasher(ctx, []side{v.src, v.dst}, types)
	if err != nil {
		return err
	}
	for _, s := range v.specs {
		if s.missing == "" {
			s.src.hash = h.rowHash(s.common, v.srcCols[s.t.Name()], v.dstCols[s.t.Name()])
			s.dst.hash = s.src.hash
		}
	}
	return nil
}

func (v *verifier) newSpec(t *plan.Table, srcCols, dstCols columns) (*spec, error) {
	s := &spec{t: t, name: t.Name().String()}
	switch {
	case srcCols[t.Name()] == nil:
		s.missing = "the table does not exist on the source"
		return s, nil
	case dstCols[t.Name()] == nil:
		s.missing = "the table does not exist on the target"
		return s, nil
	}
	for c := range srcCols[t.Name()] {
		if dstCols.has(t.Name(), c) {
			s.common = append(s.common, c)
		}
	}
	sort.Strings(s.common)
	var err error
	if s.src, err = buildRelation(v.p, t, srcCols, t.Name().Quoted(), s.common); err != nil {
		return nil, fmt.Errorf("source: %w", err)
	}
	if s.dst, err = buildRelation(v.p, t, dstCols, t.Name().Quoted(), s.common); err != nil {
		return nil, fmt.Errorf("target: %w", err)
	}
	return s, nil
}

// record adds a table's differences (and its summary) to the result.
func (v *verifier) record(table string, sum *TableSummary, diffs []Difference) {
	v.mu.Lock()
	defer v.mu.Unlock()
	if sum != nil {
		v.summaries[table] = sum
	}
	if s := v.summaries[table]; s != nil {
		s.Differences += len(diffs)
	}
	v.diffs = append(v.diffs, diffs...)
}

// result assembles the Result with differences in a stable order: by
// table in plan order, then kind, tenant and shard.
func (v *verifier) result() *Result {
	order := map[string]int{}
	res := &Result{Summary: Summary{Checksum: v.cfg.Checksum, Citus: v.dst.citus, Shards: v.shards, Placements: v.placements}}
	for i, s := range v.specs {
		order[s.name] = i
		if sum := v.summaries[s.name]; sum != nil {
			res.Summary.Tables = append(res.Summary.Tables, *sum)
		}
	}
	kinds := map[string]int{KindCount: 0, KindChecksum: 1, KindNoTenant: 2, KindInvariant: 3, KindMisplaced: 4, KindPlacement: 5}
	diffs := v.diffs
	sort.SliceStable(diffs, func(i, j int) bool {
		a, b := diffs[i], diffs[j]
		switch {
		case a.Table != b.Table:
			return order[a.Table] < order[b.Table]
		case a.Kind != b.Kind:
			return kinds[a.Kind] < kinds[b.Kind]
		case a.Tenant != b.Tenant:
			return strings.Compare(a.Tenant, b.Tenant) < 0
		}
		return a.Shard < b.Shard
	})
	for i := range diffs {
		if diffs[i].Keys == nil {
			diffs[i].Keys = []string{}
		}
	}
	res.Differences = append([]Difference{}, diffs...)
	res.Match = len(diffs) == 0
	return res
}

// fanOut runs fn for every element with at most cfg.Workers at a time.
func fanOut[T any](ctx context.Context, workers int, items []T, fn func(context.Context, T) error) error {
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(workers)
	for _, it := range items {
		g.Go(func() error { return fn(gctx, it) })
	}
	return g.Wait()
}
