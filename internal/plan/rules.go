package plan

import (
	"slices"
	"strings"
)

// checkRules adds, table by table, every Citus rule the target would
// break: keys and foreign keys without the tenant column (fixed by the
// target SQL, so informational), and what the SQL cannot fix (blocking).
func (b *builder) checkRules() error {
	p := b.plan
	for _, t := range p.Tables {
		if t.Kind == Excluded {
			continue
		}
		if t.Source.PrimaryKey == nil {
			t.problem(noPrimaryKey(t))
		}
		if t.Kind == Reference && t.Source.Partitioned {
			t.problem(partitionedReference(t))
		}
		b.checkKeys(t)
		b.checkForeignKeys(t)
		b.checkManyToMany(t)
	}
	b.checkUndeclaredRelations()
	b.checkPolymorphic()
	for _, ty := range p.UsedTypes(p.Included()) {
		if ty.Kind == "other" {
			for _, t := range TablesUsing(p.Included(), ty) {
				t.problem(userType(t, ty))
			}
		}
	}
	for _, cy := range p.Cycles {
		if cy.Breakable {
			continue
		}
		for _, n := range cy.Tables {
			if t := p.Table(n); t != nil && t.Kind != Excluded {
				t.problem(fkCycle(cy))
			}
		}
	}
	return nil
}

// checkKeys reports primary, unique and exclusion constraints that lack the
// tenant column on a distributed table, and the indexes on the tenant
// column that the target leaves out because a key covers them.
func (b *builder) checkKeys(t *Table) {
	if !t.Kind.Distributed() {
		return
	}
	for _, d := range b.plan.Keys(t) {
		switch {
		case d.Impossible:
			t.problem(uniqueWithoutTenant(t, d.Key))
		case d.Changed && (d.Key.Expression || d.Key.Predicate != ""):
			t.problem(indexMadeComposite(t, d.Key))
		case d.Changed:
			t.problem(keyMadeComposite(t, d.Key, d.Primary, d.Columns))
		}
	}
	for _, d := range b.plan.Indexes(t) {
		if d.CoveredBy != "" {
			t.problem(redundantTenantIndex(t, d))
		}
	}
	for _, x := range t.Source.Exclusions {
		if !ExclusionHasTenant(x.Definition, t.TenantColumn) {
			t.problem(exclusionWithoutTenant(t, x))
		}
	}
}

// ExclusionHasTenant looks for "<tenant column> WITH =" in the constraint
// definition (pg_get_constraintdef quotes the name only when needed).
func ExclusionHasTenant(def, col string) bool {
	for _, name := range []string{col, `"` + strings.ReplaceAll(col, `"`, `""`) + `"`} {
		if strings.Contains(def, name+" WITH =") {
			return true
		}
	}
	return false
}

// checkForeignKeys reports what becomes of each foreign key.
func (b *builder) checkForeignKeys(t *Table) {
	for _, d := range b.plan.ForeignKeys(t) {
		if d.problem != nil {
			t.problem(*d.problem)
		}
		if d.Action != FKDrop && (d.OnDelete != d.FK.OnDelete || d.OnUpdate != d.FK.OnUpdate) {
			t.problem(fkActionUnsupported(d))
		}
	}
}

// checkManyToMany flags a join table kept out of distribution (by
// --reference) while it points at a distributed table: the error notes'
// company_users, which fails at runtime when left local.
// Django's own tables are left out: their keys to distributed tables are
// dropped (djangoFKDropped), so nothing is left to fail.
func (b *builder) checkManyToMany(t *Table) {
	if t.Kind != Reference || t.Django || len(t.Source.ForeignKeys) < 2 {
		return
	}
	for _, fk := range t.Source.ForeignKeys {
		if parent := b.plan.Table(fk.RefTable); parent != nil && parent.Kind.Distributed() && !fk.Declared {
			if !slices.ContainsFunc(t.Problems, func(p Problem) bool { return p.Code == CodeManyToManyNotDistributed }) {
				t.problem(manyToManyNotDistributed(t, fk))
			}
		}
	}
}
