package django

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5"

	"github.com/tenantmover/tenantmover/internal/db"
	"github.com/tenantmover/tenantmover/internal/plan"
	"github.com/tenantmover/tenantmover/internal/schema"
)

// Project is what the source's Django tables say about the application.
type Project struct {
	// Schema holds Django's tables (and, by Django's default, the apps').
	Schema string
	// Models by table name: the model whose default table it is.
	Models map[schema.Name]ModelRef
	// Latest is each app's last applied migration, by app label.
	Latest map[string]string
}

// ModelRef names a model: app label and lower-case model name, as
// django_content_type and migrations spell them.
type ModelRef struct {
	App, Model string
}

// Label is the lazy reference Django accepts in ForeignKey(to=...).
func (m ModelRef) Label() string { return m.App + "." + m.Model }

// NotDjangoError: the source has no django_migrations table.
type NotDjangoError struct{}

func (NotDjangoError) Error() string {
	return "--format django: the source has no django_migrations table, so it is not a Django database (or Django's tables are in a schema the plan does not read: see --schema)"
}

// Load reads django_content_type and django_migrations from the source q,
// in the schema the plan found django_migrations in.
func Load(ctx context.Context, q db.Querier, p *plan.Plan) (*Project, error) {
	s, ok := plan.DjangoSchema(p.Catalog)
	if !ok {
		return nil, NotDjangoError{}
	}
	pr := &Project{Schema: s, Models: map[schema.Name]ModelRef{}, Latest: map[string]string{}}
	ct := db.Ident(s, "django_content_type")
	err := db.EachRow(ctx, q, "SELECT app_label, model FROM "+ct+" ORDER BY app_label, model", nil, func(row pgx.CollectableRow) error {
		var m ModelRef
		if err := row.Scan(&m.App, &m.Model); err != nil {
			return err
		}
		pr.Models[schema.Name{Schema: s, Name: m.App + "_" + m.Model}] = m
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("reading %s: %w", ct, err)
	}
	// The last applied migration of each app: every earlier one is applied
	// too, so depending on it is always satisfiable on the target.
	mig := db.Ident(s, plan.DjangoMigrationsTable)
	err = db.EachRow(ctx, q, "SELECT DISTINCT ON (app) app, name FROM "+mig+" ORDER BY app, id DESC", nil, func(row pgx.CollectableRow) error {
		var app, name string
		if err := row.Scan(&app, &name); err != nil {
			return err
		}
		pr.Latest[app] = name
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("reading %s: %w", mig, err)
	}
	return pr, nil
}
