package schema

import (
	"sort"
	"strings"
)

// Cycle is a set of tables whose foreign keys reference each other in a
// ring (a self-reference such as task.parent_id is a ring of one).
type Cycle struct {
	Tables []Name // members, sorted by name
	// Broken are the foreign keys set aside to order the members: nullable
	// or deferrable ones, so rows can be loaded first with the column NULL
	// or the check deferred. For a self-reference it is the FK itself.
	Broken []ForeignKey
	// Breakable is false when the members still reference each other in a
	// ring through NOT NULL, non-deferrable keys: no load order satisfies
	// them row by row.
	Breakable bool
}

// Nullable reports whether any of the columns may hold NULL: a row can then
// exist without a referenced row.
func (t *Table) Nullable(columns []string) bool {
	for _, n := range columns {
		if c := t.Column(n); c == nil || !c.NotNull {
			return true
		}
	}
	return false
}

// Order sorts the catalog's tables parents first; see OrderTables.
func (c *Catalog) Order() ([]*Table, []Cycle) { return OrderTables(c.Tables) }

// OrderTables returns tables so that each comes after every table it
// references among them (foreign keys to tables outside the list are
// ignored), ties broken by name so the order is stable. Foreign-key cycles
// are broken at nullable or deferrable keys, fewest first; every cycle is
// returned, breakable or not. A cycle that cannot be broken still gets an
// order (its members by name) so callers can report rather than stop.
func OrderTables(tables []*Table) ([]*Table, []Cycle) { return OrderTablesKeeping(tables, nil) }

// OrderTablesKeeping is OrderTables where keep (when not nil) marks foreign
// keys that must never be set aside to break a cycle, such as the hops of
// the tenant paths (a child is backfilled from its parent, so the parent
// must come first).
func OrderTablesKeeping(tables []*Table, keep func(ForeignKey) bool) ([]*Table, []Cycle) {
	g := newGraph(tables)
	g.keep = keep
	var cycles []Cycle
	for _, comp := range g.components() {
		if cy, ok := g.cycle(comp); ok {
			cycles = append(cycles, cy)
		}
	}
	sort.Slice(cycles, func(i, j int) bool { return Less(cycles[i].Tables[0], cycles[j].Tables[0]) })
	return g.topo(), cycles
}

// graph is the FK graph over a list of tables: an edge from a table to each
// table it references.
type graph struct {
	tables []*Table // sorted by name
	index  map[Name]int
	edges  []edge
	out    [][]int // node -> edge indexes
	off    []bool  // edge set aside
	keep   func(ForeignKey) bool
}

type edge struct {
	from, to int
	fk       ForeignKey
}

func newGraph(tables []*Table) *graph {
	g := &graph{tables: append([]*Table(nil), tables...), index: map[Name]int{}}
	sort.Slice(g.tables, func(i, j int) bool { return Less(g.tables[i].Name, g.tables[j].Name) })
	for i, t := range g.tables {
		g.index[t.Name] = i
	}
	g.out = make([][]int, len(g.tables))
	for i, t := range g.tables {
		for _, fk := range t.ForeignKeys {
			j, ok := g.index[fk.RefTable]
			if !ok {
				continue
			}
			g.out[i] = append(g.out[i], len(g.edges))
			g.edges = append(g.edges, edge{from: i, to: j, fk: fk})
		}
	}
	g.off = make([]bool, len(g.edges))
	return g
}

// breakable reports whether rows can be loaded before the rows an edge
// points at.
func (g *graph) breakable(e edge) bool {
	if g.keep != nil && g.keep(e.fk) {
		return false
	}
	return e.fk.Deferrable || g.tables[e.from].Nullable(e.fk.Columns)
}

// cycle sets aside edges inside one strongly connected component until it
// is acyclic, and describes it; ok is false for a component that is no
// cycle at all (one table without a self-reference).
func (g *graph) cycle(comp []int) (Cycle, bool) {
	in := map[int]bool{}
	for _, n := range comp {
		in[n] = true
	}
	var inner []int
	for _, n := range comp {
		for _, ei := range g.out[n] {
			if in[g.edges[ei].to] {
				inner = append(inner, ei)
			}
		}
	}
	if len(inner) == 0 {
		return Cycle{}, false
	}
	cy := Cycle{Breakable: true}
	for _, n := range comp {
		cy.Tables = append(cy.Tables, g.tables[n].Name)
	}
	sort.Slice(cy.Tables, func(i, j int) bool { return Less(cy.Tables[i], cy.Tables[j]) })
	// Self-references never constrain the order between tables.
	for _, ei := range inner {
		if e := g.edges[ei]; e.from == e.to {
			g.off[ei] = true
			cy.Broken = append(cy.Broken, e.fk)
			if !g.breakable(e) {
				cy.Breakable = false
			}
		}
	}
	// Deferrable keys first (nothing changes for the rows), then nullable
	// ones, each by name; set one aside at a time while it still closes a
	// ring, so as few as possible are broken.
	candidates := append([]int(nil), inner...)
	sort.SliceStable(candidates, func(i, j int) bool {
		a, b := g.edges[candidates[i]], g.edges[candidates[j]]
		if a.fk.Deferrable != b.fk.Deferrable {
			return a.fk.Deferrable
		}
		return fkKey(a.fk) < fkKey(b.fk)
	})
	for _, ei := range candidates {
		e := g.edges[ei]
		if g.off[ei] || !g.breakable(e) || !g.inRing(comp, ei) {
			continue
		}
		g.off[ei] = true
		cy.Broken = append(cy.Broken, e.fk)
	}
	for _, ei := range inner {
		if !g.off[ei] && g.inRing(comp, ei) {
			cy.Breakable = false
			g.off[ei] = true // so an order still exists
		}
	}
	return cy, true
}

// inRing reports whether edge ei, with the edges not set aside, lies on a
// ring: its target reaches its source inside the component.
func (g *graph) inRing(comp []int, ei int) bool {
	in := map[int]bool{}
	for _, n := range comp {
		in[n] = true
	}
	e := g.edges[ei]
	seen := map[int]bool{e.to: true}
	stack := []int{e.to}
	for len(stack) > 0 {
		n := stack[len(stack)-1]
		stack = stack[:len(stack)-1]
		if n == e.from {
			return true
		}
		for _, x := range g.out[n] {
			if g.off[x] || x == ei {
				continue
			}
			if to := g.edges[x].to; in[to] && !seen[to] {
				seen[to] = true
				stack = append(stack, to)
			}
		}
	}
	return false
}

func fkKey(fk ForeignKey) string {
	return fk.Table.Schema + "\x00" + fk.Table.Name + "\x00" + fk.Name + "\x00" + strings.Join(fk.Columns, "\x00")
}

// components returns the strongly connected components (Tarjan).
func (g *graph) components() [][]int {
	n := len(g.tables)
	index, low := make([]int, n), make([]int, n)
	onStack := make([]bool, n)
	for i := range index {
		index[i] = -1
	}
	var (
		stack []int
		comps [][]int
		next  int
	)
	var visit func(v int)
	visit = func(v int) {
		index[v], low[v] = next, next
		next++
		stack = append(stack, v)
		onStack[v] = true
		for _, ei := range g.out[v] {
			w := g.edges[ei].to
			if index[w] < 0 {
				visit(w)
				low[v] = min(low[v], low[w])
			} else if onStack[w] {
				low[v] = min(low[v], index[w])
			}
		}
		if low[v] == index[v] {
			var comp []int
			for {
				w := stack[len(stack)-1]
				stack = stack[:len(stack)-1]
				onStack[w] = false
				comp = append(comp, w)
				if w == v {
					break
				}
			}
			comps = append(comps, comp)
		}
	}
	for v := 0; v < n; v++ {
		if index[v] < 0 {
			visit(v)
		}
	}
	return comps
}

// topo orders the tables parents first over the edges not set aside (Kahn,
// always taking the smallest ready name).
func (g *graph) topo() []*Table {
	n := len(g.tables)
	pending := make([]int, n)    // parents not yet placed
	children := make([][]int, n) // parent -> dependent tables
	for ei, e := range g.edges {
		if g.off[ei] || e.from == e.to {
			continue
		}
		pending[e.from]++
		children[e.to] = append(children[e.to], e.from)
	}
	var ready []int
	for i := 0; i < n; i++ {
		if pending[i] == 0 {
			ready = append(ready, i)
		}
	}
	out := make([]*Table, 0, n)
	for len(ready) > 0 {
		sort.Ints(ready) // indexes follow name order
		v := ready[0]
		ready = ready[1:]
		out = append(out, g.tables[v])
		for _, c := range children[v] {
			if pending[c]--; pending[c] == 0 {
				ready = append(ready, c)
			}
		}
	}
	return out
}
