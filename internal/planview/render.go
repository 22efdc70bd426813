// Package planview shows a tenant plan to people (RenderText: a table of
// every table's kind, tenant column and path, then each problem with its
// remedy, then the schema objects the target does not get, with the
// reason) and to scripts (RenderJSON, the Document type, which lists every
// object of the inventory). It only reads the
// plan; package ddl renders the target SQL.
package planview

import (
	"encoding/json"
	"fmt"
	"io"
	"slices"
	"strings"

	"github.com/tenantmover/tenantmover/internal/db"
	"github.com/tenantmover/tenantmover/internal/plan"
)

// JSON is the document RenderJSON writes, for scripts.
type JSON struct {
	TenantTable  string      `json:"tenant_table"`
	TenantKey    string      `json:"tenant_key"`
	KeyType      string      `json:"key_type"`
	TenantColumn string      `json:"tenant_column"`
	Tables       []JSONTable `json:"tables"`
	Cycles       []JSONCycle `json:"cycles"`
	// Objects is the inventory: every schema object of the source, its
	// kind, and whether the target gets it (action create) or not (action
	// report, with the problems saying why).
	Objects  []plan.Object `json:"objects"`
	Blocking int           `json:"blocking_problems"`
}

// JSONTable is one table of the JSON document.
type JSONTable struct {
	Name            string      `json:"name"`
	Kind            plan.Kind   `json:"kind"`
	TenantColumn    string      `json:"tenant_column"`
	HasTenantColumn bool        `json:"has_tenant_column"`
	Forced          bool        `json:"forced,omitempty"`
	Django          bool        `json:"django,omitempty"` // one of Django's own tables: a problem django_table says why
	Path            []JSONHop   `json:"path"`
	AltPaths        [][]JSONHop `json:"alt_paths,omitempty"`
	// Branches are the paths of a table filled through a polymorphic
	// association, one per type.
	Branches [][]JSONHop `json:"branches,omitempty"`
	// Alternatives are the other routes to the tenant and why each lost.
	Alternatives []JSONAlternative `json:"alternatives,omitempty"`
	// Pinned names the flag that fixed the path (--via, --relation).
	Pinned   string         `json:"pinned,omitempty"`
	Rows     *int64         `json:"rows"` // null when unknown (never analyzed and too big to count)
	Bytes    int64          `json:"bytes"`
	Problems []plan.Problem `json:"problems"`
}

// JSONHop is one foreign-key step of a path.
type JSONHop struct {
	From        string   `json:"from"`
	FromColumns []string `json:"from_columns"`
	To          string   `json:"to"`
	ToColumns   []string `json:"to_columns"`
	Constraint  string   `json:"constraint,omitempty"`
	Nullable    bool     `json:"nullable"`
	Declared    bool     `json:"declared,omitempty"`
	// NullFraction is the share of rows with a NULL key, when known.
	NullFraction *float64 `json:"null_fraction,omitempty"`
	// When is the type test of a polymorphic branch.
	When *JSONCondition `json:"when,omitempty"`
}

// JSONCondition is the type test of a polymorphic branch: rows whose
// column holds value follow the hop.
type JSONCondition struct {
	Column string `json:"column"`
	Value  string `json:"value"`
}

// JSONAlternative is a route to the tenant that was not chosen.
type JSONAlternative struct {
	Path   []JSONHop `json:"path"`
	Reason string    `json:"reason"`
}

// JSONCycle is one foreign-key ring.
type JSONCycle struct {
	Tables    []string `json:"tables"`
	Broken    []string `json:"broken_at"`
	Breakable bool     `json:"breakable"`
}

// Document builds the JSON document of a plan.
func Document(p *plan.Plan) JSON {
	doc := JSON{
		TenantTable: p.Root.Name().String(), TenantKey: p.RootKey, KeyType: p.KeyType,
		TenantColumn: p.TenantColumn, Tables: []JSONTable{}, Cycles: []JSONCycle{},
	}
	for _, t := range p.Tables {
		jt := JSONTable{
			Name: t.Name().String(), Kind: t.Kind, TenantColumn: t.TenantColumn, HasTenantColumn: t.HasTenantColumn,
			Forced: t.Forced, Django: t.Django, Path: jsonPath(t.Path), Rows: jsonRows(t), Bytes: t.Source.Bytes,
			Problems: append([]plan.Problem{}, t.Problems...), Pinned: t.Pinned,
		}
		for _, alt := range t.AltPaths {
			jt.AltPaths = append(jt.AltPaths, jsonPath(alt))
		}
		for _, br := range t.Branches {
			jt.Branches = append(jt.Branches, jsonPath(br))
		}
		for _, alt := range t.Alternatives {
			jt.Alternatives = append(jt.Alternatives, JSONAlternative{Path: jsonPath(alt.Path), Reason: alt.Reason})
		}
		for _, pr := range t.Problems {
			if pr.Blocking {
				doc.Blocking++
			}
		}
		doc.Tables = append(doc.Tables, jt)
	}
	for _, cy := range p.Cycles {
		jc := JSONCycle{Breakable: cy.Breakable, Broken: []string{}}
		for _, n := range cy.Tables {
			jc.Tables = append(jc.Tables, n.String())
		}
		for _, fk := range cy.Broken {
			jc.Broken = append(jc.Broken, fk.Table.String()+"."+fk.Name)
		}
		doc.Cycles = append(doc.Cycles, jc)
	}
	doc.Objects = []plan.Object{}
	for _, o := range p.Objects {
		doc.Objects = append(doc.Objects, *o)
		for _, pr := range o.Problems {
			if pr.Blocking {
				doc.Blocking++
			}
		}
	}
	return doc
}

// jsonRows is the table's row estimate, nil when it is unknown.
func jsonRows(t *plan.Table) *int64 {
	if !t.Source.RowsKnown() {
		return nil
	}
	n := t.Source.EstimatedRows
	return &n
}

// textRows is the table's row estimate for people.
func textRows(t *plan.Table) string {
	if !t.Source.RowsKnown() {
		return "unknown"
	}
	return fmt.Sprint(t.Source.EstimatedRows)
}

func jsonPath(path []plan.Hop) []JSONHop {
	out := []JSONHop{}
	for _, h := range path {
		jh := JSONHop{
			From: h.From.String(), FromColumns: h.FromColumns, To: h.To.String(), ToColumns: h.ToColumns,
			Constraint: h.Constraint, Nullable: h.Nullable, Declared: h.Declared,
		}
		if h.NullsKnown && h.Nullable {
			f := h.NullFrac
			jh.NullFraction = &f
		}
		if h.When != nil {
			jh.When = &JSONCondition{Column: h.When.Column, Value: h.When.Value}
		}
		out = append(out, jh)
	}
	return out
}

// RenderJSON writes the plan as one indented JSON document.
func RenderJSON(w io.Writer, p *plan.Plan) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(Document(p))
}

// RenderText writes a table of the plan for people: table, kind, tenant
// column, path, estimated rows, then every problem with its remedy.
func RenderText(w io.Writer, p *plan.Plan) error {
	var b strings.Builder
	fmt.Fprintf(&b, "Tenant table %s, key %s (%s); new tenant columns: %s\n\n",
		p.Root.Name(), db.QuoteIfNeeded(p.RootKey), p.KeyType, db.QuoteIfNeeded(p.TenantColumn))
	rows := [][]string{{"TABLE", "KIND", "TENANT COLUMN", "PATH", "ROWS", "PROBLEMS"}}
	for _, t := range p.Tables {
		col := db.QuoteIfNeeded(t.TenantColumn)
		if t.TenantColumn == "" {
			col = "-"
		} else if !t.HasTenantColumn {
			col += " (new)"
		}
		kind := string(t.Kind)
		if t.Forced {
			kind += " (forced)"
		}
		if t.Django {
			kind += " (django)"
		}
		rows = append(rows, []string{t.Name().String(), kind, col, textPath(t), textRows(t), problemSummary(t)})
	}
	writeColumns(&b, rows)
	writeAlternatives(&b, p)
	blocking, fixed := 0, map[string]int{}
	for _, t := range p.Tables {
		for _, pr := range t.Problems {
			if fixedBySQL(pr) {
				fixed[pr.Code]++
				continue
			}
			tag := "note"
			if pr.Blocking {
				tag = "BLOCKING"
				blocking++
			}
			fmt.Fprintf(&b, "\n%s %s [%s]\n  %s\n  fix: %s\n", tag, t.Name(), pr.Code, oneLine(pr.Message), oneLine(pr.Remedy))
		}
	}
	blocking += writeObjects(&b, p)
	writeDjango(&b, p)
	if n := fixed[plan.CodeKeyMadeComposite] + fixed[plan.CodeFKMadeComposite]; n > 0 {
		fmt.Fprintf(&b, "\nThe target schema makes %d key(s) and %d foreign key(s) composite with the tenant column, as Citus requires (see --format sql or --format json).\n",
			fixed[plan.CodeKeyMadeComposite], fixed[plan.CodeFKMadeComposite])
	}
	if n := fixed[plan.CodeRedundantTenantIndex]; n > 0 {
		fmt.Fprintf(&b, "\nThe target schema leaves out %d index(es) on the tenant column alone: a key or index starting with the tenant column covers them (see --format json).\n", n)
	}
	if blocking > 0 {
		fmt.Fprintf(&b, "\n%d blocking problem(s): fix them (or --exclude / --reference the tables) before migrating.\n", blocking)
	} else {
		b.WriteString("\nNo blocking problems.\n")
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// textPath is the table's path for people: the chain of tables, each
// branch of a polymorphic association with its type, and "(pinned)" when
// a flag fixed it.
func textPath(t *plan.Table) string {
	if len(t.Path) == 0 {
		return "-"
	}
	path := plan.PathString(t.Path)
	if len(t.Branches) > 0 {
		var parts []string
		for _, br := range t.Branches {
			parts = append(parts, br[0].When.Value+": "+plan.PathString(br))
		}
		path = strings.Join(parts, " | ")
	}
	if t.Pinned != "" {
		path += " (pinned)"
	}
	return path
}

// writeAlternatives lists the routes that were not chosen, with the
// reason and the --via that would pin each.
func writeAlternatives(b *strings.Builder, p *plan.Plan) {
	rows := [][]string{{"  TABLE", "OTHER PATH", "PIN IT WITH", "NOT CHOSEN BECAUSE"}}
	for _, t := range p.Tables {
		for _, alt := range t.Alternatives {
			h := alt.Path[0]
			via := "--via " + h.From.String() + "." + strings.Join(h.FromColumns, ",")
			if len(h.FromColumns) > 1 {
				via = "--via " + h.From.String() + ".(" + strings.Join(h.FromColumns, ",") + ")"
			}
			rows = append(rows, []string{"  " + t.Name().String(), plan.PathString(alt.Path), via, alt.Reason})
		}
	}
	if len(rows) == 1 {
		return
	}
	b.WriteString("\nOther paths to the tenant:\n")
	writeColumns(b, rows)
}

// problemSummary lists a table's problem codes once each, blocking ones
// marked with "!", leaving out what the target SQL fixes by itself.
func problemSummary(t *plan.Table) string {
	var codes []string
	for _, pr := range t.Problems {
		c := pr.Code
		if pr.Blocking {
			c += "!"
		}
		if !fixedBySQL(pr) && !slices.Contains(codes, c) {
			codes = append(codes, c)
		}
	}
	if len(codes) == 0 {
		return "-"
	}
	return strings.Join(codes, ",")
}

// writeColumns aligns rows into columns separated by two spaces.
func writeColumns(b *strings.Builder, rows [][]string) {
	width := make([]int, len(rows[0]))
	for _, r := range rows {
		for i, c := range r {
			width[i] = max(width[i], len([]rune(c)))
		}
	}
	for _, r := range rows {
		for i, c := range r {
			if i == len(r)-1 {
				b.WriteString(c)
				break
			}
			b.WriteString(c + strings.Repeat(" ", width[i]-len([]rune(c))+2))
		}
		b.WriteString("\n")
	}
}

// fixedBySQL reports problems the target SQL resolves by itself: they are
// counted in the text output rather than listed one by one, so the ones
// that need a person stand out.
func fixedBySQL(pr plan.Problem) bool {
	return !pr.Blocking && (pr.Code == plan.CodeDjangoTable || pr.Code == plan.CodeKeyMadeComposite || pr.Code == plan.CodeFKMadeComposite || pr.Code == plan.CodeRedundantTenantIndex)
}

func oneLine(s string) string { return strings.Join(strings.Fields(s), " ") }

// writeObjects sums up the inventory, then lists each object the target
// does not get and each note on one it gets, with the reason and the
// remedy; it returns the number of blocking problems among them.
func writeObjects(b *strings.Builder, p *plan.Plan) int {
	if len(p.Objects) == 0 {
		return 0
	}
	kinds, count := []string{}, map[string]int{}
	for _, o := range p.Objects {
		if count[o.Kind] == 0 {
			kinds = append(kinds, o.Kind)
		}
		count[o.Kind]++
	}
	reported := p.NotCreated()
	var parts []string
	for _, k := range kinds {
		parts = append(parts, fmt.Sprintf("%d %s(s)", count[k], k))
	}
	fmt.Fprintf(b, "\nSchema objects: %s; ", strings.Join(parts, ", "))
	if reported == 0 {
		fmt.Fprintf(b, "the target gets all %d", len(p.Objects))
	} else {
		fmt.Fprintf(b, "the target gets %d; %d it does not get are listed below with the reason", len(p.Objects)-reported, reported)
	}
	b.WriteString(".\n")
	blocking := 0
	for _, o := range p.Objects {
		for _, pr := range o.Problems {
			tag := "note"
			switch {
			case pr.Blocking:
				tag = "BLOCKING"
				blocking++
			case o.Action != plan.ObjectCreate:
				tag = "not created"
			}
			fmt.Fprintf(b, "\n%s %s %s [%s]\n  %s\n  fix: %s\n", tag, o.Kind, o.Name, pr.Code, oneLine(pr.Message), oneLine(pr.Remedy))
		}
	}
	return blocking
}

// writeDjango says, for a Django database, why Django's own tables are
// reference tables (one paragraph rather than a note per table: they share
// the reason) and where the application's side of the move is.
func writeDjango(b *strings.Builder, p *plan.Plan) {
	if _, ok := plan.DjangoSchema(p.Catalog); !ok {
		return
	}
	var names []string
	for _, t := range p.Tables {
		if t.Django {
			names = append(names, t.Name().Name)
		}
	}
	if len(names) > 0 {
		fmt.Fprintf(b, "\nDjango's own tables (%s) are reference tables: Django writes them without a tenant (migrations, content types, permissions, users, sessions), so they must be on every node, joinable with every tenant's rows (--format json gives each table's reason).\n",
			strings.Join(names, ", "))
	}
	b.WriteString("\nThis is a Django database (django_migrations): plan --format django [--out DIR] writes the model changes, a state-only migration per app and the ORM idioms Citus refuses, with their fixes.\n")
}
