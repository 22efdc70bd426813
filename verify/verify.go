package verify

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"golang.org/x/sync/errgroup"

	"github.com/tenantmover/tenantmover/internal/citus"
	"github.com/tenantmover/tenantmover/internal/db"
	"github.com/tenantmover/tenantmover/internal/phase"
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
	emit       *phase.Emitter
	win        *phase.Window // no new read starts past its end
	tables     []*plan.Table // the plan's tables being compared
	specs      []*spec
	sourceOnly bool // CheckSource: the invariants on the source, nothing else
	srcCols    columns
	dstCols    columns
	nodes      *nodePools       // on a Citus target: the nodes, opened on first use
	checks     []invariantCheck // invariant checks run on their own
	folds      []*fold          // invariant checks folded into the counts
	held       int              // invariant checks held by foreign keys, not run
	invariants []*InvariantCheck

	mu         sync.Mutex
	diffs      []Difference
	summaries  map[string]*TableSummary
	shards     int
	placements int
}

// Name is the phase's name.
const Name = "verify"

// New validates cfg and returns the verification as a phase of a
// migration: it only reads, so a rerun runs it again. Differences are not
// errors (see Result.Match).
func New(cfg Config) (phase.Phase, error) {
	return phase.Of(Name, phase.EveryRun, cfg, Config.withDefaults, Run, func(res *Result, err error) (phase.Result, error) {
		note := fmt.Sprintf("%d differences", len(res.Differences))
		if n := res.HeldInvariants(); n > 0 {
			note += fmt.Sprintf("; %d tenant invariant checks held by foreign keys, not rescanned", n)
		}
		return phase.Result{Summary: res.Summary, Note: note, Report: res}, err
	})
}

// Run compares env.Source and env.Target (the Citus coordinator) table by
// table and tenant by tenant, and on a Citus target checks every shard
// placement on its node, whose connection strings are derived from the
// target's (same user, password and options, the node's host and port).
// env.Plan is the plan built on the source; progress goes to env.Progress.
//
// Differences are not errors: Run returns them in the Result (Match false)
// and an error only when it could not compare.
func Run(ctx context.Context, env *phase.Env, cfg Config) (*Result, error) {
	if env.Target == "" {
		return nil, errors.New("verify compares a source with a target: no target given")
	}
	return check(ctx, env, cfg, Name, (*verifier).detectCitus, (*verifier).resolve, (*verifier).planInvariants,
		(*verifier).compareTables, (*verifier).checkInvariants, (*verifier).checkShards)
}

// check opens a verification of env that reports as the phase called name,
// takes its steps in order and returns its result.
func check(ctx context.Context, env *phase.Env, cfg Config, name string, steps ...func(*verifier, context.Context) error) (*Result, error) {
	started := time.Now()
	v, err := open(ctx, env, cfg, name)
	if err != nil {
		return nil, err
	}
	defer v.close()
	for _, step := range steps {
		if err := step(v, ctx); err != nil {
			return nil, err
		}
	}
	return v.result(name, started), nil
}

// open validates cfg, selects the plan's tables and opens the pools of a
// verification of env that reports as the phase called name: on the source,
// and on the target unless env has none (CheckSource: the source is both
// sides then).
func open(ctx context.Context, env *phase.Env, cfg Config, name string) (*verifier, error) {
	cfg, tables, err := cfg.prepare(env.Plan)
	if err != nil {
		return nil, err
	}
	v := &verifier{p: env.Plan, cfg: cfg, targetURL: env.Target, emit: phase.NewEmitter(name, env.Progress), win: env.Window,
		tables: tables, summaries: map[string]*TableSummary{}}
	src, err := openPool(ctx, env.Source, cfg.Workers)
	if err != nil {
		return nil, err
	}
	v.src, v.dst = side{name: "source", pool: src}, side{name: "source", pool: src}
	if err := env.Plan.CheckTenants(ctx, src, cfg.Tenants); err != nil {
		src.Close()
		return nil, err
	}
	if env.Target == "" {
		v.sourceOnly = true
		return v, nil
	}
	dst, err := openPool(ctx, env.Target, cfg.Workers)
	if err != nil {
		src.Close()
		return nil, err
	}
	v.dst = side{name: "target", pool: dst}
	return v, nil
}

// close closes the verification's pools.
func (v *verifier) close() {
	if v.nodes != nil {
		v.nodes.close()
	}
	v.src.pool.Close()
	if !v.sourceOnly {
		v.dst.pool.Close()
	}
}

// openPool opens a pool for verify's scans: one connection per worker, and
// one more to narrow a difference down to keys.
func openPool(ctx context.Context, url string, workers int) (*pgxpool.Pool, error) {
	opts := db.ForProfile(db.ProfileScans)
	opts.Settings = SessionSettings()
	opts.MaxConns = int32(workers + 1)
	return db.Open(ctx, url, opts)
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
	v.nodes = newNodePools(v.dst, v.targetURL, v.cfg.Workers)
	// A copy unit whose commit a crash left in doubt is invisible until
	// Citus resolves it (within a minute on its own): resolve it now
	// rather than report its rows missing.
	_, err = citus.RecoverPrepared(ctx, v.dst.pool)
	return err
}

// resolve reads both sides' columns and builds each table's relations.
func (v *verifier) resolve(ctx context.Context) error {
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
	for _, t := range v.tables {
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

// result assembles the Result of the phase called name with differences
// in a stable order: by table in plan order, then kind, tenant and shard.
func (v *verifier) result(name string, started time.Time) *Result {
	order := map[string]int{}
	res := &Result{Summary: phase.Summary{Phase: name},
		Overview: Overview{Checksum: v.cfg.Checksum, Citus: v.dst.citus, Shards: v.shards, Placements: v.placements}}
	for i, s := range v.specs {
		order[s.name] = i
		if sum := v.summaries[s.name]; sum != nil {
			res.Overview.Tables = append(res.Overview.Tables, *sum)
			res.Rows += sum.SourceRows
		}
	}
	defer res.Summary.Finish(started)
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
	sort.SliceStable(v.invariants, func(i, j int) bool { return v.invariants[i].seq < v.invariants[j].seq })
	res.Invariants = make([]InvariantCheck, 0, len(v.invariants))
	for _, e := range v.invariants {
		res.Invariants = append(res.Invariants, *e)
	}
	return res
}

// fanOut runs fn for every element with at most workers at a time
// (phase.Each, over items), none started past w's end.
func fanOut[T any](ctx context.Context, w *phase.Window, workers int, items []T, fn func(context.Context, T) error) error {
	return phase.Each(ctx, w, workers, len(items), func(ctx context.Context, i int) error { return fn(ctx, items[i]) })
}
