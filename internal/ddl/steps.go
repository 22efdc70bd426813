// Package ddl turns a tenant plan (package plan) into the Citus target
// schema and applies it: Steps lists the statements in an order Citus
// accepts (schemas, types, sequences, tables with the tenant column and
// composite keys, reference and colocated distributed tables, then the
// composite foreign keys), Script prints them as one SQL script, and Apply
// runs what the target lacks, refusing targets it would have to change.
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
	StepSchema     StepKind = "schema"      // CREATE SCHEMA IF NOT EXISTS
	StepType       StepKind = "type"        // CREATE EXTENSION IF NOT EXISTS, CREATE TYPE ... AS ENUM, CREATE DOMAIN
	StepSequence   StepKind = "sequence"    // CREATE SEQUENCE IF NOT EXISTS (serial and free-standing)
	StepTable      StepKind = "table"       // CREATE TABLE, its partitions, sequence ownership, indexes
	StepReference  StepKind = "reference"   // create_reference_table
	StepDistribute StepKind = "distribute"  // create_distributed_table, the root first
	StepForeignKey StepKind = "foreign_key" // ALTER TABLE ADD CONSTRAINT ... FOREIGN KEY
)

// Step is one statement of the target schema.
type Step struct {
	Kind   StepKind
	Table  schema.Name // the table it concerns; zero for schemas and sequences
	Object string      // the schema, sequence or constraint name it creates
	SQL    string      // the statement as printed, with literals
	// Exec and Args run the statement with bind parameters (Citus function
	// calls); when Exec is "", SQL runs as is (DDL takes no parameters).
	Exec string
	Args []any

	extension bool // a CREATE EXTENSION step (Object is the extension)
}

// Steps returns the target schema as statements: schemas, sequences,
// tables with their keys made composite and the tenant column added,
// reference tables, distributed tables colocated with the root, then the
// foreign keys (composite between distributed tables), so that every
// create_distributed_table runs before any foreign key needs it.
func Steps(p *plan.Plan) []Step {
	included := p.Included()
	var steps []Step
	steps = append(steps, schemaSteps(included, p.Catalog)...)
	steps = append(steps, typeSteps(p.UsedTypes(included))...)
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
	for _, t := range included {
		for _, d := range p.ForeignKeys(t) {
			if d.Action != plan.FKDrop {
				steps = append(steps, fkStep(t, d))
			}
		}
	}
	return steps
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

// schemaSteps creates every schema but public that tables or their
// partitions live in.
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
		if ty.Kind == "enum" || ty.Kind == "domain" || ty.Kind == "extension" {
			add(ty.Name.Schema)
		}
	}
	return steps
}

// typeSteps recreates enums and domains, and the extensions that bring
// other types (one CREATE EXTENSION each). Enums come before domains,
// which may be based on them.
func typeSteps(types []*schema.Type) []Step {
	var steps []Step
	exts := map[string]bool{}
	for _, kind := range []string{"extension", "enum", "domain"} {
		for _, ty := range types {
			if ty.Kind != kind {
				continue
			}
			s := Step{Kind: StepType, Object: ty.Name.String()}
			switch kind {
			case "extension":
				if exts[ty.Extension] {
					continue
				}
				exts[ty.Extension] = true
				s.Object, s.extension = ty.Extension, true
				s.SQL = fmt.Sprintf("CREATE EXTENSION IF NOT EXISTS %s WITH SCHEMA %s;", db.Ident(ty.Extension), db.Ident(ty.Name.Schema))
			case "enum":
				labels := make([]string, len(ty.Labels))
				for i, l := range ty.Labels {
					labels[i] = literal(l)
				}
				s.SQL = fmt.Sprintf("CREATE TYPE %s AS ENUM (%s);", ty.Name.Quoted(), strings.Join(labels, ", "))
			case "domain":
				s.SQL = domainSQL(ty)
			}
			steps = append(steps, s)
		}
	}
	return steps
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

// nextval finds the sequences a default expression draws from.
var nextval = regexp.MustCompile(`nextval\('((?:[^']|'')+)'::regclass\)`)

// sequenceSteps creates the sequences the included tables use, except the
// ones identity columns create themselves.
func sequenceSteps(p *plan.Plan, tables []*plan.Table) []Step {
	used := map[schema.Name]bool{}
	for _, t := range tables {
		for _, c := range t.Source.Columns {
			if c.Sequence != nil && c.Identity == "" {
				used[*c.Sequence] = true
			}
			for _, m := range nextval.FindAllStringSubmatch(c.Default, -1) {
				if n, err := db.ParseQualifiedName(strings.ReplaceAll(m[1], "''", "'"), "public"); err == nil {
					used[n] = true
				}
			}
		}
	}
	var steps []Step
	for _, q := range p.Catalog.Sequences {
		if used[q.Name] && !q.Identity {
			steps = append(steps, Step{Kind: StepSequence, Object: q.Name.String(),
				SQL: fmt.Sprintf("CREATE SEQUENCE IF NOT EXISTS %s %s;", q.Name.Quoted(), sequenceOptions(q, true))})
		}
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
