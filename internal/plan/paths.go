package plan

import (
	"fmt"
	"sort"
	"strings"

	"github.com/tenantmover/tenantmover/internal/db"
	"github.com/tenantmover/tenantmover/internal/schema"
)

// classify gives every table not yet decided (root, --exclude, --reference)
// its kind and tenant path: direct tables first, then nested ones level by
// level, preferring paths made only of NOT NULL keys, and polymorphic ones
// once every parent they name is decided; the rest have no path and
// become reference tables. Tables with pinned paths (pins.go) take only
// their pinned keys; a --relation pin that never reaches the tenant is
// dropped and the table planned like any other.
func (b *builder) classify() error {
	b.findDirect()
	for {
		if b.findNested(false)+b.findNested(true)+b.findPolymorphic(false) > 0 {
			continue
		}
		if b.findPolymorphic(true) == 0 && !b.relaxSoftPins() {
			break
		}
	}
	for _, t := range b.tables {
		if t.Kind == "" {
			if p := b.pins[t]; p != nil {
				t.problem(pinUnreachable(t, p.flag))
			}
			t.Kind = Reference
		}
	}
	b.recordAltPaths()
	b.recordAlternatives()
	for _, t := range b.tables {
		if bad := nullableHops(t.allPaths()...); len(bad) > 0 {
			t.problem(nullablePath(t, bad))
		}
	}
	return nil
}

// allPaths are the table's path, or every branch of a polymorphic one.
func (t *Table) allPaths() [][]Hop {
	if len(t.Branches) > 0 {
		return t.Branches
	}
	return [][]Hop{t.Path}
}

// hop turns a foreign key into a path step, with how often its columns are
// NULL when the catalog knows.
func (b *builder) hop(fk schema.ForeignKey) Hop {
	h := hopOf(fk)
	from := b.cat.Table(fk.Table)
	h.Nullable = from == nil || from.Nullable(fk.Columns)
	if from == nil {
		return h
	}
	h.NullsKnown = true
	for _, n := range fk.Columns {
		c := from.Column(n)
		if c == nil || !c.NullsKnown {
			h.NullsKnown, h.NullFrac = false, 0
			break
		}
		h.NullFrac = max(h.NullFrac, c.NullFrac)
	}
	return h
}

// hopOf is the hop of a foreign key when nullability does not matter
// (identity comparisons).
func hopOf(fk schema.ForeignKey) Hop {
	return Hop{From: fk.Table, FromColumns: fk.Columns, To: fk.RefTable, ToColumns: fk.RefColumns, Constraint: fk.Name, Declared: fk.Declared, When: fk.When}
}

// isRootKeyRef reports whether fk references exactly the root's key from
// one column: that column then already holds the tenant id.
func (b *builder) isRootKeyRef(fk schema.ForeignKey) bool {
	return fk.RefTable == b.plan.Root.Name() && len(fk.Columns) == 1 &&
		len(fk.RefColumns) == 1 && fk.RefColumns[0] == b.plan.RootKey && fk.When == nil
}

// findDirect marks tables with a key referencing the root's key, in the
// order of hopLess; the others are alternative paths. A --via pin to
// another table makes the table wait for that table's path; a --relation
// pin elsewhere does not outweigh the table's own key to the root.
func (b *builder) findDirect() {
	for _, t := range b.tables {
		if t.Kind != "" {
			continue
		}
		var all, pinned []Hop
		for _, fk := range t.Source.ForeignKeys {
			if b.isRootKeyRef(fk) {
				h := b.hop(fk)
				all = append(all, h)
				if b.pins[t].allows(h) {
					pinned = append(pinned, h)
				}
			}
		}
		p := b.pins[t]
		hops, isPinned := pinned, p != nil && len(pinned) > 0
		if p == nil || (!p.hard && len(pinned) == 0) {
			hops = all
		}
		if len(hops) == 0 {
			continue
		}
		b.setDirect(t, hops, isPinned)
	}
}

func (b *builder) setDirect(t *Table, hops []Hop, pinned bool) {
	sort.SliceStable(hops, func(i, j int) bool { return b.hopLess(hops[i], hops[j]) })
	t.Kind = Direct
	t.Path = []Hop{hops[0]}
	t.TenantColumn = hops[0].FromColumns[0]
	t.HasTenantColumn = true
	if pinned {
		t.Pinned = b.pins[t].flag
	} else if len(hops) > 1 && b.tied(hops[0], hops[1]) {
		t.problem(b.ambiguousPath(t, hops))
	}
	if c := t.Source.Column(t.TenantColumn); c.Type != b.plan.KeyType {
		t.problem(tenantTypeMismatch(t, c, b.plan.KeyType, b.plan.Root))
	}
}

// findNested gives undecided tables the shortest path through a parent that
// already has one, breadth first from the root so every path is shortest.
// The first pass (allowNullable false) uses only NOT NULL keys and parents
// whose own path is NOT NULL all the way; the second takes what is left.
// It returns how many tables it decided.
func (b *builder) findNested(allowNullable bool) int {
	n := 0
	for level := 0; level <= b.maxLevel(); level++ {
		for _, t := range b.tables {
			if t.Kind != "" {
				continue
			}
			cands := b.candidates(t, level, allowNullable)
			if len(cands) == 0 {
				continue
			}
			sort.SliceStable(cands, func(i, j int) bool { return b.hopLess(cands[i], cands[j]) })
			parent := b.byName[cands[0].To]
			t.Kind = Nested
			t.Path = append([]Hop{cands[0]}, parent.Path...)
			if p := b.pins[t]; p != nil {
				t.Pinned = p.flag
			} else if len(cands) > 1 && b.tied(cands[0], cands[1]) {
				t.problem(b.ambiguousPath(t, cands))
			}
			n++
		}
	}
	return n
}

// candidates are t's hops to tables at the given path length that its
// pin, if any, allows.
func (b *builder) candidates(t *Table, level int, allowNullable bool) []Hop {
	var out []Hop
	for _, fk := range t.Source.ForeignKeys {
		p := b.byName[fk.RefTable]
		if fk.When != nil || p == nil || p == t || !p.Kind.Distributed() || len(p.Path) != level {
			continue
		}
		h := b.hop(fk)
		if !allowNullable && (h.Nullable || len(nullableHops(p.Path)) > 0) || !b.pins[t].allows(h) {
			continue
		}
		out = append(out, h)
	}
	return out
}

func (b *builder) maxLevel() int {
	m := 0
	for _, t := range b.tables {
		m = max(m, len(t.Path))
	}
	return m
}

// hopCriterion compares two candidate hops on one ground: negative when x
// is better, with the reason y lost (for the alternatives shown).
type hopCriterion func(b *builder, x, y Hop) (int, string)

// hopCriteria are the grounds hops are ranked on, in order: NOT NULL
// first; then the fewest NULLs on the source (known figures before
// unknown); then the column named like --tenant-column; then names, which
// is a tie the user should settle (ambiguous_path).
var hopCriteria = []hopCriterion{
	func(_ *builder, x, y Hop) (int, string) {
		return boolRank(!x.Nullable, !y.Nullable), fmt.Sprintf("nullable: %s may be NULL", columnList(y.FromColumns))
	},
	func(_ *builder, x, y Hop) (int, string) {
		switch {
		case x.NullsKnown && !y.NullsKnown:
			return -1, "how often it is NULL is unknown (never analyzed, too big to count)"
		case !x.NullsKnown && y.NullsKnown:
			return 1, ""
		case x.NullFrac < y.NullFrac:
			return -1, fmt.Sprintf("more NULLs: %s in %s of the rows, against %s", columnList(y.FromColumns), percent(y.NullFrac), percent(x.NullFrac))
		case x.NullFrac > y.NullFrac:
			return 1, ""
		}
		return 0, ""
	},
	func(b *builder, x, y Hop) (int, string) {
		want := b.cfg.TenantColumn
		named := func(h Hop) bool { return want != "" && len(h.FromColumns) == 1 && h.FromColumns[0] == want }
		return boolRank(named(x), named(y)), "not named like --tenant-column " + db.QuoteIfNeeded(want)
	},
	func(_ *builder, x, y Hop) (int, string) {
		c := strings.Compare(x.To.Schema+"\x00"+x.To.Name, y.To.Schema+"\x00"+y.To.Name)
		if c == 0 {
			c = strings.Compare(x.Constraint, y.Constraint)
		}
		if c == 0 {
			c = strings.Compare(strings.Join(x.FromColumns, "\x00"), strings.Join(y.FromColumns, "\x00"))
		}
		return c, "a tie, decided by name order (pin the path with --via)"
	},
}

// tieCriteria is how many of hopCriteria decide on the data; the later
// ones only break a tie.
const tieCriteria = 2

func boolRank(x, y bool) int {
	switch {
	case x == y:
		return 0
	case x:
		return -1
	}
	return 1
}

func percent(f float64) string { return fmt.Sprintf("%.1f%%", 100*f) }

// hopLess orders candidate hops by hopCriteria.
func (b *builder) hopLess(x, y Hop) bool {
	c, _, _ := b.compareHops(x, y)
	return c < 0
}

// compareHops ranks x against y: the first criterion that tells them
// apart, its index, and the reason the worse one lost.
func (b *builder) compareHops(x, y Hop) (int, int, string) {
	for i, crit := range hopCriteria {
		if c, why := crit(b, x, y); c != 0 {
			if c > 0 {
				_, why = crit(b, y, x)
			}
			return c, i, why
		}
	}
	return 0, len(hopCriteria), "a tie"
}

// tied reports whether only names tell the best two hops apart.
func (b *builder) tied(x, y Hop) bool {
	_, i, _ := b.compareHops(x, y)
	return i >= tieCriteria
}

// recordAltPaths lists, for every distributed table, the other NOT NULL
// routes to the root: each other key to a distributed parent followed by
// that parent's path (one per first hop, which is what verify compares).
func (b *builder) recordAltPaths() {
	for _, t := range b.tables {
		if t.Kind != Direct && t.Kind != Nested {
			continue
		}
		for _, alt := range b.otherPaths(t) {
			if len(nullableHops(alt)) == 0 {
				t.AltPaths = append(t.AltPaths, alt)
			}
		}
	}
}

// otherPaths are t's other routes to the root: each key (not a polymorphic
// branch) to a distributed parent not through t, other than the ones t is
// filled through, followed by the parent's path; shortest first, then by
// hopLess.
func (b *builder) otherPaths(t *Table) [][]Hop {
	chosen := map[string]bool{}
	for _, h := range t.FirstHops() {
		chosen[hopKey(h)] = true
	}
	var out [][]Hop
	for _, fk := range t.Source.ForeignKeys {
		p := b.byName[fk.RefTable]
		h := b.hop(fk)
		if fk.When != nil || p == nil || p == t || !p.Kind.Distributed() || chosen[hopKey(h)] || passesThrough(p.Path, t.Name()) {
			continue
		}
		out = append(out, append([]Hop{h}, p.Path...))
	}
	sort.SliceStable(out, func(i, j int) bool {
		if len(out[i]) != len(out[j]) {
			return len(out[i]) < len(out[j])
		}
		return b.hopLess(out[i][0], out[j][0])
	})
	return out
}

// recordAlternatives lists every other route of each distributed table
// with why it lost, so the user can judge the choice and pin another.
func (b *builder) recordAlternatives() {
	for _, t := range b.tables {
		if t.Kind != Direct && t.Kind != Nested {
			continue
		}
		for _, alt := range b.otherPaths(t) {
			t.Alternatives = append(t.Alternatives, Alternative{Path: alt, Reason: b.whyLost(t, alt)})
		}
	}
}

// whyLost says why alt is not t's path, on the same grounds, in the same
// order, as the classification chose.
func (b *builder) whyLost(t *Table, alt []Hop) string {
	if p := b.pins[t]; p != nil && t.Pinned != "" && !p.allows(alt[0]) {
		return "not the key " + p.flag + " names"
	}
	if len(t.Branches) > 0 {
		return "the table is filled through its polymorphic association"
	}
	if t.Kind == Direct && len(alt) > 1 {
		return "longer than the table's own key to the tenant table"
	}
	if bad := nullableHops(alt); len(bad) > 0 && len(nullableHops(t.Path)) == 0 {
		return fmt.Sprintf("nullable: %s may be NULL, the chosen path is NOT NULL all the way", bad[0])
	}
	if len(alt) > len(t.Path) {
		return fmt.Sprintf("longer: %d hops against %d", len(alt), len(t.Path))
	}
	_, _, why := b.compareHops(t.Path[0], alt[0])
	return why
}

func passesThrough(path []Hop, n schema.Name) bool {
	for _, h := range path {
		if h.From == n || h.To == n {
			return true
		}
	}
	return false
}

// nullableHops are the nullable hops of the paths, each once.
func nullableHops(paths ...[]Hop) []Hop {
	var out []Hop
	seen := map[string]bool{}
	for _, path := range paths {
		for _, h := range path {
			if k := hopKey(h); h.Nullable && !seen[k] {
				seen[k] = true
				out = append(out, h)
			}
		}
	}
	return out
}

// String shows a hop as SQL-ish text: product.store_id -> store.id, with
// the type test of a polymorphic branch: (when commentable_type = 'Post').
func (h Hop) String() string {
	s := fmt.Sprintf("%s.%s -> %s.%s", h.From, columnList(h.FromColumns), h.To, columnList(h.ToColumns))
	if h.When != nil {
		s += fmt.Sprintf(" (when %s = '%s')", db.QuoteIfNeeded(h.When.Column), strings.ReplaceAll(h.When.Value, "'", "''"))
	}
	return s
}

func columnList(cols []string) string {
	if len(cols) == 1 {
		return db.QuoteIfNeeded(cols[0])
	}
	q := make([]string, len(cols))
	for i, c := range cols {
		q[i] = db.QuoteIfNeeded(c)
	}
	return "(" + strings.Join(q, ", ") + ")"
}

// PathString shows a path as a chain of tables: refund -> purchase -> product -> store.
func PathString(path []Hop) string {
	if len(path) == 0 {
		return ""
	}
	parts := []string{path[0].From.String()}
	for _, h := range path {
		parts = append(parts, h.To.String())
	}
	return strings.Join(parts, " -> ")
}
