package plan

import (
	"slices"

	"github.com/tenantmover/tenantmover/internal/db"
	"github.com/tenantmover/tenantmover/internal/schema"
)

// FKAction is what becomes of a source foreign key on the target.
type FKAction string

// Foreign-key dispositions.
const (
	FKKeep      FKAction = "keep"      // created as on the source
	FKComposite FKAction = "composite" // the tenant columns are prepended on both sides
	FKDrop      FKAction = "drop"      // left out (the reason is a Problem)
)

// FKDecision is the target form of one catalog foreign key.
type FKDecision struct {
	FK                  schema.ForeignKey
	Action              FKAction
	Columns, RefColumns []string // on the target
	OnDelete, OnUpdate  string   // on the target
	problem             *Problem
}

// KeyDecision is the target form of a primary or unique key.
type KeyDecision struct {
	Key     schema.Key
	Primary bool
	// Columns on the target: the source columns, with the tenant column
	// first when they lacked it (Changed). An expression index has only
	// the tenant column here, when it got it: its expressions follow it in
	// Key.Elements.
	Columns []string
	// Changed is true when the target puts the tenant column first in the
	// key. A partial or expression unique index keeps its WHERE clause,
	// expressions, INCLUDE columns and options after it.
	Changed bool
	// Impossible is true for a unique expression or partial index without
	// the tenant column whose definition could not be cut into parts: it is
	// left out (a blocking problem says so).
	Impossible bool
}

// Keys returns the target form of t's primary key and unique keys.
func (p *Plan) Keys(t *Table) []KeyDecision {
	var out []KeyDecision
	if pk := t.Source.PrimaryKey; pk != nil {
		out = append(out, keyDecision(t, *pk, true))
	}
	for _, k := range t.Source.Uniques {
		out = append(out, keyDecision(t, k, false))
	}
	return out
}

func keyDecision(t *Table, k schema.Key, primary bool) KeyDecision {
	d := KeyDecision{Key: k, Primary: primary, Columns: k.Columns}
	if !t.Kind.Distributed() || containsTenant(t, k) {
		return d
	}
	if (k.Expression || k.Predicate != "") && k.Elements == "" {
		d.Impossible = true
		return d
	}
	d.Columns = append([]string{t.TenantColumn}, k.Columns...)
	d.Changed = true
	return d
}

// IndexElements is the key list of a bare unique index on the target, as
// SQL: the tenant column first when the key was Changed, then the source's
// columns and expressions as pg_get_indexdef printed them (collations,
// operator classes and orderings included); "" when the definition was not
// cut into parts.
func (d KeyDecision) IndexElements(t *Table) string {
	if d.Key.Elements == "" {
		return ""
	}
	if d.Changed {
		return db.Ident(t.TenantColumn) + ", " + d.Key.Elements
	}
	return d.Key.Elements
}

// LeadsWithTenant reports whether the target key starts with the tenant
// column and covers every row (no WHERE clause): lookups by tenant can use
// it.
func (d KeyDecision) LeadsWithTenant(t *Table) bool {
	return !d.Impossible && d.Key.Predicate == "" && len(d.Columns) > 0 && d.Columns[0] == t.TenantColumn
}

// containsTenant reports whether a key already includes the tenant column
// as a plain column.
func containsTenant(t *Table, k schema.Key) bool {
	return slices.Contains(k.Columns, t.TenantColumn) || slices.Contains(k.PlainColumns, t.TenantColumn)
}

// IndexDecision is the target form of a non-unique index.
type IndexDecision struct {
	Index schema.Index
	// CoveredBy names the key or index of the target that starts with the
	// tenant column and so makes this index on the tenant column alone
	// redundant: the target leaves it out. "" when the index is kept.
	CoveredBy string
	// CoveringColumns are that key's or index's columns on the target.
	CoveringColumns []string
}

// Indexes returns the target form of t's non-unique indexes. On a
// distributed table, a plain btree index on the tenant column alone is
// left out when a key or another index of the target starts with the
// tenant column: a composite primary key (store_id, id) serves every
// lookup by tenant, and a second index would only slow writes.
func (p *Plan) Indexes(t *Table) []IndexDecision {
	var out []IndexDecision
	for _, ix := range t.Source.Indexes {
		d := IndexDecision{Index: ix}
		if t.Kind.Distributed() && onTenantAlone(t, ix) {
			d.CoveredBy, d.CoveringColumns = p.coveringIndex(t, ix)
		}
		out = append(out, d)
	}
	return out
}

// onTenantAlone reports whether ix is a plain btree index on the tenant
// column and nothing else.
func onTenantAlone(t *Table, ix schema.Index) bool {
	return ix.Method == "btree" && ix.Predicate == "" && len(ix.Included) == 0 &&
		len(ix.Columns) == 1 && ix.Columns[0] == t.TenantColumn
}

// coveringIndex finds a target key, or another index, that starts with the
// tenant column and covers every row; among indexes on the tenant column
// alone, the first by name is kept.
func (p *Plan) coveringIndex(t *Table, ix schema.Index) (string, []string) {
	for _, d := range p.Keys(t) {
		if d.LeadsWithTenant(t) {
			if d.Primary {
				return "primary key " + db.QuoteIfNeeded(d.Key.Name), d.Columns
			}
			if d.Key.IsConstraint {
				return "unique key " + db.QuoteIfNeeded(d.Key.Name), d.Columns
			}
			return "unique index " + db.QuoteIfNeeded(d.Key.Name), d.Columns
		}
	}
	for _, o := range t.Source.Indexes {
		if o.Name == ix.Name || o.Predicate != "" || o.Method != "btree" || len(o.Columns) == 0 || o.Columns[0] != t.TenantColumn {
			continue
		}
		if len(o.Columns) > 1 || (onTenantAlone(t, o) && o.Name < ix.Name) {
			return "index " + db.QuoteIfNeeded(o.Name), o.Columns
		}
	}
	return "", nil
}

// ForeignKeys returns the target form of t's catalog foreign keys (declared
// relations are paths only and never become constraints).
func (p *Plan) ForeignKeys(t *Table) []FKDecision {
	if t.Kind == Excluded {
		return nil
	}
	var out []FKDecision
	for _, fk := range t.Source.ForeignKeys {
		if fk.Declared {
			continue
		}
		out = append(out, p.fkDecision(t, fk))
	}
	return out
}

func (p *Plan) fkDecision(t *Table, fk schema.ForeignKey) FKDecision {
	d := FKDecision{FK: fk, Action: FKKeep, Columns: fk.Columns, RefColumns: fk.RefColumns, OnDelete: fk.OnDelete, OnUpdate: fk.OnUpdate}
	parent := p.Table(fk.RefTable)
	drop := func(pr Problem) FKDecision {
		d.Action = FKDrop
		d.problem = &pr
		return d
	}
	switch {
	case parent == nil || parent.Kind == Excluded:
		return drop(fkToExcluded(d))
	case !t.Kind.Distributed() && parent.Kind.Distributed() && t.Django:
		return drop(djangoFKDropped(t, fk))
	case !t.Kind.Distributed() && parent.Kind.Distributed():
		return drop(referenceToDistributed(t, fk))
	case !t.Kind.Distributed():
		return d
	case parent.Kind.Distributed():
		i := slices.Index(fk.RefColumns, parent.TenantColumn)
		j := slices.Index(fk.Columns, t.TenantColumn)
		switch {
		case i >= 0 && i == j:
		case i >= 0 || j >= 0:
			return drop(fkCrossTenant(t, d, parent))
		default:
			d.Action = FKComposite
			d.Columns = append([]string{t.TenantColumn}, fk.Columns...)
			d.RefColumns = append([]string{parent.TenantColumn}, fk.RefColumns...)
			pr := fkMadeComposite(t, d)
			d.problem = &pr
		}
	}
	// Citus refuses actions that would change or null a distribution
	// column through the key.
	if slices.Contains(d.Columns, t.TenantColumn) {
		if d.OnDelete == "SET NULL" || d.OnDelete == "SET DEFAULT" {
			d.OnDelete = "NO ACTION"
		}
		if d.OnUpdate == "SET NULL" || d.OnUpdate == "SET DEFAULT" || d.OnUpdate == "CASCADE" {
			d.OnUpdate = "NO ACTION"
		}
	}
	return d
}
