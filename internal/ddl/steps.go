// Package ddl turns a tenant plan (package plan) into the Citus target
// schema and applies it: Steps lists the statements in an order Citus
// accepts (schemas, extensions, collations, types and the functions that
// use no table, sequences, tables with the tenant column and composite
// keys, reference and colocated distributed tables, views and the functions
// that use tables, comments and grants; then, after the data, the composite
// foreign keys, the materialized views' refresh, triggers, row-level
// security and policies), Script prints them as one SQL script, and Apply
// runs what the target lacks, refusing targets it would have to change.
// Schema objects the plan reports instead of creating are left out.
// Its tests live with plan's, which check decisions and their DDL together
// (internal/plan/apply_test.go, citus_test.go).
package ddl

import (
	"fmt"
	"regexp"
	"strings"

	"github.com/tenantmover/tenantmover/internal/db"
	"github.com/tenantmover/tenantmover/internal/plan"
	"github.com/tenantmover/tenantmover/internal/schema"
)

// StepKind groups the statements of the target schema; Steps returns them
// in this order, which is one Citus accepts.
type StepKind string

// Step kinds.
const (
	StepSchema      StepKind = "schema"       // CREATE SCHEMA IF NOT EXISTS
	StepExtension   StepKind = "extension"    // CREATE EXTENSION IF NOT EXISTS
	StepCollation   StepKind = "collation"    // CREATE COLLATION IF NOT EXISTS
	StepType        StepKind = "type"         // CREATE TYPE (enum, range, composite), CREATE DOMAIN
	StepFunction    StepKind = "function"     // CREATE OR REPLACE FUNCTION / PROCEDURE (pg_get_functiondef)
	StepSequence    StepKind = "sequence"     // CREATE SEQUENCE IF NOT EXISTS (serial and free-standing)
	StepTable       StepKind = "table"        // CREATE TABLE, its partitions, sequence ownership, indexes
	StepReference   StepKind = "reference"    // create_reference_table
	StepDistribute  StepKind = "distribute"   // create_distributed_table, the root first
	StepView        StepKind = "view"         // CREATE VIEW, CREATE MATERIALIZED VIEW ... WITH NO DATA
	StepComment     StepKind = "comment"      // COMMENT ON
	StepGrant       StepKind = "grant"        // GRANT
	StepForeignKey  StepKind = "foreign_key"  // ALTER TABLE ADD CONSTRAINT ... FOREIGN KEY
	StepRefresh     StepKind = "refresh"      // REFRESH MATERIALIZED VIEW
	StepTrigger     StepKind = "trigger"      // CREATE TRIGGER (with citus.enable_unsafe_triggers on Citus tables)
	StepRowSecurity StepKind = "row_security" // ALTER TABLE ... ENABLE / FORCE ROW LEVEL SECURITY
	StepPolicy      StepKind = "policy"       // CREATE POLICY
)

// Step is one statement of the target schema.
type Step struct {
	Kind   StepKind
	Table  schema.Name // the table it concerns; zero for schemas, types, functions, views ...
	Object string      // the name of what it creates (an identity for schema objects)
	SQL    string      // the statement as printed, with literals
	// Exec and Args run the statement with bind parameters (Citus function
	// calls); when Exec is "", SQL runs as is (DDL takes no parameters).
	Exec string
	Args []any

	// afterData: the statement goes in after the data, with the foreign
	// keys (WithoutForeignKeys leaves it out, ApplyForeignKeys runs it).
	afterData bool
	// keys name what the target must have for the step to be done already
	// (existingObjects' keys); Object when empty.
	keys []string
	// stmts are SQL's statements, run one by one when set: Citus passes
	// the text of some commands (CREATE TRIGGER) on to the workers, where
	// it must be a single statement.
	stmts []string
}

// actsOnWrites reports whether the step creates what acts on every row
// written (triggers, row-level security, policies, their comments).
func (s Step) actsOnWrites() bool {
	switch s.Kind {
	case StepTrigger, StepRowSecurity, StepPolicy:
		return true
	}
	return s.Kind == StepComment && s.afterData
}

// statements is a step made of several statements run one by one.
func statements(s Step, stmts []string) Step {
	s.stmts, s.SQL = stmts, strings.Join(stmts, "\n")
	return s
}

// AfterData reports whether the step belongs after the data load: foreign
// keys, materialized views' refresh, triggers, row-level security and
// policies and their comments.
func (s Step) AfterData() bool { return s.afterData || s.Kind == StepForeignKey }

// Steps returns the target schema as statements: schemas, extensions,
// collations, types and the functions that use no table, sequences,
// tables with their keys made composite and the tenant column added,
// reference tables, distributed tables colocated with the root, views and
// the functions that use tables, comments and grants; then what goes in
// after the data: the foreign keys (composite between distributed tables,
// after every create_distributed_table), materialized views' refresh,
// triggers, row-level security and policies. Objects the plan reports
// instead of creating are left out.
func Steps(p *plan.Plan) []Step {
	included := p.Included()
	var steps []Step
	steps = append(steps, schemaSteps(included, p.Catalog)...)
	steps = append(steps, extensionSteps(p)...)
	steps = append(steps, collationSteps(p)...)
	steps = append(steps, beforeTables(p)...)
	steps = append(steps, sequenceSteps(p, included)...)
	for _, t := range included {
		steps = append(steps, tableStep(p, t))
	}
	for _, t := range p.OfKind(plan.Reference) {
		steps = append(steps, Step{
			Kind: StepReference, Table: t.Name(),
			SQL:  fmt.Sprintf("SELECT create_reference_table(%s);", t.Name().Literal()),
			Exec: "SELECT create_reference_table($1::regclass)", Args: []any{t.Name().Quoted()},
		})
	}
	for _, t := range distributionOrder(p) {
		steps = append(steps, distributeStep(p, t))
	}
	steps = append(steps, afterTables(p)...)
	steps = append(steps, commentSteps(p, false)...)
	steps = append(steps, grantSteps(p)...)
	for _, t := range included {
		for _, d := range p.ForeignKeys(t) {
			if d.Action != plan.FKDrop {
				steps = append(steps, fkStep(t, d))
			}
		}
	}
	return append(steps, afterData(p)...)
}

// distributionOrder is the root, then the other distributed tables in plan
// order: colocate_with needs the root distributed first.
func distributionOrder(p *plan.Plan) []*plan.Table {
	out := []*plan.Table{p.Root}
	for _, t := range p.Distributed() {
		if t != p.Root {
			out = append(out, t)
		}
	}
	return out
}

func distributeStep(p *plan.Plan, t *plan.Table) Step {
	s := Step{Kind: StepDistribute, Table: t.Name()}
	if t == p.Root {
		s.SQL = fmt.Sprintf("SELECT create_distributed_table(%s, %s);", t.Name().Literal(), literal(t.TenantColumn))
		s.Exec = "SELECT create_distributed_table($1::regclass, $2)"
		s.Args = []any{t.Name().Quoted(), t.TenantColumn}
		return s
	}
	s.SQL = fmt.Sprintf("SELECT create_distributed_table(%s, %s, colocate_with => %s);",
		t.Name().Literal(), literal(t.TenantColumn), p.Root.Name().Literal())
	s.Exec = "SELECT create_distributed_table($1::regclass, $2, colocate_with => $3)"
	s.Args = []any{t.Name().Quoted(), t.TenantColumn, p.Root.Name().Quoted()}
	return s
}

// schemaSteps creates every schema but public that tables, their
// partitions or other objects live in.
func schemaSteps(tables []*plan.Table, cat *schema.Catalog) []Step {
	seen := map[string]bool{"public": true}
	var steps []Step
	add := func(s string) {
		if !seen[s] {
			seen[s] = true
			steps = append(steps, Step{Kind: StepSchema, Object: s, SQL: fmt.Sprintf("CREATE SCHEMA IF NOT EXISTS %s;", db.Ident(s))})
		}
	}
	for _, t := range tables {
		add(t.Name().Schema)
		for _, part := range t.Source.Partitions {
			add(part.Name.Schema)
		}
	}
	for _, q := range cat.Sequences {
		if q.OwnedBy != nil && seen[q.OwnedBy.Schema] {
			add(q.Name.Schema)
		}
	}
	for _, ty := range cat.Types {
		if ty.Kind != "other" {
			add(ty.Name.Schema)
		}
	}
	seen["pg_catalog"] = true
	for _, x := range cat.Objects.Extensions {
		add(x.Schema)
	}
	for _, s := range cat.Objects.Schemas {
		add(s)
	}
	return steps
}

// typeStep recreates one enum, range, composite type or domain the plan
// keeps (an extension's types come with the extension).
func typeStep(p *plan.Plan, ty *schema.Type) (Step, bool) {
	if !p.Creates(plan.ObjType, ty.Identity) {
		return Step{}, false
	}
	s := Step{Kind: StepType, Object: ty.Identity}
	switch ty.Kind {
	case "enum":
		labels := make([]string, len(ty.Labels))
		for i, l := range ty.Labels {
			labels[i] = literal(l)
		}
		s.SQL = fmt.Sprintf("CREATE TYPE %s AS ENUM (%s);", ty.Name.Quoted(), strings.Join(labels, ", "))
	case "domain":
		s.SQL = domainSQL(ty)
	case "composite":
		s.SQL = compositeSQL(ty)
	case "range":
		s.SQL = rangeSQL(ty)
	default:
		return Step{}, false
	}
	return s, true
}

func compositeSQL(ty *schema.Type) string {
	fields := make([]string, len(ty.Attributes))
	for i, a := range ty.Attributes {
		fields[i] = db.Ident(a.Name) + " " + a.Type
		if a.Collation != "" {
			fields[i] += " COLLATE " + a.Collation
		}
	}
	return fmt.Sprintf("CREATE TYPE %s AS (%s);", ty.Name.Quoted(), strings.Join(fields, ", "))
}

func rangeSQL(ty *schema.Type) string {
	r := ty.Range
	opts := []string{"SUBTYPE = " + r.Subtype}
	for _, o := range []struct{ name, value string }{
		{"SUBTYPE_OPCLASS", r.Opclass}, {"COLLATION", r.Collation}, {"CANONICAL", r.Canonical},
		{"SUBTYPE_DIFF", r.SubtypeDiff}, {"MULTIRANGE_TYPE_NAME", r.Multirange},
	} {
		if o.value != "" {
			opts = append(opts, o.name+" = "+o.value)
		}
	}
	return fmt.Sprintf("CREATE TYPE %s AS RANGE (%s);", ty.Name.Quoted(), strings.Join(opts, ", "))
}

func domainSQL(ty *schema.Type) string {
	var b strings.Builder
	fmt.Fprintf(&b, "CREATE DOMAIN %s AS %s", ty.Name.Quoted(), ty.BaseType)
	if ty.Default != "" {
		b.WriteString(" DEFAULT " + ty.Default)
	}
	if ty.NotNull {
		b.WriteString(" NOT NULL")
	}
	for _, c := range ty.Checks {
		b.WriteString(" " + c)
	}
	b.WriteString(";")
	return b.String()
}

// sequenceSteps creates the sequences the plan keeps (those the included
// tables use, and free-standing ones), except the ones identity columns
// create themselves.
func sequenceSteps(p *plan.Plan, tables []*plan.Table) []Step {
	used := map[schema.Name]bool{}
	for _, t := range tables {
		for _, n := range t.Sequences() {
			used[n] = true
		}
	}
	var steps []Step
	for _, q := range p.Catalog.Sequences {
		if q.Identity || !(used[q.Name] || p.Creates(plan.ObjSequence, q.Name.String())) {
			continue
		}
		steps = append(steps, Step{Kind: StepSequence, Object: q.Name.String(),
			SQL: fmt.Sprintf("CREATE SEQUENCE IF NOT EXISTS %s %s;", q.Name.Quoted(), sequenceOptions(q, true))})
	}
	return steps
}

func sequenceOptions(q *schema.Sequence, withType bool) string {
	var b strings.Builder
	if withType {
		fmt.Fprintf(&b, "AS %s ", q.Type)
	}
	fmt.Fprintf(&b, "START WITH %d INCREMENT BY %d MINVALUE %d MAXVALUE %d CACHE %d", q.Start, q.Increment, q.Min, q.Max, q.Cache)
	if q.Cycle {
		b.WriteString(" CYCLE")
	} else {
		b.WriteString(" NO CYCLE")
	}
	return b.String()
}

// tableStep creates one table: columns, the tenant column, keys (composite
// on distributed tables), checks, then partitions, sequence ownership and
// indexes as further statements of the same step.
func tableStep(p *plan.Plan, t *plan.Table) Step {
	var defs []string
	for _, c := range t.Source.Columns {
		defs = append(defs, columnDef(p, t, c))
	}
	if t.Kind.Distributed() && !t.HasTenantColumn {
		defs = append(defs, fmt.Sprintf("%s %s NOT NULL", db.Ident(t.TenantColumn), p.KeyType))
	}
	var after []string
	for _, d := range p.Keys(t) {
		switch {
		case d.Impossible:
			continue
		case d.Key.IsConstraint:
			defs = append(defs, fmt.Sprintf("CONSTRAINT %s %s", db.Ident(d.Key.Name), keyDefinition(t, d)))
		default:
			after = append(after, keyDefinition(t, d)+";")
		}
	}
	for _, c := range t.Source.Checks {
		defs = append(defs, fmt.Sprintf("CONSTRAINT %s %s", db.Ident(c.Name), strings.TrimSuffix(c.Definition, " NOT VALID")))
	}
	for _, x := range t.Source.Exclusions {
		if !t.Kind.Distributed() || plan.ExclusionHasTenant(x.Definition, t.TenantColumn) {
			defs = append(defs, fmt.Sprintf("CONSTRAINT %s %s", db.Ident(x.Name), x.Definition))
		}
	}
	var b strings.Builder
	fmt.Fprintf(&b, "CREATE TABLE %s (\n    %s\n)", t.Name().Quoted(), strings.Join(defs, ",\n    "))
	if t.Source.Partitioned {
		fmt.Fprintf(&b, " PARTITION BY %s", t.Source.PartitionKey)
	}
	b.WriteString(";")
	for _, part := range t.Source.Partitions {
		fmt.Fprintf(&b, "\nCREATE TABLE %s PARTITION OF %s %s;", part.Name.Quoted(), t.Name().Quoted(), part.Bound)
	}
	for _, q := range p.Catalog.Sequences {
		if !q.Identity && q.OwnedBy != nil && *q.OwnedBy == t.Name() {
			fmt.Fprintf(&b, "\nALTER SEQUENCE %s OWNED BY %s;", q.Name.Quoted(), db.Ident(t.Name().Schema, t.Name().Name, q.OwnedCol))
		}
	}
	for _, s := range after {
		b.WriteString("\n" + s)
	}
	for _, d := range p.Indexes(t) {
		if d.CoveredBy == "" {
			b.WriteString("\n" + indexSQL(t, false, d.Index.Name, d.Index.IndexParts, d.Index.Elements, d.Index.Definition) + ";")
		}
	}
	return Step{Kind: StepTable, Table: t.Name(), Object: t.Name().String(), SQL: b.String()}
}

// columnDef is one column of CREATE TABLE. The tenant column of a
// distributed table is NOT NULL whatever it is on the source: Citus
// refuses rows without a distribution value.
func columnDef(p *plan.Plan, t *plan.Table, c schema.Column) string {
	s := db.Ident(c.Name) + " " + c.Type
	if c.Collation != "" {
		s += " COLLATE " + c.Collation
	}
	switch {
	case c.Generated == "s":
		s += fmt.Sprintf(" GENERATED ALWAYS AS (%s) STORED", c.Default)
	case c.Identity != "":
		kind := "ALWAYS"
		if c.Identity == "d" {
			kind = "BY DEFAULT"
		}
		s += fmt.Sprintf(" GENERATED %s AS IDENTITY", kind)
		if c.Sequence != nil {
			if q := p.Catalog.Sequence(*c.Sequence); q != nil {
				s += fmt.Sprintf(" (SEQUENCE NAME %s %s)", q.Name.Quoted(), sequenceOptions(q, false))
			}
		}
	case c.Default != "":
		s += " DEFAULT " + c.Default
	}
	if c.NotNull || (t.Kind.Distributed() && c.Name == t.TenantColumn) {
		s += " NOT NULL"
	}
	return s
}

// keyDefinition is the target form of a key: for a constraint, the source
// definition with the tenant column put first inside its column list when
// it was missing, so INCLUDE, NULLS NOT DISTINCT and DEFERRABLE survive;
// for a bare unique index, the index rebuilt from its parts with the tenant
// column first, so its expressions, WHERE clause and options survive too.
func keyDefinition(t *plan.Table, d plan.KeyDecision) string {
	def := d.Key.Definition
	if !d.Key.IsConstraint {
		if elements := d.IndexElements(t); elements != "" {
			return indexSQL(t, true, d.Key.Name, d.Key.IndexParts, elements, def)
		}
	}
	if !d.Changed {
		return def
	}
	i := strings.Index(def, "(")
	if !d.Key.IsConstraint {
		// CREATE UNIQUE INDEX name ON table USING method (cols) ...
		if loc := usingMethod.FindStringIndex(def); loc != nil {
			i = loc[1] - 1
		}
	}
	if i < 0 {
		return def
	}
	return def[:i+1] + db.Ident(t.TenantColumn) + ", " + def[i+1:]
}

var usingMethod = regexp.MustCompile(` USING [a-z_][a-z0-9_]* \(`)

// indexSQL is CREATE [UNIQUE] INDEX on the target from the source index's
// parts, with elements as its key list. It names the table itself, never
// ONLY the table as pg_get_indexdef prints indexes of a partitioned table:
// on the target the index must reach the partitions. An index whose
// definition was not cut into parts keeps its definition (def).
func indexSQL(t *plan.Table, unique bool, name string, parts schema.IndexParts, elements, def string) string {
	if elements == "" {
		return def
	}
	kw := "INDEX"
	if unique {
		kw = "UNIQUE INDEX"
	}
	return fmt.Sprintf("CREATE %s %s ON %s USING %s (%s)%s", kw, db.Ident(name), t.Name().Quoted(), db.Ident(parts.Method), elements, parts.Options)
}

// fkStep adds one foreign key in its target form.
func fkStep(t *plan.Table, d plan.FKDecision) Step {
	var b strings.Builder
	fmt.Fprintf(&b, "ALTER TABLE %s ADD CONSTRAINT %s FOREIGN KEY (%s) REFERENCES %s (%s)",
		t.Name().Quoted(), db.Ident(d.FK.Name), db.Idents(d.Columns), d.FK.RefTable.Quoted(), db.Idents(d.RefColumns))
	if d.OnDelete != "NO ACTION" {
		b.WriteString(" ON DELETE " + d.OnDelete)
	}
	if d.OnUpdate != "NO ACTION" {
		b.WriteString(" ON UPDATE " + d.OnUpdate)
	}
	if d.FK.Deferrable {
		b.WriteString(" DEFERRABLE")
		if d.FK.InitiallyDeferred {
			b.WriteString(" INITIALLY DEFERRED")
		}
	}
	b.WriteString(";")
	return Step{Kind: StepForeignKey, Table: t.Name(), Object: d.FK.Name, SQL: b.String()}
}

// literal quotes a string as an SQL literal.
func literal(s string) string { return "'" + strings.ReplaceAll(s, "'", "''") + "'" }
