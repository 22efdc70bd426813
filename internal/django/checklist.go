package django

import (
	"fmt"
	"strings"

	"github.com/tenantmover/tenantmover/internal/plan"
)

// The ORM idioms that work on PostgreSQL and that Citus refuses once the
// tables are distributed, each reproduced on Citus 13 with Django 3.2 (the
// Django test tier proves the errors and the fixes). Only those this
// schema meets are listed, naming the models they concern.

// writeChecklist writes the idioms relevant to the plan.
func (r *Result) writeChecklist(b *strings.Builder) {
	b.WriteString("\n## 3. Checklist: ORM idioms Citus refuses in this schema\n")
	n := 0
	item := func(title, body string) {
		n++
		fmt.Fprintf(b, "\n%d. %s\n\n%s", n, title, body)
	}
	if ms := r.labels(r.tenantModels()); ms != "" {
		item("A plain `save()` rewrites the distribution column", saveItem(ms))
	}
	if ms := r.labels(r.compositeModels()); ms != "" {
		item("`annotate()` with an aggregate groups by the primary key alone", annotateItem(ms))
	}
	if joins := r.compositeJoins(); len(joins) > 0 {
		item("Joins filtered by the tenant on one side only", joinItem(joins))
	}
	item("Server-side cursors", cursorItem)
}

func saveItem(models string) string {
	return fmt.Sprintf(`Models: %s. `+"`obj.save()`"+` on an existing row runs UPDATE ... SET every column, the tenant column
included, WHERE id = ...: Citus refuses it with "modifying the partition value of rows is not allowed".
Fix: name the fields, `+"`obj.save(update_fields=['price'])`"+`, or update through a queryset filtered by the
tenant, `+"`Product.objects.filter(store=store, id=obj.id).update(price=...)`"+`. (Creating rows with save() works.)
`, models)
}

func annotateItem(models string) string {
	return fmt.Sprintf(`Models: %s (their primary key is composite on the target). Django groups by the primary key it knows
(id) alone, which no longer determines the other columns: `+"`.annotate(n=Count('purchase'))`"+` fails with
"column ... must appear in the GROUP BY clause". Fix: a database backend that groups by every selected column,
and ENGINE set to it in DATABASES:

    # citus_backend/base.py
    from django.db.backends.postgresql import base, features


    class DatabaseFeatures(features.DatabaseFeatures):
        allows_group_by_selected_pks = False


    class DatabaseWrapper(base.DatabaseWrapper):
        features_class = DatabaseFeatures

The aggregate's join must name the tenant on both sides too (next item), e.g. with FilteredRelation:
`+"`Product.objects.filter(store=s).annotate(sp=FilteredRelation('purchase', condition=Q(purchase__store=s))).annotate(n=Count('sp'))`"+`.
`, models)
}

func joinItem(joins []string) string {
	return fmt.Sprintf(`Relations: %s. A join follows id alone, not the composite key, so a query filtered by the tenant
on one table only, `+"`Purchase.objects.filter(store=s, product__name='x')`"+`, fails with "the query contains a
join that requires repartitioning". Fix: filter both sides, `+"`Purchase.objects.filter(store=s, product__store=s, product__name='x')`"+`
(django-multitenant does it for you).
`, strings.Join(joins, ", "))
}

const cursorItem = `As the Citus guide says, turn off server-side cursors (QuerySet.iterator() declares one), which do not
survive the transaction-pooling connection poolers Citus clusters use:

    DATABASES = {
        'default': {
            # ...
            'DISABLE_SERVER_SIDE_CURSORS': True,
        },
    }
`

// tenantModels are the distributed models other than the tenant's: their
// rows carry the tenant column.
func (r *Result) tenantModels() []*plan.Table {
	var out []*plan.Table
	for _, t := range r.Plan.Distributed() {
		if t.Kind != plan.Root {
			out = append(out, t)
		}
	}
	return out
}

// compositeModels are the distributed tables whose primary key the target
// made composite.
func (r *Result) compositeModels() []*plan.Table {
	var out []*plan.Table
	for _, t := range r.Plan.Distributed() {
		for _, d := range r.Plan.Keys(t) {
			if d.Primary && d.Changed {
				out = append(out, t)
			}
		}
	}
	return out
}

// compositeJoins names the relations whose foreign key became composite,
// as model.field -> model.
func (r *Result) compositeJoins() []string {
	var out []string
	for _, t := range r.Plan.Distributed() {
		for _, d := range r.Plan.ForeignKeys(t) {
			if d.Action != plan.FKComposite || len(d.FK.Columns) != 1 {
				continue
			}
			out = append(out, code(r.label(t)+"."+fkFieldName(d.FK.Columns[0])+" -> "+r.label(r.Plan.Table(d.FK.RefTable))))
		}
	}
	return out
}

// labels joins the tables' model labels (the table name when no model).
func (r *Result) labels(ts []*plan.Table) string {
	var out []string
	for _, t := range ts {
		out = append(out, code(r.label(t)))
	}
	return strings.Join(out, ", ")
}

func (r *Result) label(t *plan.Table) string {
	if m, ok := r.Project.Models[t.Name()]; ok {
		return m.Label()
	}
	return t.Name().String()
}
