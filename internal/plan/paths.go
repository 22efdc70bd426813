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
// level, preferring paths made only of NOT NULL keys; the rest have no path
// and become reference tables.
func (b *builder) classify() error {
	b.findDirect()
	b.findNested(false)
	b.findNested(true)
	for _, t := range b.tables {
		if t.Kind == "" {
			t.Kind = Reference
		}
	}
	b.recordAltPaths()
	for _, t := range b.tables {
		if bad := nullableHops(t.Path); len(bad) > 0 {
			t.problem(nullablePath(t, bad))
		}
	}
	return nil
}

// hop turns a foreign key into a path step.
func (b *builder) hop(fk schema.ForeignKey) Hop {
	from := b.cat.Table(fk.Table)
	return Hop{
		From: fk.Table, FromColumns: fk.Columns, To: fk.RefTable, ToColumns: fk.RefColumns,
		Constraint: fk.Name, Declared: fk.Declared, Nullable: from == nil || from.Nullable(fk.Columns),
	}
}

// hopOf is the hop of a foreign key when nullability does not matter
// (identity comparisons).
func hopOf(fk schema.ForeignKey) Hop {
	return Hop{From: fk.Table, FromColumns: fk.Columns, To: fk.RefTable, ToColumns: fk.RefColumns, Constraint: fk.Name, Declared: fk.Declared}
}

// isRootKeyRef reports whether fk references exactly the root's key from
// one column: that column then already holds the tenant id.
func (b *builder) isRootKeyRef(fk schema.ForeignKey) bool {
	return fk.RefTable == b.plan.Root.Name() && len(fk.Columns) == 1 &&
		len(fk.RefColumns) == 1 && fk.RefColumns[0] == b.plan.RootKey
}

// findDirect marks tables with a key referencing the root's key. Among
// several, a NOT NULL one wins, then the one named like --tenant-column,
// then by name; the others are alternative paths.
func (b *builder) findDirect() {
	for _, t := range b.tables {
		if t.Kind != "" {
			continue
		}
		var hops []Hop
		for _, fk := range t.Source.ForeignKeys {
			if b.isRootKeyRef(fk) {
				hops = append(hops, b.hop(fk))
			}
		}
		if len(hops) == 0 {
			continue
		}
		sort.SliceStable(hops, func(i, j int) bool { return b.hopLess(hops[i], hops[j]) })
		t.Kind = Direct
		t.Path = []Hop{hops[0]}
		t.TenantColumn = hops[0].FromColumns[0]
		t.HasTenantColumn = true
		if len(hops) > 1 && hops[1].Nullable == hops[0].Nullable {
			t.problem(ambiguousPath(t, hops))
		}
		if c := t.Source.Column(t.TenantColumn); c.Type != b.plan.KeyType {
			t.problem(tenantTypeMismatch(t, c, b.plan.KeyType, b.plan.Root))
		}
	}
}

// hopLess orders candidate hops: NOT NULL first, then the column named like
// --tenant-column, then target table, constraint and columns by name.
func (b *builder) hopLess(x, y Hop) bool {
	if x.Nullable != y.Nullable {
		return !x.Nullable
	}
	if want := b.cfg.TenantColumn; want != "" {
		xw, yw := len(x.FromColumns) == 1 && x.FromColumns[0] == want, len(y.FromColumns) == 1 && y.FromColumns[0] == want
		if xw != yw {
			return xw
		}
	}
	if x.To != y.To {
		return schema.Less(x.To, y.To)
	}
	if x.Constraint != y.Constraint {
		return x.Constraint < y.Constraint
	}
	return strings.Join(x.FromColumns, "\x00") < strings.Join(y.FromColumns, "\x00")
}

// findNested gives undecided tables the shortest path through a parent that
// already has one, breadth first from the root so every path is shortest.
// The first pass (allowNullable false) uses only NOT NULL keys and parents
// whose own path is NOT NULL all the way; the second takes what is left.
func (b *builder) findNested(allowNullable bool) {
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
			if len(cands) > 1 && cands[1].Nullable == cands[0].Nullable {
				t.problem(ambiguousPath(t, cands))
			}
		}
	}
}

// candidates are t's hops to tables at the given path length.
func (b *builder) candidates(t *Table, level int, allowNullable bool) []Hop {
	var out []Hop
	for _, fk := range t.Source.ForeignKeys {
		p := b.byName[fk.RefTable]
		if p == nil || p == t || !p.Kind.Distributed() || len(p.Path) != level {
			continue
		}
		h := b.hop(fk)
		if !allowNullable && (h.Nullable || len(nullableHops(p.Path)) > 0) {
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

// recordAltPaths lists, for every distributed table, the other NOT NULL
// routes to the root: each other key to a distributed parent followed by
// that parent's path (one per first hop, which is what verify compares).
func (b *builder) recordAltPaths() {
	for _, t := range b.tables {
		if t.Kind != Direct && t.Kind != Nested {
			continue
		}
		chosen := hopKey(t.Path[0])
		for _, fk := range t.Source.ForeignKeys {
			p := b.byName[fk.RefTable]
			h := b.hop(fk)
			if p == nil || p == t || !p.Kind.Distributed() || h.Nullable || hopKey(h) == chosen ||
				len(nullableHops(p.Path)) > 0 || passesThrough(p.Path, t.Name()) {
				continue
			}
			t.AltPaths = append(t.AltPaths, append([]Hop{h}, p.Path...))
		}
		sort.SliceStable(t.AltPaths, func(i, j int) bool {
			if len(t.AltPaths[i]) != len(t.AltPaths[j]) {
				return len(t.AltPaths[i]) < len(t.AltPaths[j])
			}
			return b.hopLess(t.AltPaths[i][0], t.AltPaths[j][0])
		})
	}
}

func passesThrough(path []Hop, n schema.Name) bool {
	for _, h := range path {
		if h.From == n || h.To == n {
			return true
		}
	}
	return false
}

func nullableHops(path []Hop) []Hop {
	var out []Hop
	for _, h := range path {
		if h.Nullable {
			out = append(out, h)
		}
	}
	return out
}

// String shows a hop as SQL-ish text: product.store_id -> store.id.
func (h Hop) String() string {
	return fmt.Sprintf("%s.%s -> %s.%s", h.From, columnList(h.FromColumns), h.To, columnList(h.ToColumns))
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
