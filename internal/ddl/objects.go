package ddl

import (
	"fmt"
	"slices"
	"strings"

	"github.com/tenantmover/tenantmover/internal/db"
	"github.com/tenantmover/tenantmover/internal/plan"
	"github.com/tenantmover/tenantmover/internal/schema"
)

// The statements of the schema objects besides tables, in the order Steps
// puts them: extensions and collations before the types, the types and
// the functions that need no table before the tables (their defaults and
// checks may call them), then, once the tables are distributed, views,
// materialized views and the functions that use tables, each after what
// it uses; comments and grants; and after the data (with the foreign keys)
// the materialized views' refresh, triggers and row-level security.

// extensionSteps creates the extensions the plan keeps, each after those
// it requires.
func extensionSteps(p *plan.Plan) []Step {
	exts := p.Catalog.Objects.Extensions
	var nodes []node
	for _, x := range exts {
		if !p.Creates(plan.ObjExtension, x.Name) || x.Name == "plpgsql" {
			continue // plpgsql is in every database
		}
		var deps []string
		for _, r := range x.Requires {
			deps = append(deps, objectKey("extension", r))
		}
		nodes = append(nodes, node{key: objectKey("extension", x.Name), deps: deps, step: Step{
			Kind: StepExtension, Object: x.Name,
			SQL: fmt.Sprintf("CREATE EXTENSION IF NOT EXISTS %s WITH SCHEMA %s;", db.Ident(x.Name), db.Ident(x.Schema)),
		}})
	}
	return depOrder(nodes)
}

func collationSteps(p *plan.Plan) []Step {
	var steps []Step
	for _, c := range p.Catalog.Objects.Collations {
		if p.Creates(plan.ObjCollation, c.Identity) {
			steps = append(steps, Step{Kind: StepCollation, Object: c.Identity, SQL: collationSQL(c)})
		}
	}
	return steps
}

func collationSQL(c *schema.Collation) string {
	var opts []string
	switch c.Provider {
	case "i":
		opts = append(opts, "provider = icu", "locale = "+literal(c.Locale))
		if c.Rules != "" {
			opts = append(opts, "rules = "+literal(c.Rules))
		}
	default:
		opts = append(opts, "provider = libc", "lc_collate = "+literal(c.Collate), "lc_ctype = "+literal(c.CType))
	}
	if !c.Deterministic {
		opts = append(opts, "deterministic = false")
	}
	return fmt.Sprintf("CREATE COLLATION IF NOT EXISTS %s (%s);", c.Name.Quoted(), strings.Join(opts, ", "))
}

// beforeTables are the types and the functions that use no table, each
// after what it needs (a domain after the function its check calls).
func beforeTables(p *plan.Plan) []Step {
	var nodes []node
	for _, ty := range p.Catalog.Types {
		if s, ok := typeStep(p, ty); ok {
			nodes = append(nodes, node{key: objectKey("type", ty.Identity), deps: refKeys(ty.DependsOn), step: s})
		}
	}
	late := usesTables(p)
	for _, f := range p.Catalog.Objects.Functions {
		if created(p, f) && !late[f.Identity] {
			nodes = append(nodes, functionNode(f))
		}
	}
	return depOrder(nodes)
}

// afterTables are the views, materialized views (created empty: they are
// refreshed after the data) and the functions that use tables, each after
// what it uses.
func afterTables(p *plan.Plan) []Step {
	var nodes []node
	late := usesTables(p)
	for _, f := range p.Catalog.Objects.Functions {
		if created(p, f) && late[f.Identity] {
			nodes = append(nodes, functionNode(f))
		}
	}
	for _, v := range p.Catalog.Objects.Views {
		if p.Creates(viewKind(v), v.Identity) {
			nodes = append(nodes, node{key: objectKey("view", v.Identity), deps: refKeys(v.DependsOn),
				step: statements(Step{Kind: StepView, Object: v.Identity}, viewSQL(v))})
		}
	}
	return depOrder(nodes)
}

func viewKind(v *schema.View) string {
	if v.Materialized {
		return plan.ObjMatView
	}
	return plan.ObjView
}

func viewSQL(v *schema.View) []string {
	var b strings.Builder
	b.WriteString("CREATE ")
	if v.Materialized {
		b.WriteString("MATERIALIZED ")
	}
	fmt.Fprintf(&b, "VIEW %s", v.Name.Quoted())
	if v.AccessMethod != "" {
		b.WriteString(" USING " + db.Ident(v.AccessMethod))
	}
	if len(v.Options) > 0 {
		fmt.Fprintf(&b, " WITH (%s)", strings.Join(v.Options, ", "))
	}
	fmt.Fprintf(&b, " AS\n%s", v.Definition)
	if v.Materialized {
		b.WriteString("\nWITH NO DATA")
	}
	b.WriteString(";")
	stmts := []string{b.String()}
	for _, ix := range v.Indexes {
		stmts = append(stmts, ix+";")
	}
	return stmts
}

func functionKind(f *schema.Function) string {
	switch f.Kind {
	case "procedure":
		return plan.ObjProcedure
	case "aggregate", "window":
		return plan.ObjAggregate
	}
	return plan.ObjFunction
}

func created(p *plan.Plan, f *schema.Function) bool { return p.Creates(functionKind(f), f.Identity) }

func functionNode(f *schema.Function) node {
	return node{key: objectKey("function", f.Identity), deps: refKeys(f.DependsOn),
		step: Step{Kind: StepFunction, Object: f.Identity, SQL: strings.TrimSpace(f.Definition) + ";"}}
}

// usesTables finds the functions that need a table or view (directly, or
// through another function): they come after the tables.
func usesTables(p *plan.Plan) map[string]bool {
	fns := p.Catalog.Objects.Functions
	late := map[string]bool{}
	for changed := true; changed; {
		changed = false
		for _, f := range fns {
			if late[f.Identity] {
				continue
			}
			for _, d := range f.DependsOn {
				if d.Type == "table" || d.Type == "view" || d.Type == "materialized view" || late[d.Identity] && refKind(d.Type) == "function" {
					late[f.Identity], changed = true, true
					break
				}
			}
		}
	}
	return late
}

// commentSteps are the COMMENT ON statements of the plan, those on
// objects created after the data (triggers, policies) when after is set,
// the others when not.
func commentSteps(p *plan.Plan, after bool) []Step {
	var steps []Step
	for _, c := range p.Catalog.Objects.Comments {
		name := c.Type + " " + c.Identity
		if !p.Creates(plan.ObjComment, name) || (c.Type == "trigger" || c.Type == "policy") != after {
			continue
		}
		steps = append(steps, Step{Kind: StepComment, Object: name, afterData: after, keys: []string{commentKey(c)},
			SQL: fmt.Sprintf("COMMENT ON %s IS %s;", commentTarget(c), literal(c.Text))})
	}
	return steps
}

// commentTarget is what COMMENT ON names: the object's kind as the
// statement spells it, then its identity.
func commentTarget(c *schema.Comment) string {
	switch c.Type {
	case "table column", "view column", "materialized view column", "composite type column":
		return "COLUMN " + c.Identity
	case "table constraint":
		return "CONSTRAINT " + c.Identity
	case "domain constraint":
		i := strings.LastIndex(c.Identity, " on ")
		return "CONSTRAINT " + c.Identity[:i] + " ON DOMAIN " + c.Identity[i+4:]
	}
	return strings.ToUpper(c.Type) + " " + c.Identity
}

// grantSteps are the GRANT statements of the plan.
func grantSteps(p *plan.Plan) []Step {
	var steps []Step
	for _, g := range p.Catalog.Objects.Grants {
		if !p.Creates(plan.ObjGrant, g.String()) {
			continue
		}
		steps = append(steps, Step{Kind: StepGrant, Object: g.String(), keys: grantKeys(g), SQL: grantSQL(g)})
	}
	return steps
}

func grantSQL(g *schema.Grant) string {
	privs := strings.Join(g.Privileges, ", ")
	on := "TABLE " + g.Identity
	switch {
	case g.Column != "":
		privs = fmt.Sprintf("%s (%s)", privs, db.Ident(g.Column))
	case g.Type == "schema":
		on = "SCHEMA " + g.Identity
	case g.Type == "sequence":
		on = "SEQUENCE " + g.Identity
	}
	s := fmt.Sprintf("GRANT %s ON %s TO %s", privs, on, roleName(g.Grantee))
	if g.Grantable {
		s += " WITH GRANT OPTION"
	}
	return s + ";"
}

func roleName(r string) string {
	if r == "PUBLIC" {
		return r
	}
	return db.Ident(r)
}

// afterData are the statements that run once the data is in (with the
// foreign keys): refreshing materialized views, triggers (copy and follow
// would fire them), row-level security and policies (a forced policy
// would filter what copy writes), and their comments.
func afterData(p *plan.Plan) []Step {
	var steps []Step
	for _, v := range p.Catalog.Objects.Views {
		if v.Materialized && v.Populated && p.Creates(plan.ObjMatView, v.Identity) {
			steps = append(steps, Step{Kind: StepRefresh, Object: v.Identity, afterData: true,
				SQL: fmt.Sprintf("REFRESH MATERIALIZED VIEW %s;", v.Name.Quoted())})
		}
	}
	steps = append(steps, triggerSteps(p)...)
	steps = append(steps, rowSecuritySteps(p)...)
	return append(steps, commentSteps(p, true)...)
}

// triggerSteps create the triggers the plan keeps, in their source state
// (disabled, replica, always). On a Citus table citus.enable_unsafe_triggers
// is on for the statements and off again after them.
func triggerSteps(p *plan.Plan) []Step {
	var steps []Step
	for _, tr := range p.Catalog.Objects.Triggers {
		if !p.Creates(plan.ObjTrigger, tr.Identity) {
			continue
		}
		stmts := []string{tr.Definition + ";"}
		if alter := enableClause(tr.Enabled); alter != "" {
			stmts = append(stmts, fmt.Sprintf("ALTER TABLE %s %s TRIGGER %s;", tr.Table.Quoted(), alter, db.Ident(tr.Name)))
		}
		if !tr.OnView {
			stmts = append([]string{"SET LOCAL citus.enable_unsafe_triggers TO on;"}, stmts...)
			stmts = append(stmts, "SET LOCAL citus.enable_unsafe_triggers TO off;")
		}
		steps = append(steps, statements(Step{Kind: StepTrigger, Table: tr.Table, Object: tr.Identity, afterData: true}, stmts))
	}
	return steps
}

func enableClause(state string) string {
	return map[string]string{"D": "DISABLE", "R": "ENABLE REPLICA", "A": "ENABLE ALWAYS"}[state]
}

// rowSecuritySteps enable (and force) row-level security and create the
// policies, table by table.
func rowSecuritySteps(p *plan.Plan) []Step {
	var steps []Step
	for _, rs := range p.Catalog.Objects.RowSecurity {
		if !p.Creates(plan.ObjRowSecurity, rs.Table.String()) {
			continue
		}
		var stmts []string
		if rs.Enabled {
			stmts = append(stmts, fmt.Sprintf("ALTER TABLE %s ENABLE ROW LEVEL SECURITY;", rs.Table.Quoted()))
		}
		if rs.Forced {
			stmts = append(stmts, fmt.Sprintf("ALTER TABLE %s FORCE ROW LEVEL SECURITY;", rs.Table.Quoted()))
		}
		steps = append(steps, statements(Step{Kind: StepRowSecurity, Table: rs.Table, Object: rs.Table.String(), afterData: true,
			keys: []string{rowSecurityKey(rs.Table, rs.Enabled, rs.Forced)}}, stmts))
	}
	for _, po := range p.Catalog.Objects.Policies {
		if p.Creates(plan.ObjPolicy, po.Identity) {
			steps = append(steps, Step{Kind: StepPolicy, Table: po.Table, Object: po.Identity, afterData: true, SQL: policySQL(po)})
		}
	}
	return steps
}

func policySQL(po *schema.Policy) string {
	as := "PERMISSIVE"
	if !po.Permissive {
		as = "RESTRICTIVE"
	}
	roles := make([]string, len(po.Roles))
	for i, r := range po.Roles {
		roles[i] = roleName(r)
	}
	s := fmt.Sprintf("CREATE POLICY %s ON %s AS %s FOR %s TO %s", db.Ident(po.Name), po.Table.Quoted(), as, po.Command, strings.Join(roles, ", "))
	if po.Using != "" {
		s += fmt.Sprintf(" USING (%s)", po.Using)
	}
	if po.WithCheck != "" {
		s += fmt.Sprintf(" WITH CHECK (%s)", po.WithCheck)
	}
	return s + ";"
}

// node is one statement to order by what it needs.
type node struct {
	key  string
	deps []string
	step Step
}

// depOrder puts every node after the nodes it depends on, keeping the
// given order otherwise; dependencies outside the nodes are ignored.
func depOrder(nodes []node) []Step {
	byKey := map[string]*node{}
	for i := range nodes {
		byKey[nodes[i].key] = &nodes[i]
	}
	done := map[string]bool{}
	var out []Step
	var visit func(n *node)
	visit = func(n *node) {
		if done[n.key] {
			return
		}
		done[n.key] = true // set first: a cycle cannot recurse forever
		for _, d := range n.deps {
			if dep := byKey[d]; dep != nil {
				visit(dep)
			}
		}
		out = append(out, n.step)
	}
	for i := range nodes {
		visit(&nodes[i])
	}
	return out
}

// refKind folds pg_identify_object's types into the kinds depOrder keys
// use.
func refKind(t string) string {
	switch t {
	case "function", "procedure", "aggregate":
		return "function"
	case "view", "materialized view":
		return "view"
	case "type", "composite type":
		return "type"
	}
	return t
}

func refKeys(refs []schema.ObjectRef) []string {
	var out []string
	for _, r := range refs {
		if k := refKind(r.Type); slices.Contains([]string{"function", "view", "type"}, k) {
			out = append(out, objectKey(k, r.Identity))
		}
	}
	return out
}

func objectKey(kind, name string) string { return kind + "\x00" + name }

// commentKey names a comment with its text: a comment is in place only
// when it says the same.
func commentKey(c *schema.Comment) string { return c.Type + " " + c.Identity + "\x00" + c.Text }

// grantKeys are one key per privilege of a grant: it is in place when the
// grantee holds each (perhaps from a wider grant).
func grantKeys(g *schema.Grant) []string {
	var out []string
	for _, priv := range g.Privileges {
		out = append(out, fmt.Sprintf("%s\x00%s\x00%s\x00%s\x00%v", g.Identity, g.Column, g.Grantee, priv, g.Grantable))
	}
	return out
}

func rowSecurityKey(t schema.Name, enabled, forced bool) string {
	return fmt.Sprintf("%s\x00%v\x00%v", t, enabled, forced)
}
