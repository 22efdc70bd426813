package verify

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"

	"github.com/tenantmover/tenantmover/internal/db"
	"github.com/tenantmover/tenantmover/internal/plan"
)

// A fold is an invariant check done inside the per-tenant aggregate that
// counts the child table on the check's side, instead of in an anti-join of
// its own: the count query LEFT JOINs the parent on tenant and key and also
// counts, per tenant, the rows with a parent key but no parent row of their
// tenant. A separate anti-join reads the child a second time and, for a big
// parent, hashes the whole parent; the fold reads the child once, in the
// scan the counts need anyway, and narrows down to keys (with that
// anti-join, per hop) only where it found violations.
//
// A LEFT JOIN keeps counts exact only if no child row can match two parent
// rows, so a check is folded only where a unique index of the parent on
// that side covers the join's columns (every table referenced by a foreign
// key has one); other checks keep their own anti-join.
type fold struct {
	check invariantCheck
	alias string // the parent's alias in the child's count query

	mu       sync.Mutex
	rows     int64    // violating rows found by the merge
	ntenants int      // tenants they belong to
	tenants  []string // the first MaxSamples of those
}

// planFolds attaches every invariant check whose parent key is unique on
// its side to the child's relation on that side, and returns the checks
// left to run on their own.
func (v *verifier) planFolds(ctx context.Context, checks []invariantCheck) ([]invariantCheck, error) {
	var rest []invariantCheck
	for _, c := range checks {
		ok, err := uniqueKey(ctx, c.on, c.parent, c.hop.ToColumns)
		if err != nil {
			return nil, err
		}
		if !ok {
			rest = append(rest, c)
			continue
		}
		rel := &c.s.dst
		if c.on.name == v.src.name {
			rel = &c.s.src
		}
		f := &fold{check: c, alias: fmt.Sprintf("p%d", len(rel.folds)+1)}
		rel.folds = append(rel.folds, f)
		v.folds = append(v.folds, f)
	}
	return rest, nil
}

// uniqueKey reports whether a valid, total unique index of parent on side
// on covers only the key columns and the parent's tenant column: then a
// child row joined on all of them matches at most one parent row.
func uniqueKey(ctx context.Context, on side, parent *plan.Table, key []string) (bool, error) {
	cols := append([]string{parent.TenantColumn}, key...)
	var ok bool
	err := on.pool.QueryRow(ctx, `
		SELECT EXISTS (
			SELECT FROM pg_catalog.pg_index i
			WHERE i.indrelid = $1::text::regclass AND i.indisunique AND i.indisvalid AND i.indpred IS NULL AND i.indexprs IS NULL
			  AND (SELECT array_agg(a.attname::text) FROM pg_catalog.pg_attribute a
			       WHERE a.attrelid = i.indrelid AND a.attnum = ANY (i.indkey::int2[])) <@ $2::text[])`,
		parent.Name().Quoted(), cols).Scan(&ok)
	if err != nil {
		return false, fmt.Errorf("%s: looking for a unique index of %s: %w", on.name, parent.Name(), err)
	}
	return ok, nil
}

// foldSQL renders the folds of r: the LEFT JOINs to add to its FROM
// clause, the violation counts to add to its select list (one per fold, in
// order), and the bind values of their type tests, numbered from first.
func (r relation) foldSQL(first int) (joins string, counts []string, args []any) {
	bind := func(s string) string {
		args = append(args, s)
		return fmt.Sprintf("$%d::text", first+len(args)-1)
	}
	var b strings.Builder
	for _, f := range r.folds {
		c, a := f.check, f.alias
		fmt.Fprintf(&b, " LEFT JOIN %s AS %s ON %s.%s = t0.%s AND %s", c.parent.Name().Quoted(), a,
			a, db.Ident(c.parent.TenantColumn), db.Ident(c.s.t.TenantColumn), equalities(a, c.hop.ToColumns, "t0", c.hop.FromColumns))
		// A row of the hop has every key column set (and, in a polymorphic
		// branch, its type); it breaks the invariant when no parent row of
		// its tenant has that key. The joined parent's tenant is never NULL
		// when it matched, so a NULL there means no match.
		var cond []string
		for _, col := range c.hop.FromColumns {
			cond = append(cond, "t0."+db.Ident(col)+" IS NOT NULL")
		}
		if w := plan.WhenSQL(c.hop.When, "t0", bind); w != "" {
			cond = append(cond, w)
		}
		cond = append(cond, a+"."+db.Ident(c.parent.TenantColumn)+" IS NULL")
		counts = append(counts, "count(*) FILTER (WHERE "+strings.Join(cond, " AND ")+")")
	}
	return b.String(), counts, args
}

// found records what the merge counted for one tenant.
func (f *fold) found(tenant sortKey, rows int64, samples int) {
	if rows == 0 {
		return
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.rows += rows
	f.ntenants++
	if len(f.tenants) < samples {
		f.tenants = append(f.tenants, tenant.String())
	}
}

// reportFold narrows a fold's violations down to sample keys with the
// check's anti-join, on the folded side and, when that is the target, on
// the source too (to tell a backfill bug from a copy bug), as unfolded
// checks are.
func (v *verifier) reportFold(ctx context.Context, f *fold) ([]Difference, error) {
	if f.rows == 0 {
		f.check.ran(nil)
		return nil, nil
	}
	diffs, err := v.checkInvariant(ctx, f.check)
	if err != nil {
		return nil, err
	}
	if len(diffs) == 0 {
		// The rows changed since the count: report what the count saw.
		diffs = []Difference{v.invariantDifference(f.check, f.rows, nil)}
	}
	f.check.ran(diffs)
	diffs[0].Detail += fmt.Sprintf(" in tenants %s", tenantList(f.tenants, f.ntenants > len(f.tenants)))
	if f.check.on.name == v.dst.name {
		if c, ok := v.onSource(f.check); ok {
			more, err := v.checkInvariant(ctx, c)
			if err != nil {
				return nil, fmt.Errorf("checking the tenant of %s against %s on the %s: %w", c.s.name, c.parent.Name(), c.on.name, err)
			}
			c.ran(more)
			diffs = append(diffs, more...)
		}
	}
	return diffs, nil
}

// tenantList is "1, 7" (with ", ..." when more tenants have violations).
func tenantList(tenants []string, more bool) string {
	s := strings.Join(slices.Clone(tenants), ", ")
	if more {
		s += ", ..."
	}
	return s
}
