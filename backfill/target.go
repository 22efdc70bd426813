package backfill

import (
	"fmt"

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
	hop     plan.Hop
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
	partitioned bool
	estimate    int64
	names       objectNames
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
		if t.parent = byName[t.hop.To]; t.parent == nil && p.Table(t.hop.To).Kind == plan.Nested {
			return nil, fmt.Errorf("%s: its parent %s is nested but comes later in the plan order", t.name, t.hop.To)
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
	t.hop = pt.Path[0]
	parent := p.Table(t.hop.To)
	if parent == nil || parent.TenantColumn == "" {
		return nil, fmt.Errorf("%s: its parent %s has no tenant column in the plan", t.name, t.hop.To)
	}
	t.parentColumn = parent.TenantColumn
	for _, h := range pt.Path {
		t.chain = append(t.chain, h)
		end := p.Table(h.To)
		if end == nil {
			return nil, fmt.Errorf("%s: table %s on its path is not in the plan", t.name, h.To)
		}
		if end.Kind != plan.Nested {
			t.chainColumn = end.TenantColumn
			return t, nil
		}
	}
	return nil, fmt.Errorf("%s: its path never reaches a table that has the tenant value", t.name)
}
