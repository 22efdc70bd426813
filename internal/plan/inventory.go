package plan

import (
	"sort"
	"strings"

	"github.com/tenantmover/tenantmover/internal/db"
	"github.com/tenantmover/tenantmover/internal/schema"
)

// ObjectAction is what becomes of one source object on the target.
type ObjectAction string

// Object actions.
const (
	// ObjectCreate: the target gets it (plan --apply, migrate); its
	// Problems, if any, are notes on how it behaves there.
	ObjectCreate ObjectAction = "create"
	// ObjectReport: the target does not get it; Problems say why and what
	// to do.
	ObjectReport ObjectAction = "report"
)

// Object kinds, as plan --format json names them.
const (
	ObjExtension   = "extension"
	ObjSchema      = "schema"
	ObjCollation   = "collation"
	ObjType        = "type"
	ObjSequence    = "sequence"
	ObjTable       = "table"
	ObjFunction    = "function"
	ObjProcedure   = "procedure"
	ObjAggregate   = "aggregate"
	ObjView        = "view"
	ObjMatView     = "materialized view"
	ObjTrigger     = "trigger"
	ObjPolicy      = "policy"
	ObjRowSecurity = "row level security"
	ObjComment     = "comment"
	ObjGrant       = "grant"
)

// Object is the decision for one schema object of the source: every one
// is either created on the target or reported, never left out silently.
type Object struct {
	Kind string `json:"kind"`
	// Name identifies it the way PostgreSQL does (pg_identify_object):
	// "public.touch()", "audit on public.product"; a comment is "<kind of
	// the object> <its name>", a grant "<privileges> on <object> to
	// <role>".
	Name     string       `json:"name"`
	Action   ObjectAction `json:"action"`
	Problems []Problem    `json:"problems,omitempty"`
	// Table is the table the object belongs to, whose migration its
	// blocking problems hold up; nil for others.
	Table *schema.Name `json:"-"`
}

// TargetObjects is what plan needs to know of the target to decide on
// objects: the roles grants and policies name, the extensions it can
// install.
type TargetObjects struct {
	Roles      map[string]bool // role names
	Extensions map[string]bool // pg_available_extensions
}

// Object returns the decision for the object of that kind and name, or
// nil.
func (p *Plan) Object(kind, name string) *Object { return p.objectIndex[objectKey(kind, name)] }

// Creates reports whether the target gets the object of that kind and
// name.
func (p *Plan) Creates(kind, name string) bool {
	o := p.Object(kind, name)
	return o != nil && o.Action == ObjectCreate
}

// NotCreated counts the schema objects the target does not get (plan
// reports each with the reason instead).
func (p *Plan) NotCreated() int {
	n := 0
	for _, o := range p.Objects {
		if o.Action != ObjectCreate {
			n++
		}
	}
	return n
}

// SetTarget decides again, knowing the target: grants and policies to
// roles it lacks are reported instead of created, and an extension it
// cannot install is a blocking problem. Calling it again with the same
// target changes nothing.
func (p *Plan) SetTarget(t TargetObjects) {
	p.target = &t
	p.decideObjects()
}

// TargetChecked reports whether SetTarget was called.
func (p *Plan) TargetChecked() bool { return p.target != nil }

func objectKey(kind, name string) string { return kind + "\x00" + name }

// inventory builds Plan.Objects.
type inventory struct {
	p       *Plan
	objs    map[string]*Object
	pending map[string]bool // functions and views being decided (cycle guard)
}

// decideObjects (re)builds the decision for every object of the catalog.
func (p *Plan) decideObjects() {
	inv := &inventory{p: p, objs: map[string]*Object{}, pending: map[string]bool{}}
	for _, step := range []func(){
		inv.extensions, inv.schemas, inv.collations, inv.types, inv.sequences, inv.tables,
		inv.functions, inv.views, inv.triggers, inv.policies, inv.rowSecurity, inv.comments, inv.grants,
	} {
		step()
	}
	p.Objects = p.Objects[:0]
	for _, o := range inv.objs {
		p.Objects = append(p.Objects, o)
	}
	sort.Slice(p.Objects, func(i, j int) bool {
		a, b := p.Objects[i], p.Objects[j]
		if a.Kind != b.Kind {
			return kindRank[a.Kind] < kindRank[b.Kind]
		}
		return a.Name < b.Name
	})
	p.objectIndex = inv.objs
}

// kindRank orders Plan.Objects roughly as the target creates them.
var kindRank = map[string]int{
	ObjExtension: 0, ObjSchema: 1, ObjCollation: 2, ObjType: 3, ObjSequence: 4, ObjTable: 5, ObjFunction: 6,
	ObjProcedure: 7, ObjAggregate: 8, ObjView: 9, ObjMatView: 10, ObjTrigger: 11, ObjPolicy: 12, ObjRowSecurity: 13,
	ObjComment: 14, ObjGrant: 15,
}

// add records a decision: created unless a problem says otherwise.
func (inv *inventory) add(kind, name string, table *schema.Name, report bool, problems ...Problem) *Object {
	o := &Object{Kind: kind, Name: name, Action: ObjectCreate, Table: table, Problems: problems}
	if report {
		o.Action = ObjectReport
	}
	inv.objs[objectKey(kind, name)] = o
	return o
}

func (inv *inventory) get(kind, name string) *Object { return inv.objs[objectKey(kind, name)] }

func (inv *inventory) extensions() {
	for _, x := range inv.p.Catalog.Objects.Extensions {
		if t := inv.p.target; t != nil && !t.Extensions[x.Name] {
			inv.add(ObjExtension, x.Name, nil, true, extensionUnavailable(x))
			continue
		}
		inv.add(ObjExtension, x.Name, nil, false)
	}
}

func (inv *inventory) schemas() {
	for _, s := range inv.p.Catalog.Objects.Schemas {
		inv.add(ObjSchema, db.QuoteIfNeeded(s), nil, false)
	}
}

func (inv *inventory) collations() {
	for _, c := range inv.p.Catalog.Objects.Collations {
		inv.add(ObjCollation, c.Identity, nil, false)
	}
}

// types: an extension's types come with it; base types from C code are
// not recreated; range types are, on the coordinator only.
func (inv *inventory) types() {
	for _, ty := range inv.p.Catalog.Types {
		switch ty.Kind {
		case "extension":
		case "other":
			inv.add(ObjType, ty.Identity, nil, true, baseType(ty))
		case "range":
			inv.add(ObjType, ty.Identity, nil, false, rangeLocal(ty))
		default:
			inv.add(ObjType, ty.Identity, nil, false)
		}
	}
}

// sequences: the target gets every sequence but those only excluded
// tables use; a free-standing one keeps its start value.
func (inv *inventory) sequences() {
	used := map[schema.Name]bool{}
	for _, t := range inv.p.Included() {
		for _, n := range t.Sequences() {
			used[n] = true
		}
	}
	for _, q := range inv.p.Catalog.Sequences {
		switch {
		case used[q.Name]:
			inv.add(ObjSequence, q.Name.String(), q.OwnedBy, false)
		case q.OwnedBy != nil && excluded(inv.table(*q.OwnedBy)):
			inv.add(ObjSequence, q.Name.String(), q.OwnedBy, true, onExcluded(ObjSequence, *q.OwnedBy))
		default:
			inv.add(ObjSequence, q.Name.String(), q.OwnedBy, false, sequenceValue(q))
		}
	}
}

func (inv *inventory) tables() {
	for _, t := range inv.p.Tables {
		n := t.Name()
		if t.Kind == Excluded {
			inv.add(ObjTable, n.String(), &n, true, excludedTable(t))
			continue
		}
		inv.add(ObjTable, n.String(), &n, false)
	}
}

// excluded reports whether a table (nil: not read) stays off the target.
func excluded(t *Table) bool { return t == nil || t.Kind == Excluded }

// table is the plan of the table (or of the partitioned table holding
// the partition) called n; nil when the source has no such table.
func (inv *inventory) table(n schema.Name) *Table {
	if t := inv.p.Table(n); t != nil {
		return t
	}
	for _, t := range inv.p.Tables {
		for _, part := range t.Source.Partitions {
			if part.Name == n {
				return t
			}
		}
	}
	return nil
}

// Sequences are the sequences the table's columns draw from: owned ones
// (serial, identity) and those their defaults call nextval on.
func (t *Table) Sequences() []schema.Name {
	var out []schema.Name
	for _, c := range t.Source.Columns {
		if c.Sequence != nil {
			out = append(out, *c.Sequence)
		}
		out = append(out, NextvalSequences(c.Default)...)
	}
	return out
}

// NextvalSequences are the sequences a default expression draws from
// (nextval('public.store_id_seq'::regclass)).
func NextvalSequences(expr string) []schema.Name {
	var out []schema.Name
	for _, m := range nextval.FindAllStringSubmatch(expr, -1) {
		if n, err := db.ParseQualifiedName(strings.ReplaceAll(m[1], "''", "'"), "public"); err == nil {
			out = append(out, n)
		}
	}
	return out
}

// checkObjects decides on every schema object, then reports the tables
// Citus cannot take because of one: a column of a range type, a default,
// check or index calling a function the target does not get.
func (b *builder) checkObjects() error {
	p := b.plan
	p.decideObjects()
	for _, t := range p.Included() {
		for _, c := range t.Source.Columns {
			for _, ty := range p.Catalog.Types {
				if ty.Kind == "range" && strings.TrimSuffix(c.Type, "[]") == ty.Name.String() {
					t.problem(rangeColumn(t, ty, c.Name))
				}
			}
		}
	}
	for _, f := range p.Catalog.Objects.Functions {
		o := p.Object(functionKind(f), f.Identity)
		if o == nil || o.Action == ObjectCreate {
			continue
		}
		for _, n := range f.UsedBy {
			if t := p.Table(n); t != nil && t.Kind != Excluded {
				t.problem(functionNotRecreated(t, o))
			}
		}
	}
	return nil
}
