package plan

import (
	"regexp"
	"slices"
	"strings"

	"github.com/tenantmover/tenantmover/internal/db"
	"github.com/tenantmover/tenantmover/internal/schema"
)

// nextval finds the sequences a default expression draws from.
var nextval = regexp.MustCompile(`nextval\('((?:[^']|'')+)'::regclass\)`)

// functions decides functions, procedures and aggregates (those views
// depend on are decided on the way, and views first when a function
// depends on one).
func (inv *inventory) functions() {
	for _, f := range inv.p.Catalog.Objects.Functions {
		inv.function(f)
	}
}

func functionKind(f *schema.Function) string {
	switch f.Kind {
	case "procedure":
		return ObjProcedure
	case "aggregate", "window":
		return ObjAggregate
	}
	return ObjFunction
}

func (inv *inventory) function(f *schema.Function) *Object {
	kind := functionKind(f)
	if o := inv.get(kind, f.Identity); o != nil {
		return o
	}
	var table *schema.Name
	if len(f.UsedBy) > 0 {
		table = &f.UsedBy[0]
	}
	switch {
	case kind == ObjAggregate:
		return inv.add(kind, f.Identity, table, true, aggregateNotRecreated(f))
	case f.Language == "c":
		return inv.add(kind, f.Identity, table, true, cFunction(f))
	}
	if pr, ok := inv.missingDependency(kind, f.Identity, f.DependsOn); ok {
		return inv.add(kind, f.Identity, table, true, pr)
	}
	var notes []Problem
	if ty := inv.rangeDependency(f.DependsOn); ty != "" {
		notes = append(notes, localOnly(kind, f.Identity, "type "+ty, "range types"))
	}
	return inv.add(kind, f.Identity, table, false, notes...)
}

// missingDependency is the problem of an object that depends on one the
// target does not get.
func (inv *inventory) missingDependency(kind, name string, deps []schema.ObjectRef) (Problem, bool) {
	inv.pending[objectKey(kind, name)] = true
	defer delete(inv.pending, objectKey(kind, name))
	for _, d := range deps {
		if o := inv.dependency(d); o != nil && o.Action == ObjectReport {
			return dependsOnMissing(kind, name, o), true
		}
	}
	return Problem{}, false
}

// dependency decides (or finds the decision for) the object a reference
// names; nil for what the inventory does not hold (system objects).
func (inv *inventory) dependency(d schema.ObjectRef) *Object {
	switch d.Type {
	case "table":
		if n, err := db.ParseQualifiedName(d.Identity, "public"); err == nil {
			if t := inv.table(n); t != nil {
				return inv.get(ObjTable, t.Name().String())
			}
		}
	case "type", "composite type":
		return inv.get(ObjType, d.Identity)
	case "function", "procedure", "aggregate":
		for _, f := range inv.p.Catalog.Objects.Functions {
			if f.Identity == d.Identity && !inv.pending[objectKey(functionKind(f), f.Identity)] {
				return inv.function(f)
			}
		}
	case "view", "materialized view":
		for _, v := range inv.p.Catalog.Objects.Views {
			if v.Identity == d.Identity && !inv.pending[objectKey(viewKind(v), v.Identity)] {
				return inv.view(v)
			}
		}
	}
	return nil
}

// rangeDependency names the user range type among deps, "" when none.
func (inv *inventory) rangeDependency(deps []schema.ObjectRef) string {
	for _, d := range deps {
		if d.Type != "type" {
			continue
		}
		for _, ty := range inv.p.Catalog.Types {
			if ty.Identity == d.Identity && ty.Kind == "range" {
				return ty.Identity
			}
		}
	}
	return ""
}

func (inv *inventory) views() {
	for _, v := range inv.p.Catalog.Objects.Views {
		inv.view(v)
	}
}

func viewKind(v *schema.View) string {
	if v.Materialized {
		return ObjMatView
	}
	return ObjView
}

// view: created after the tables; a materialized view stays on the
// coordinator, and so does a view over one.
func (inv *inventory) view(v *schema.View) *Object {
	kind := viewKind(v)
	if o := inv.get(kind, v.Identity); o != nil {
		return o
	}
	if pr, ok := inv.missingDependency(kind, v.Identity, v.DependsOn); ok {
		return inv.add(kind, v.Identity, nil, true, pr)
	}
	if ts := inv.groupedByChangedKeys(v.DependsOn); len(ts) > 0 {
		return inv.add(kind, v.Identity, nil, true, viewGroupsByKey(kind, v, ts))
	}
	var notes []Problem
	if v.Materialized {
		notes = append(notes, matViewLocal(v))
	} else if mv := inv.matViewDependency(v.DependsOn); mv != "" {
		notes = append(notes, localOnly(kind, v.Identity, "materialized view "+mv, "materialized views"))
	}
	if ty := inv.rangeDependency(v.DependsOn); ty != "" {
		notes = append(notes, localOnly(kind, v.Identity, "type "+ty, "range types"))
	}
	return inv.add(kind, v.Identity, nil, false, notes...)
}

// groupedByChangedKeys finds, among a view's dependencies, the primary
// keys of tables whose key becomes composite with the tenant column (a
// view depends on a key constraint only when its GROUP BY relies on the
// key determining the other columns), and returns those tables.
func (inv *inventory) groupedByChangedKeys(deps []schema.ObjectRef) []*Table {
	var out []*Table
	for _, d := range deps {
		if d.Type != "table constraint" {
			continue
		}
		con, table, ok := strings.Cut(d.Identity, " on ")
		if !ok {
			continue
		}
		n, err := db.ParseQualifiedName(table, "public")
		if err != nil {
			continue
		}
		t := inv.table(n)
		if t == nil || !t.Kind.Distributed() || t.Source.PrimaryKey == nil || t.Source.PrimaryKey.Name != con {
			continue
		}
		if !slices.Contains(t.Source.PrimaryKey.Columns, t.TenantColumn) {
			out = append(out, t)
		}
	}
	return out
}

// matViewDependency names the materialized view among deps, directly or
// through other views, "" when none.
func (inv *inventory) matViewDependency(deps []schema.ObjectRef) string {
	for _, d := range deps {
		switch d.Type {
		case "materialized view":
			return d.Identity
		case "view":
			for _, v := range inv.p.Catalog.Objects.Views {
				if v.Identity == d.Identity {
					if mv := inv.matViewDependency(v.DependsOn); mv != "" {
						return mv
					}
				}
			}
		}
	}
	return ""
}

// triggers: on a distributed table, a row trigger is created with
// citus.enable_unsafe_triggers (Citus runs it on the shard); statement
// and truncate triggers, and triggers on reference tables (they would
// run once per replica), are reported.
func (inv *inventory) triggers() {
	for _, tr := range inv.p.Catalog.Objects.Triggers {
		table := tr.Table
		if tr.OnView {
			v := inv.get(ObjView, viewIdentity(inv.p, tr.Table))
			if v == nil || v.Action != ObjectCreate {
				inv.add(ObjTrigger, tr.Identity, nil, true, onMissingView(tr))
			} else {
				inv.add(ObjTrigger, tr.Identity, nil, false)
			}
			continue
		}
		t := inv.table(tr.Table)
		if excluded(t) {
			inv.add(ObjTrigger, tr.Identity, &table, true, onExcluded(ObjTrigger, tr.Table))
			continue
		}
		if fn := inv.functionObject(tr.Function); fn != nil && fn.Action != ObjectCreate {
			inv.add(ObjTrigger, tr.Identity, &table, true, dependsOnMissing(ObjTrigger, tr.Identity, fn))
			continue
		}
		inv.triggerOnTable(tr, t)
	}
}

func (inv *inventory) triggerOnTable(tr *schema.Trigger, t *Table) {
	table := tr.Table
	switch {
	case t.Kind == Reference:
		inv.add(ObjTrigger, tr.Identity, &table, true, triggerOnReference(tr))
	case !tr.Row || tr.Truncate:
		inv.add(ObjTrigger, tr.Identity, &table, true, triggerPerShard(tr))
	default:
		inv.add(ObjTrigger, tr.Identity, &table, false, triggerUnsafe(tr))
	}
}

// functionObject finds the decision for the function called identity.
func (inv *inventory) functionObject(identity string) *Object {
	for _, k := range []string{ObjFunction, ObjProcedure, ObjAggregate} {
		if o := inv.get(k, identity); o != nil {
			return o
		}
	}
	return nil
}

// viewIdentity is the identity of the view called n.
func viewIdentity(p *Plan, n schema.Name) string {
	for _, v := range p.Catalog.Objects.Views {
		if v.Name == n {
			return v.Identity
		}
	}
	return ""
}

// subquery finds a subquery in a deparsed policy expression.
var subquery = regexp.MustCompile(`\(\s*SELECT\b`)

// policies: Citus refuses a subquery in a policy of a distributed or
// reference table; a policy naming a role the target lacks cannot be
// created either.
func (inv *inventory) policies() {
	for _, po := range inv.p.Catalog.Objects.Policies {
		table := po.Table
		t := inv.table(po.Table)
		switch {
		case excluded(t):
			inv.add(ObjPolicy, po.Identity, &table, true, onExcluded(ObjPolicy, po.Table))
		case subquery.MatchString(po.Using) || subquery.MatchString(po.WithCheck):
			inv.add(ObjPolicy, po.Identity, &table, true, policySubquery(po))
		case len(inv.missingRoles(po.Roles)) > 0:
			inv.add(ObjPolicy, po.Identity, &table, true, roleMissing(ObjPolicy, po.Identity, inv.missingRoles(po.Roles)))
		case setting.MatchString(po.Using) || setting.MatchString(po.WithCheck):
			inv.add(ObjPolicy, po.Identity, &table, false, policySetting(po))
		default:
			inv.add(ObjPolicy, po.Identity, &table, false)
		}
	}
}

// setting finds a session setting read in a deparsed policy expression.
var setting = regexp.MustCompile(`\bcurrent_setting\(`)

// missingRoles are the roles the target lacks (none before SetTarget).
func (inv *inventory) missingRoles(roles []string) []string {
	var out []string
	if inv.p.target == nil {
		return nil
	}
	for _, r := range roles {
		if r != "PUBLIC" && !inv.p.target.Roles[r] {
			out = append(out, r)
		}
	}
	return out
}

func (inv *inventory) rowSecurity() {
	for _, rs := range inv.p.Catalog.Objects.RowSecurity {
		table := rs.Table
		if excluded(inv.table(rs.Table)) {
			inv.add(ObjRowSecurity, rs.Table.String(), &table, true, onExcluded(ObjRowSecurity, rs.Table))
			continue
		}
		inv.add(ObjRowSecurity, rs.Table.String(), &table, false)
	}
}

// comments follow their object: created when it is.
func (inv *inventory) comments() {
	for _, c := range inv.p.Catalog.Objects.Comments {
		name := c.Type + " " + c.Identity
		parent := inv.commented(c)
		switch {
		case parent == nil:
			inv.add(ObjComment, name, c.Table, true, commentOnUnknown(c))
		case parent.Action != ObjectCreate:
			inv.add(ObjComment, name, c.Table, true, dependsOnMissing(ObjComment, name, parent))
		default:
			inv.add(ObjComment, name, c.Table, false)
		}
	}
}

// commented is the decision for the object a comment is on (for a
// column, constraint or index: its table or view).
func (inv *inventory) commented(c *schema.Comment) *Object {
	switch c.Type {
	case "schema":
		if parts, err := db.ParseIdentifierPath(c.Identity); err == nil && len(parts) == 1 {
			return inv.get(ObjSchema, db.QuoteIfNeeded(parts[0]))
		}
	case "type", "domain constraint":
		id := c.Identity
		if c.Type == "domain constraint" {
			id = id[strings.LastIndex(id, " on ")+4:]
		}
		return inv.get(ObjType, id)
	case "collation":
		return inv.get(ObjCollation, c.Identity)
	case "function", "procedure", "aggregate":
		return inv.functionObject(c.Identity)
	case "trigger":
		return inv.get(ObjTrigger, c.Identity)
	case "policy":
		return inv.get(ObjPolicy, c.Identity)
	}
	if c.Table == nil {
		return nil
	}
	o := inv.relation(*c.Table)
	if t := inv.table(*c.Table); o != nil && o.Action == ObjectCreate && t != nil && !inv.p.keepsConstraint(t, c) {
		return &Object{Kind: strings.TrimPrefix(c.Type, "table "), Name: c.Identity, Action: ObjectReport,
			Problems: []Problem{constraintLeftOut(c)}}
	}
	return o
}

// keepsConstraint reports whether the target gets the index or
// constraint a comment is on (the table's problems say why one is left
// out).
func (p *Plan) keepsConstraint(t *Table, c *schema.Comment) bool {
	id := c.Identity
	switch c.Type {
	case "table constraint":
		id = id[:strings.LastIndex(id, " on ")]
	case "index":
	default:
		return true
	}
	parts, err := db.ParseIdentifierPath(id)
	if err != nil {
		return true
	}
	name := parts[len(parts)-1]
	for _, d := range p.ForeignKeys(t) {
		if d.FK.Name == name && d.Action == FKDrop {
			return false
		}
	}
	for _, d := range p.Keys(t) {
		if d.Key.Name == name && d.Impossible {
			return false
		}
	}
	for _, x := range t.Source.Exclusions {
		if x.Name == name && t.Kind.Distributed() && !ExclusionHasTenant(x.Definition, t.TenantColumn) {
			return false
		}
	}
	return true
}

// relation is the decision for the table, sequence, view or
// materialized view called n.
func (inv *inventory) relation(n schema.Name) *Object {
	if t := inv.table(n); t != nil {
		return inv.get(ObjTable, t.Name().String())
	}
	if o := inv.get(ObjSequence, n.String()); o != nil {
		return o
	}
	for _, v := range inv.p.Catalog.Objects.Views {
		if v.Name == n {
			return inv.get(viewKind(v), v.Identity)
		}
	}
	return nil
}

// grants follow their object, and need their role on the target.
func (inv *inventory) grants() {
	for _, g := range inv.p.Catalog.Objects.Grants {
		name := g.String()
		var parent *Object
		if g.Type == "schema" {
			parent = inv.commented(&schema.Comment{Type: "schema", Identity: g.Identity})
		} else if g.Table != nil {
			parent = inv.relation(*g.Table)
		}
		switch {
		case parent == nil:
			inv.add(ObjGrant, name, g.Table, true, grantOnUnknown(g))
		case parent.Action != ObjectCreate:
			inv.add(ObjGrant, name, g.Table, true, dependsOnMissing(ObjGrant, name, parent))
		case len(inv.missingRoles([]string{g.Grantee})) > 0:
			inv.add(ObjGrant, name, g.Table, true, roleMissing(ObjGrant, name, []string{g.Grantee}))
		default:
			inv.add(ObjGrant, name, g.Table, false)
		}
	}
}
