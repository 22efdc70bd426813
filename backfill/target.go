package backfill

import (
	"fmt"
	"strings"

	"github.com/tenantmover/tenantmover/internal/db"
	"github.com/tenantmover/tenantmover/internal/phase"
	"github.com/tenantmover/tenantmover/internal/plan"
)

// target is one nested table to fill: its key, its tenant column, the hop to
// the parent it copies the value from, and the chain of hops to the nearest
// table that has the value natively (what the trigger follows).
type target struct {
	table   db.QualifiedName
	name    string         // checkpoint and report name: table.String()
	column  string         // the tenant column to fill
	keyType string         // its type: the root key's
	keyCols []string       // primary key column names, in key order
	key     []phase.Column // the same with their types
	// branches are where the value comes from: one, or one per type of a
	// polymorphic association (each hop with its When).
	branches    []*branch
	partitioned bool
	estimate    int64
	names       objectNames
}

// branch is one parent a target copies its value from.
type branch struct {
	hop plan.Hop
	// parentColumn is the parent's tenant column (the root's key when the
	// parent is the root).
	parentColumn string
	// parent is the nested parent table whose fill must finish first; nil
	// when the parent is the root or a direct table.
	parent *target
	// chain leads from this table to the first table that is not nested,
	// whose chainColumn holds the value natively. The trigger uses it
	// because a nested parent may not be filled yet when a row arrives.
	chain       []plan.Hop
	chainColumn string
}

// polymorphic reports whether the rows' type column chooses the parent.
func (t *target) polymorphic() bool { return t.branches[0].hop.When != nil }

// parents are the nested parents whose fill must finish first.
func (t *target) parents() []*target {
	var out []*target
	for _, b := range t.branches {
		if b.parent != nil {
			out = append(out, b.parent)
		}
	}
	return out
}

// parentNames lists the parent tables, for the report.
func (t *target) parentNames() (tables, columns string) {
	var ts, cs []string
	for _, b := range t.branches {
		ts = append(ts, b.hop.To.String())
		cs = append(cs, b.parentColumn)
	}
	return strings.Join(ts, ", "), strings.Join(cs, ", ")
}

// targets lists the plan's nested tables in plan order (parents first).
func targets(p *plan.Plan) ([]*target, error) {
	byName := map[db.QualifiedName]*target{}
	var out []*target
	for _, pt := range p.OfKind(plan.Nested) {
		t, err := newTarget(p, pt)
		if err != nil {
			return nil, err
		}
		for _, b := range t.branches {
			if b.parent = byName[b.hop.To]; b.parent == nil && p.Table(b.hop.To).Kind == plan.Nested {
				return nil, fmt.Errorf("%s: its parent %s is nested but comes later in the plan order", t.name, b.hop.To)
			}
		}
		byName[t.table] = t
		out = append(out, t)
	}
	return out, nil
}

func newTarget(p *plan.Plan, pt *plan.Table) (*target, error) {
	src := pt.Source
	t := &target{
		table:       src.Name,
		name:        src.Name.String(),
		column:      pt.TenantColumn,
		keyType:     p.KeyType,
		partitioned: src.Partitioned,
		estimate:    src.EstimatedRows,
		names:       namesFor(src.Name, pt.TenantColumn),
	}
	if t.column == "" {
		t.column = p.TenantColumn
	}
	if len(pt.Path) == 0 {
		return nil, fmt.Errorf("%s: the plan found no foreign-key path to the tenant table, so there is nothing to fill it from (see tenantmover plan)", t.name)
	}
	if src.PrimaryKey == nil || len(src.PrimaryKey.Columns) == 0 {
		return nil, fmt.Errorf("%s has no primary key: the backfill walks tables in primary-key order; add one first", t.name)
	}
	for _, c := range src.PrimaryKey.Columns {
		col := src.Column(c)
		if col == nil {
			return nil, fmt.Errorf("%s: primary key column %q not found", t.name, c)
		}
		t.keyCols = append(t.keyCols, c)
		t.key = append(t.key, phase.Column{Name: c, Type: col.Type})
	}
	for _, path := range pathsOf(pt) {
		b, err := newBranch(p, t.name, path)
		if err != nil {
			return nil, err
		}
		t.branches = append(t.branches, b)
	}
	return t, nil
}

// pathsOf are the paths a nested table is filled through.
func pathsOf(pt *plan.Table) [][]plan.Hop {
	if len(pt.Branches) > 0 {
		return pt.Branches
	}
	return [][]plan.Hop{pt.Path}
}

// newBranch is the branch of one path of the table called name.
func newBranch(p *plan.Plan, name string, path []plan.Hop) (*branch, error) {
	b := &branch{hop: path[0]}
	parent := p.Table(b.hop.To)
	if parent == nil || parent.TenantColumn == "" {
		return nil, fmt.Errorf("%s: its parent %s has no tenant column in the plan", name, b.hop.To)
	}
	b.parentColumn = parent.TenantColumn
	for _, h := range path {
		b.chain = append(b.chain, h)
		end := p.Table(h.To)
		if end == nil {
			return nil, fmt.Errorf("%s: table %s on its path is not in the plan", name, h.To)
		}
		if end.Kind != plan.Nested {
			b.chainColumn = end.TenantColumn
			return b, nil
		}
	}
	return nil, fmt.Errorf("%s: its path never reaches a table that has the tenant value", name)
}
