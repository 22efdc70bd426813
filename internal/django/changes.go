package django

import (
	"fmt"
	"slices"
	"sort"
	"strconv"
	"strings"

	"github.com/tenantmover/tenantmover/internal/plan"
)

// App is one Django app and what its models need.
type App struct {
	Label string
	// Latest is the app's last applied migration, which the generated one
	// depends on; Migration is the generated one's name.
	Latest, Migration string
	// Depends are the other apps whose latest migration the generated one
	// needs (a tenant ForeignKey to a model of another app), sorted.
	Depends []string
	Models  []*Model
}

// Model is one model's changes.
type Model struct {
	Ref   ModelRef
	Table *plan.Table
	// Tenant is the field holding the tenant: the tenant ForeignKey (or
	// the tenant model's key), by its field name.
	Tenant string
	// AddTenant is the tenant ForeignKey to add, when tenantmover added the
	// column (a nested table); nil otherwise.
	AddTenant *TenantField
	// NoConstraint are the ForeignKey fields whose database constraint
	// became composite with the tenant column: Django must not manage it
	// (db_constraint=False).
	NoConstraint []string
	// NotUnique are the fields whose unique=True became unique together
	// with the tenant.
	NotUnique []string
	// UniqueTogether is the model's whole unique_together on the target,
	// tenant first as in the target's keys.
	UniqueTogether [][]string
}

// TenantField is the tenant ForeignKey a nested model gets.
type TenantField struct {
	Name, Column string
	To           ModelRef
}

// Changed reports whether the model needs any change.
func (m *Model) Changed() bool {
	return m.AddTenant != nil || len(m.NoConstraint) > 0 || len(m.NotUnique) > 0 || len(m.UniqueTogether) > 0
}

// Result is the whole Django side of a plan.
type Result struct {
	Plan    *plan.Plan
	Project *Project
	// Apps with at least one changed model, by label.
	Apps []*App
	// Unmapped are distributed tables no model has as its default table:
	// a custom db_table or an automatic many-to-many table (listed with
	// what to do in the notes).
	Unmapped []*plan.Table
}

// Changes works out every model's changes from the plan.
func Changes(p *plan.Plan, pr *Project) *Result {
	r := &Result{Plan: p, Project: pr}
	apps := map[string]*App{}
	for _, t := range p.Distributed() {
		ref, ok := pr.Models[t.Name()]
		if !ok {
			r.Unmapped = append(r.Unmapped, t)
			continue
		}
		m := modelChanges(p, pr, t, ref)
		if !m.Changed() {
			continue
		}
		a := apps[ref.App]
		if a == nil {
			a = &App{Label: ref.App, Latest: pr.Latest[ref.App]}
			a.Migration = nextMigration(a.Latest)
			apps[ref.App] = a
			r.Apps = append(r.Apps, a)
		}
		a.Models = append(a.Models, m)
		if m.AddTenant != nil && m.AddTenant.To.App != a.Label && !slices.Contains(a.Depends, m.AddTenant.To.App) {
			a.Depends = append(a.Depends, m.AddTenant.To.App)
		}
	}
	sort.Slice(r.Apps, func(i, j int) bool { return r.Apps[i].Label < r.Apps[j].Label })
	for _, a := range r.Apps {
		sort.Strings(a.Depends)
		sort.Slice(a.Models, func(i, j int) bool { return a.Models[i].Ref.Model < a.Models[j].Ref.Model })
	}
	return r
}

// modelChanges compares one distributed table's target form with what
// Django's default mapping of its model implies.
func modelChanges(p *plan.Plan, pr *Project, t *plan.Table, ref ModelRef) *Model {
	m := &Model{Ref: ref, Table: t, Tenant: fieldName(pr, t, t.TenantColumn)}
	if t.Kind == plan.Nested && !isFKColumn(t, t.TenantColumn) {
		m.Tenant = fkFieldName(t.TenantColumn)
		root := pr.Models[p.Root.Name()]
		m.AddTenant = &TenantField{Name: m.Tenant, Column: t.TenantColumn, To: root}
	}
	for _, d := range p.ForeignKeys(t) {
		if d.Action == plan.FKComposite && len(d.FK.Columns) == 1 {
			m.NoConstraint = append(m.NoConstraint, fieldName(pr, t, d.FK.Columns[0]))
		}
	}
	m.UniqueTogether, m.NotUnique = uniqueTogether(pr, t, p.Keys(t), m.Tenant)
	return m
}

// uniqueTogether lists the target's keys as Django sees them: a primary
// key made composite, and unique constraints of several columns (Django's
// unique_together) or made composite from a unique field (unique=True,
// which must then be dropped). Bare unique indexes and partial or
// expression keys are Meta.constraints or indexes of the user's own, left
// to the notes.
func uniqueTogether(pr *Project, t *plan.Table, keys []plan.KeyDecision, tenant string) (ut [][]string, notUnique []string) {
	for _, d := range keys {
		switch {
		case d.Primary && d.Changed:
			ut = append(ut, fieldNames(pr, t, d.Columns, tenant))
		case d.Primary || !d.Key.IsConstraint || d.Impossible || d.Key.Expression || d.Key.Predicate != "":
		case len(d.Key.Columns) == 1 && d.Changed:
			notUnique = append(notUnique, fieldName(pr, t, d.Key.Columns[0]))
			ut = append(ut, fieldNames(pr, t, d.Columns, tenant))
		case len(d.Key.Columns) > 1:
			ut = append(ut, fieldNames(pr, t, d.Columns, tenant))
		}
	}
	return ut, notUnique
}

func fieldNames(pr *Project, t *plan.Table, cols []string, tenant string) []string {
	out := make([]string, len(cols))
	for i, c := range cols {
		if c == t.TenantColumn {
			out[i] = tenant
		} else {
			out[i] = fieldName(pr, t, c)
		}
	}
	return out
}

// fieldName is the Django field of a column under Django's defaults: a
// ForeignKey "store" has column store_id; any other field is its column.
func fieldName(pr *Project, t *plan.Table, col string) string {
	if isFKColumn(t, col) {
		return fkFieldName(col)
	}
	return col
}

// fkFieldName is a ForeignKey's name for its column: Django appends _id to
// the field name, so store_id is field store (with db_column it could be
// any name; the notes spell db_column out).
func fkFieldName(col string) string {
	if n, ok := strings.CutSuffix(col, "_id"); ok && n != "" {
		return n
	}
	return col
}

// isFKColumn reports whether col alone is a catalog foreign key of t.
func isFKColumn(t *plan.Table, col string) bool {
	for _, fk := range t.Source.ForeignKeys {
		if !fk.Declared && len(fk.Columns) == 1 && fk.Columns[0] == col {
			return true
		}
	}
	return false
}

// nextMigration names the generated migration after the app's latest:
// 0001_initial is followed by 0002_citus_tenant. Django orders migrations
// by their dependencies, so the number only keeps the files readable.
func nextMigration(latest string) string {
	digits := 0
	for digits < len(latest) && latest[digits] >= '0' && latest[digits] <= '9' {
		digits++
	}
	n, err := strconv.Atoi(latest[:digits])
	if err != nil {
		return "citus_tenant"
	}
	return fmt.Sprintf("%0*d_citus_tenant", digits, n+1)
}
