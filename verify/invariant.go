package verify

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"github.com/jackc/pgx/v5"

	"github.com/tenantmover/tenantmover/internal/db"
	"github.com/tenantmover/tenantmover/internal/plan"
)

// invariantCheck is one parent hop whose tenant agreement is checked on
// one side: every row of the child must have a parent row with the same
// tenant.
type invariantCheck struct {
	s      *spec
	hop    plan.Hop
	parent *plan.Table
	on     side
	cols   columns
	// entry is what the result reports of the check; each side's check
	// has its own, written only by the goroutine that runs it.
	entry *InvariantCheck
}

// planInvariants lists the invariant checks: that every nested table's
// rows carry their parent's tenant (the first hop of the plan's path) and
// that every alternative path's first hop and every foreign key the target
// makes composite agree too. Checking first hops is enough: by induction
// over the plan's order, a table whose every row agrees with its parent
// agrees with the root along any path.
//
// A check runs on the target, which is what the application will use; on
// the source where the target cannot be checked, and there too where the
// target shows violations (to tell a backfill bug from a copy bug). A
// check on the target that a foreign key of the target holds (see heldBy)
// is not run at all, only reported, unless RecheckForeignKeys. When there
// is a target, the rest are folded into the count queries where they can
// be (see fold); the others, and every check of CheckSource, are an
// anti-join of a table with its parent.
func (v *verifier) planInvariants(ctx context.Context) error {
	if v.cfg.SkipInvariant {
		return nil
	}
	var checks []invariantCheck
	for _, s := range v.specs {
		if s.missing != "" {
			continue
		}
		for _, hop := range invariantHops(v.p, s.t) {
			c := invariantCheck{s: s, hop: hop, parent: v.p.Table(hop.To), on: v.dst, cols: v.dstCols}
			if !c.possible() || v.sourceOnly {
				c.on, c.cols = v.src, v.srcCols
			}
			if c.possible() {
				c.entry = v.addInvariant(c, len(v.invariants))
				checks = append(checks, c)
			}
		}
	}
	held, err := v.heldBy(ctx, checks)
	if err != nil {
		return err
	}
	rest := checks[:0]
	for i, c := range checks {
		h := held[i]
		switch {
		case h.name != "" && !v.cfg.RecheckForeignKeys:
			c.entry.HeldBy, c.entry.Note = h.name, h.note
			v.held++
			continue
		case h.name != "":
			c.entry.Note = fmt.Sprintf("foreign key %s holds it (%s), rescanned for --recheck-foreign-keys", h.name, h.note)
		default:
			c.entry.Note = h.note
		}
		rest = append(rest, c)
	}
	checks = rest
	if v.sourceOnly {
		v.checks = checks
		return nil
	}
	v.checks, err = v.planFolds(ctx, checks)
	return err
}

// addInvariant adds the result's entry of check c, planned as the seq-th.
func (v *verifier) addInvariant(c invariantCheck, seq int) *InvariantCheck {
	e := &InvariantCheck{Table: c.s.name, Parent: c.parent.Name().String(), Columns: c.hop.FromColumns, ParentColumns: c.hop.ToColumns,
		When: whenText(c.hop), Side: c.on.name, seq: seq}
	v.mu.Lock()
	defer v.mu.Unlock()
	v.invariants = append(v.invariants, e)
	return e
}

// onSource is check c on the source, with an entry of its own; false
// when the source lacks a tenant column it needs.
func (v *verifier) onSource(c invariantCheck) (invariantCheck, bool) {
	seq := c.entry.seq
	c.on, c.cols = v.src, v.srcCols
	if !c.possible() {
		return c, false
	}
	c.entry = v.addInvariant(c, seq)
	return c, true
}

// ran records in c's entry that it ran and found the violations diffs
// count (its own: the first difference, if any).
func (c invariantCheck) ran(diffs []Difference) {
	c.entry.Checked = true
	if len(diffs) > 0 {
		c.entry.Violations = diffs[0].Source + diffs[0].Target
	}
}

// whenText is a polymorphic hop's type test as the result shows it.
func whenText(h plan.Hop) string {
	switch {
	case h.When == nil:
		return ""
	case h.When.ContentType != nil:
		return fmt.Sprintf("%s = content type %s", h.When.Column, h.When.Value)
	}
	return h.When.Column + " = " + h.When.Value
}

// checkInvariants runs the checks that are not folded and narrows the
// folded ones that found violations down to keys. Checks held by foreign
// keys count as done at once.
func (v *verifier) checkInvariants(ctx context.Context) error {
	if v.cfg.SkipInvariant {
		return nil
	}
	tr := newTracker(v.emit, StepInvariant, int64(v.held+len(v.checks)+len(v.folds)))
	tr.add(int64(v.held))
	err := fanOut(ctx, v.win, v.cfg.Workers, v.folds, func(ctx context.Context, f *fold) error {
		diffs, err := v.reportFold(ctx, f)
		if err != nil {
			return fmt.Errorf("checking the tenant of %s against %s on the %s: %w", f.check.s.name, f.check.parent.Name(), f.check.on.name, err)
		}
		v.record(f.check.s.name, nil, diffs)
		tr.add(1)
		return nil
	})
	if err != nil {
		return err
	}
	return fanOut(ctx, v.win, v.cfg.Workers, v.checks, func(ctx context.Context, c invariantCheck) error {
		diffs, err := v.checkInvariant(ctx, c)
		if err == nil {
			c.ran(diffs)
		}
		if err == nil && len(diffs) > 0 && !v.sourceOnly && c.on.name == v.dst.name {
			if sc, ok := v.onSource(c); ok {
				c = sc
				var more []Difference
				more, err = v.checkInvariant(ctx, c)
				if err == nil {
					c.ran(more)
				}
				diffs = append(diffs, more...)
			}
		}
		if err != nil {
			return fmt.Errorf("checking the tenant of %s against %s on the %s: %w", c.s.name, c.parent.Name(), c.on.name, err)
		}
		v.record(c.s.name, nil, diffs)
		tr.add(1)
		return nil
	})
}

// possible reports whether both the table and its parent have their tenant
// columns on the check's side.
func (c invariantCheck) possible() bool {
	return c.cols.has(c.s.t.Name(), c.s.t.TenantColumn) && c.cols.has(c.parent.Name(), c.parent.TenantColumn)
}

// invariantHops are the parent hops of t to check: the first hop of its
// path (nested tables), of every alternative path and every foreign key the
// target makes composite, leaving out hops
// that are the tenant column itself referencing the root's key (true by
// construction) and hops to tables that carry no tenant.
func invariantHops(p *plan.Plan, t *plan.Table) []plan.Hop {
	if !t.Kind.Distributed() || t.TenantColumn == "" {
		return nil
	}
	var hops []plan.Hop
	if t.Kind == plan.Nested {
		hops = append(hops, t.FirstHops()...) // every branch of a polymorphic table
	}
	for _, alt := range t.AltPaths {
		if len(alt) > 0 {
			hops = append(hops, alt[0])
		}
	}
	// Every foreign key the target makes composite with the tenant column
	// holds only if the row and its parent row share a tenant: a self
	// reference (task.parent_id) or a many-to-many row pointing at another
	// tenant's row would make the target's foreign key fail.
	for _, d := range p.ForeignKeys(t) {
		if d.Action == plan.FKComposite {
			fk := d.FK
			hops = append(hops, plan.Hop{From: t.Name(), FromColumns: fk.Columns, To: fk.RefTable, ToColumns: fk.RefColumns, Constraint: fk.Name})
		}
	}
	var out []plan.Hop
	for _, h := range hops {
		parent := p.Table(h.To)
		if parent == nil || !parent.Kind.Distributed() || parent.TenantColumn == "" {
			continue
		}
		if slices.Equal(h.FromColumns, []string{t.TenantColumn}) && slices.Equal(h.ToColumns, []string{parent.TenantColumn}) {
			continue
		}
		if slices.ContainsFunc(out, func(o plan.Hop) bool { return sameHop(o, h) }) {
			continue
		}
		out = append(out, h)
	}
	return out
}

func sameHop(a, b plan.Hop) bool {
	return a.To == b.To && slices.Equal(a.FromColumns, b.FromColumns) && slices.Equal(a.ToColumns, b.ToColumns) &&
		(a.When == nil) == (b.When == nil) && (a.When == nil || *a.When == *b.When)
}

// checkInvariant streams the keys of child rows that have a parent key but
// no parent row with that key and the same tenant. The anti-join is on the
// tenant column too, so on Citus it runs shard by shard, pushed down.
func (v *verifier) checkInvariant(ctx context.Context, c invariantCheck) ([]Difference, error) {
	rel := c.s.dst
	if c.on.name == v.src.name {
		rel = c.s.src
	}
	child, parent := "t0."+db.Ident(c.s.t.TenantColumn), "t1."+db.Ident(c.parent.TenantColumn)
	var where []string
	var args []any
	for _, col := range c.hop.FromColumns {
		where = append(where, "t0."+db.Ident(col)+" IS NOT NULL")
	}
	// A polymorphic branch holds only for the rows of its type.
	if w := plan.WhenSQL(c.hop.When, "t0", func(s string) string {
		args = append(args, s)
		return fmt.Sprintf("$%d::text", len(args))
	}); w != "" {
		where = append(where, w)
	}
	where = append(where, fmt.Sprintf("NOT EXISTS (SELECT FROM %s AS t1 WHERE %s = %s AND %s)",
		c.parent.Name().Quoted(), parent, child, equalities("t1", c.hop.ToColumns, "t0", c.hop.FromColumns)))
	if len(v.cfg.Tenants) > 0 {
		args = append(args, v.cfg.Tenants)
		where = append(where, fmt.Sprintf("%s = ANY($%d::text[]::%s[])", child, len(args), rel.keyType))
	}
	sql := fmt.Sprintf("SELECT (%s)::text FROM %s AS t0 WHERE %s", rel.key, c.s.t.Name().Quoted(), strings.Join(where, " AND "))
	n, keys, err := v.sampleKeys(ctx, c.on, sql, args)
	if err != nil || n == 0 {
		return nil, err
	}
	return []Difference{v.invariantDifference(c, n, keys)}, nil
}

// invariantDifference reports n rows of a check that break the invariant.
func (v *verifier) invariantDifference(c invariantCheck, n int64, keys []string) Difference {
	d := Difference{Kind: KindInvariant, Table: c.s.name, Keys: keys,
		Detail: fmt.Sprintf("%d rows on the %s whose %s differs from the %s of their %s row (%s → %s)",
			n, c.on.name, db.QuoteIfNeeded(c.s.t.TenantColumn), db.QuoteIfNeeded(c.parent.TenantColumn), c.parent.Name(),
			strings.Join(c.hop.FromColumns, ", "), strings.Join(c.hop.ToColumns, ", "))}
	if c.on.name == v.src.name {
		d.Source = n
	} else {
		d.Target = n
	}
	return d
}

// sampleKeys runs sql, which selects one key text per row, on a side and
// returns how many rows it found and the first MaxSamples keys.
func (v *verifier) sampleKeys(ctx context.Context, on side, sql string, args []any) (n int64, keys []string, err error) {
	err = on.each(ctx, sql, args, func(r pgx.Rows) error {
		n++
		if len(keys) < v.cfg.MaxSamples {
			k, err := scanText(r)
			keys = append(keys, k)
			return err
		}
		return nil
	})
	return n, keys, err
}
