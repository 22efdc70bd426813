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
)

// phase is the checkpoint phase of backfill units.
const phase = "backfill"

// A backfill unit is a half-open key range (Lo, Hi] of a table's primary
// key (Lo nil: from the first key), walked batch by batch; its checkpoint
// cursor is the last key done, and its rows count the keys walked. The
// ranges are fixed at the first start, up to the table's largest key at
// that moment, so rows the application adds later (which the trigger
// fills) never make the run longer, and a resume walks exactly the same
// ranges.
const (
	maxUnits = 64
	// sampleRowsEach is how many sampled keys per unit place the bounds:
	// SYSTEM sampling reads whole pages of neighbouring keys, so even bounds
	// need many pages.
	sampleRowsEach = 1000
	exactCountMax  = 1 << 20 // count rows exactly below this estimate
)

// planUnits returns the target's units, fixing them at the first start,
// and the table's estimated rows.
func planUnits(ctx context.Context, pool *pgxpool.Pool, run *checkpoints.Run, t *target, totals map[string]int64, unitRows int) ([]checkpoints.Unit, int64, error) {
	if total, ok := totals[t.name]; ok {
		units, err := run.Units(ctx, phase, t.name)
		return units, total, err
	}
	total, err := estimateRows(ctx, pool, t)
	if err != nil {
		return nil, 0, err
	}
	units, err := splitRange(ctx, pool, t, total, int64(unitRows))
	if err != nil {
		return nil, 0, fmt.Errorf("splitting %s into units: %w", t.name, err)
	}
	units, err = run.PlanUnits(ctx, phase, t.name, total, units)
	return units, total, err
}

// plannedTotals are the tables already planned in this run, with totals.
func plannedTotals(ctx context.Context, run *checkpoints.Run) (map[string]int64, error) {
	states, err := run.Tables(ctx, phase)
	if err != nil {
		return nil, fmt.Errorf("reading run %q: %w", run.Name, err)
	}
	out := map[string]int64{}
	for _, s := range states {
		out[s.Table] = s.TotalRows
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

// splitRange cuts (-inf, max key] into units of about unitRows rows, with
// bounds picked from a sample of keys. An empty table has no units.
func splitRange(ctx context.Context, pool *pgxpool.Pool, t *target, total, unitRows int64) ([]checkpoints.Unit, error) {
	hi, err := maxKey(ctx, pool, t)
	if err != nil || hi == nil {
		return nil, err
	}
	n := int(min(max((total+unitRows-1)/unitRows, 1), maxUnits))
	var points [][]string
	if n > 1 {
		if points, err = samplePoints(ctx, pool, t, hi, n, total); err != nil {
			return nil, err
		}
	}
	units := make([]checkpoints.Unit, 0, len(points)+1)
	var lo []string
	for _, p := range append(points, hi) {
		units = append(units, checkpoints.Unit{ID: len(units), Lo: lo, Hi: p, Cursor: lo})
		lo = p
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
	args := append([]any{pct}, strArgs(hi)...)
	sql := fmt.Sprintf("SELECT %s FROM %s AS c TABLESAMPLE SYSTEM ($1::float8) WHERE (%s) < (%s) ORDER BY %s",
		keyText("c", t.keyCols), t.table.Quoted(), qcols("c", t.keyCols), params(2, t.keyTypes), keyOrder("c", t.keyCols, ""))
	rows, err := pool.Query(ctx, sql, args...)
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
