package plan

import (
	"fmt"
	"slices"
	"sort"
	"strings"

	"github.com/tenantmover/tenantmover/internal/db"
	"github.com/tenantmover/tenantmover/internal/schema"
)

// The user can fix a table's path where the catalog cannot tell: when two
// keys reach the tenant equally well, the application's own code knows
// which one it fills. --via child.column pins the key on that column,
// whatever its length or NULLs (hard: if it never reaches the tenant the
// table is a blocking problem). A --relation pins the declared key of its
// table too (soft: when no declared key reaches the tenant, the table is
// planned as if there were no pin), because declaring an edge the catalog
// already has in another form is how users said "this one" before --via.

// pin is what the user said about one table's path: the keys it must
// start with.
type pin struct {
	flag string          // "--via t.col" or "--relation"
	hops map[string]bool // hopKey(hopOf(fk)) of the allowed keys
	hard bool            // from --via: never dropped
}

// allows reports whether the hop may start the table's path (always,
// without a pin).
func (p *pin) allows(h Hop) bool {
	if p == nil {
		return h.When == nil
	}
	return p.hops[hopKey(h)]
}

// resolvePins reads the pins: declared relations first, then --via, which
// replaces them on its table.
func (b *builder) resolvePins() error {
	b.pins = map[*Table]*pin{}
	for _, t := range b.tables {
		for _, fk := range t.Source.ForeignKeys {
			if !fk.Declared {
				continue
			}
			if b.pins[t] == nil {
				b.pins[t] = &pin{flag: "--relation", hops: map[string]bool{}}
			}
			b.pins[t].hops[hopKey(hopOf(fk))] = true
		}
	}
	via := map[*Table]bool{}
	for _, raw := range b.cfg.Via {
		t, p, err := b.parseVia(raw)
		if err != nil {
			return err
		}
		if via[t] {
			return fmt.Errorf("--via %s: %s is already pinned by another --via", raw, t.Name())
		}
		via[t] = true
		b.pins[t] = p
	}
	return nil
}

// parseVia resolves one --via value to its table and pin.
func (b *builder) parseVia(raw string) (*Table, *pin, error) {
	name, cols, err := parseSide(raw)
	if err != nil {
		return nil, nil, fmt.Errorf("--via %s: %w (expected table.column, the column the table is filled through)", raw, err)
	}
	st, err := b.cat.Resolve(name)
	if err != nil {
		return nil, nil, fmt.Errorf("--via %s: %w", raw, err)
	}
	t := b.byName[st.Name]
	if t.Kind == Root || t.Forced {
		return nil, nil, fmt.Errorf("--via %s: %s is the tenant table or named by --reference/--exclude, so it has no path", raw, st.Name)
	}
	for _, c := range cols {
		if st.Column(c) == nil {
			return nil, nil, fmt.Errorf("--via %s: table %s has no column %s", raw, st.Name, db.QuoteIfNeeded(c))
		}
	}
	p := &pin{flag: "--via " + st.Name.String() + "." + columnList(cols), hops: map[string]bool{}, hard: true}
	for _, fk := range st.ForeignKeys {
		if slices.Equal(fk.Columns, cols) {
			p.hops[hopKey(hopOf(fk))] = true
		}
	}
	if len(p.hops) == 0 {
		return nil, nil, fmt.Errorf("--via %s: %s has no foreign key on %s, in the catalog or declared: declare it with --relation %s",
			raw, st.Name, columnList(cols), shellQuote(fmt.Sprintf("%s.%s=parent_table.id", st.Name, columnList(cols))))
	}
	return t, p, nil
}

// relaxSoftPins drops the --relation pins of tables still undecided, so
// they are planned through the catalog's keys; it reports whether it
// dropped any.
func (b *builder) relaxSoftPins() bool {
	dropped := false
	for _, t := range b.tables {
		if p := b.pins[t]; t.Kind == "" && p != nil && !p.hard {
			delete(b.pins, t)
			dropped = true
		}
	}
	return dropped
}

// findPolymorphic decides the undecided tables whose pin allows the
// branches of a polymorphic association, once every parent they name is
// decided (final: treating undecided ones as tables without a tenant,
// which they will be). Each distributed parent gives a branch; a parent
// without a tenant is a blocking problem, since its rows could get none.
// It returns how many tables it decided.
func (b *builder) findPolymorphic(final bool) int {
	n := 0
	for _, t := range b.tables {
		if t.Kind != "" {
			continue
		}
		hops := b.polymorphicHops(t)
		if len(hops) == 0 {
			continue
		}
		var branches [][]Hop
		var lost []Hop
		ready := true
		for _, h := range hops {
			switch p := b.byName[h.To]; {
			case p.Kind.Distributed() && !passesThrough(p.Path, t.Name()):
				branches = append(branches, append([]Hop{h}, p.Path...))
			case p.Kind == "" && !final:
				ready = false
			default:
				lost = append(lost, h)
			}
		}
		if !ready || len(branches) == 0 {
			continue
		}
		for _, h := range lost {
			t.problem(polymorphicParentWithoutTenant(t, h))
		}
		t.Kind, t.Branches, t.Path, t.Pinned = Nested, branches, branches[0], b.pins[t].flag
		n++
	}
	return n
}

// polymorphicHops are the branches t's pin allows, of one association
// (the first by id column, type column): a table is filled through one.
func (b *builder) polymorphicHops(t *Table) []Hop {
	var out []Hop
	for _, fk := range t.Source.ForeignKeys {
		if h := b.hop(fk); fk.When != nil && b.pins[t] != nil && b.pins[t].allows(h) {
			out = append(out, h)
		}
	}
	if len(out) == 0 {
		return nil
	}
	assoc := func(h Hop) string { return strings.Join(h.FromColumns, "\x00") + "\x00" + h.When.Column }
	sort.SliceStable(out, func(i, j int) bool {
		if a, c := assoc(out[i]), assoc(out[j]); a != c {
			return a < c
		}
		return out[i].When.Value < out[j].When.Value
	})
	first := assoc(out[0])
	return slices.DeleteFunc(out, func(h Hop) bool { return assoc(h) != first })
}

// ambiguousPath is the problem of a table whose best keys only names tell
// apart.
func (b *builder) ambiguousPath(t *Table, hops []Hop) Problem {
	var alts []string
	for _, h := range hops[1:] {
		if b.tied(hops[0], h) {
			alts = append(alts, h.String())
		}
	}
	via := fmt.Sprintf("%s.%s", t.Name(), columnList(hops[0].FromColumns))
	return Problem{
		Code: CodeAmbiguousPath,
		Message: fmt.Sprintf("%s reaches the tenant through %s and equally (as long, as often NULL) through %s; tenantmover uses the first by name",
			t.Name(), hops[0], strings.Join(alts, ", ")),
		Remedy: fmt.Sprintf("verify checks that every path gives the same tenant; to fill the table through the key the application uses, pin it with --via (the chosen one is --via %s)",
			shellQuote(via)),
	}
}

func pinUnreachable(t *Table, flag string) Problem {
	return Problem{
		Code:     CodePinnedPath,
		Message:  fmt.Sprintf("%s is pinned with %s, but that key leads to a table without a path to the tenant, so %s gets none", t.Name(), flag, t.Name()),
		Remedy:   fmt.Sprintf("give the parent a path (a foreign key or --relation), or drop %s", flag),
		Blocking: true,
	}
}

func polymorphicParentWithoutTenant(t *Table, h Hop) Problem {
	return Problem{
		Code: CodePolymorphicParent,
		Message: fmt.Sprintf("%s is filled through a polymorphic association, but the branch %s leads to %s, which has no tenant: those rows would get none",
			t.Name(), h, h.To),
		Remedy:   fmt.Sprintf("drop that --relation (backfill then lists the rows of that type as orphans), or give %s a path to the tenant", h.To),
		Blocking: true,
	}
}

// polymorphicBranchKey is an id column and type column pair.
func polymorphicBranchKey(fk schema.ForeignKey) string {
	return strings.Join(fk.Columns, "\x00") + "\x00" + fk.When.Column
}
