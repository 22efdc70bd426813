package backfill

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/tenantmover/tenantmover/checkpoints"
	"github.com/tenantmover/tenantmover/internal/db"
	"github.com/tenantmover/tenantmover/internal/phase"
)

// A backfill unit is a key range [Lo, Hi) of a table's primary key
// (phase.Range), walked batch by batch; its checkpoint cursor is where the
// walk resumes (the keys of [Lo, Cursor) are done), and its rows count the
// keys walked. A table's units partition its keys, and the walk stops at
// the table's ceiling, its largest key at the first start, so rows the
// application adds later (which the trigger fills) never make the run
// longer, and a resume walks exactly the same keys.
const (
	maxUnits = 64
	// sampleRowsEach is how many sampled keys per unit place the bounds:
	// SYSTEM sampling reads whole pages of neighbouring keys, so even bounds
	// need many pages.
	sampleRowsEach = 1000
	exactCountMax  = 1 << 20 // count rows exactly below this estimate
)

// tablePlan is a table's units, fixed at the first start, with its
// estimated rows and ceiling.
type tablePlan struct {
	units   []checkpoints.Unit
	total   int64
	ceiling []string // nil: the table was empty
}

// planUnits returns the target's plan, fixing it at the first start.
func planUnits(ctx context.Context, pool *pgxpool.Pool, run *checkpoints.Run, t *target, planned map[string]checkpoints.TableState, unitRows int) (tablePlan, error) {
	if st, ok := planned[t.name]; ok {
		units, err := run.Units(ctx, Name, t.name)
		return tablePlan{units: units, total: st.TotalRows, ceiling: st.Ceiling}, err
	}
	total, err := estimateRows(ctx, pool, t)
	if err != nil {
		return tablePlan{}, err
	}
	ceiling, err := maxKey(ctx, pool, t)
	if err != nil {
		return tablePlan{}, err
	}
	units, err := splitRange(ctx, pool, t, ceiling, total, int64(unitRows))
	if err != nil {
		return tablePlan{}, fmt.Errorf("splitting %s into units: %w", t.name, err)
	}
	units, err = run.PlanUnits(ctx, Name, t.name, checkpoints.TablePlan{TotalRows: total, Ceiling: ceiling}, units)
	return tablePlan{units: units, total: total, ceiling: ceiling}, err
}

// plannedTables are the tables already planned in this run.
func plannedTables(ctx context.Context, run *checkpoints.Run) (map[string]checkpoints.TableState, error) {
	states, err := run.Tables(ctx, Name)
	if err != nil {
		return nil, fmt.Errorf("reading run %q: %w", run.Name, err)
	}
	out := map[string]checkpoints.TableState{}
	for _, s := range states {
		out[s.Table] = s
	}
	return out, nil
}

// estimateRows uses the planner's estimate for big tables and counts small
// ones (whose estimate may be missing: never analyzed).
func estimateRows(ctx context.Context, q pgxQuerier, t *target) (int64, error) {
	if t.estimate >= exactCountMax {
		return t.estimate, nil
	}
	var n int64
	if err := q.QueryRow(ctx, "SELECT count(*) FROM "+t.table.Quoted()).Scan(&n); err != nil {
		return 0, fmt.Errorf("counting %s: %w", t.name, err)
	}
	return n, nil
}

// splitRange partitions the keys into units of about unitRows rows below
// the ceiling, cut at keys picked from a sample. An empty table (no
// ceiling) has no units.
func splitRange(ctx context.Context, pool *pgxpool.Pool, t *target, ceiling []string, total, unitRows int64) ([]checkpoints.Unit, error) {
	if ceiling == nil {
		return nil, nil
	}
	n := int(min(max((total+unitRows-1)/unitRows, 1), maxUnits))
	var cuts [][]string
	if n > 1 {
		var err error
		if cuts, err = samplePoints(ctx, pool, t, ceiling, n, total); err != nil {
			return nil, err
		}
	}
	ranges := phase.Partition(cuts)
	units := make([]checkpoints.Unit, len(ranges))
	for i, r := range ranges {
		units[i] = checkpoints.Unit{ID: i, Range: r, Cursor: r.Lo}
	}
	return units, nil
}

func keyText(alias string, cols []string) string {
	out := make([]string, len(cols))
	for i, c := range cols {
		out[i] = alias + "." + db.Ident(c) + "::text"
	}
	return strings.Join(out, ", ")
}

func keyOrder(alias string, cols []string, dir string) string {
	out := make([]string, len(cols))
	for i, c := range cols {
		out[i] = alias + "." + db.Ident(c) + dir
	}
	return strings.Join(out, ", ")
}

// maxKey is the table's largest primary key now, nil when it is empty.
func maxKey(ctx context.Context, q pgxQuerier, t *target) ([]string, error) {
	key := make([]string, len(t.keyCols))
	dest := make([]any, len(key))
	for i := range key {
		dest[i] = &key[i]
	}
	err := q.QueryRow(ctx, fmt.Sprintf("SELECT %s FROM %s AS c ORDER BY %s LIMIT 1",
		keyText("c", t.keyCols), t.table.Quoted(), keyOrder("c", t.keyCols, " DESC"))).Scan(dest...)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("reading the largest key of %s: %w", t.name, err)
	}
	return key, nil
}

// samplePoints picks up to n-1 keys below hi, evenly spaced over a sample
// of the table's pages (TABLESAMPLE SYSTEM reads only the sampled pages).
// A sample too small to pick from (small tables have few pages, and the
// planner's estimate may be off) is taken again from more pages, up to all.
func samplePoints(ctx context.Context, pool *pgxpool.Pool, t *target, hi []string, n int, total int64) ([][]string, error) {
	pct := min(max(100*float64(n*sampleRowsEach)/float64(max(total, 1)), 0.0001), 100)
	for {
		sample, err := sampleKeys(ctx, pool, t, hi, pct)
		if err != nil {
			return nil, err
		}
		if len(sample) >= n*sampleRowsEach/4 || pct >= 100 {
			return evenlySpaced(sample, n), nil
		}
		pct = min(pct*8, 100)
	}
}

func sampleKeys(ctx context.Context, pool *pgxpool.Pool, t *target, hi []string, pct float64) ([][]string, error) {
	v := phase.Params()
	below := phase.Range{Hi: hi}.Where(phase.KeyExpr("c", t.key), t.key, v)
	v.Args = append(v.Args, pct)
	sql := fmt.Sprintf("SELECT %s FROM %s AS c TABLESAMPLE SYSTEM ($%d::float8) WHERE %s ORDER BY %s",
		keyText("c", t.keyCols), t.table.Quoted(), len(v.Args), below, keyOrder("c", t.keyCols, ""))
	rows, err := pool.Query(ctx, sql, v.Args...)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, func(row pgx.CollectableRow) ([]string, error) {
		key := make([]string, len(t.keyCols))
		dest := make([]any, len(key))
		for i := range key {
			dest[i] = &key[i]
		}
		return key, row.Scan(dest...)
	})
}

// evenlySpaced picks up to n-1 distinct keys splitting sorted into n parts.
func evenlySpaced(sorted [][]string, n int) [][]string {
	var points [][]string
	last := -1
	for i := 1; i < n; i++ {
		idx := i * len(sorted) / n
		if idx > last && idx < len(sorted) {
			points = append(points, sorted[idx])
			last = idx
		}
	}
	return points
}
