package plan_test

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/tenantmover/tenantmover/internal/plan"
)

// A custom user model with a tenant (shop_user -> shop_store) would make
// django_admin_log nested by its foreign keys; Django writes that table
// without a tenant, so it must stay a reference table, and its key to the
// distributed user table is left out without blocking.
func TestDjangoOwnTablesAreReferenceTables(t *testing.T) {
	t.Parallel()
	p := build(t, `
		CREATE TABLE django_migrations (id serial PRIMARY KEY, app text, name text, applied timestamptz);
		CREATE TABLE django_content_type (id serial PRIMARY KEY, app_label text, model text);
		CREATE TABLE shop_store (id serial PRIMARY KEY);
		CREATE TABLE shop_user (id serial PRIMARY KEY, store_id int NOT NULL REFERENCES shop_store);
		CREATE TABLE django_admin_log (id serial PRIMARY KEY, user_id int NOT NULL REFERENCES shop_user,
			content_type_id int REFERENCES django_content_type);
		CREATE TABLE auth_group (id serial PRIMARY KEY);`,
		plan.Config{TenantTable: "shop_store"})
	for _, n := range []string{"django_migrations", "django_content_type", "django_admin_log", "auth_group"} {
		pt := tbl(t, p, n)
		require.Equal(t, plan.Reference, pt.Kind, n)
		require.True(t, pt.Django, n)
		require.Contains(t, codes(pt), plan.CodeDjangoTable, n)
	}
	require.Equal(t, plan.Direct, tbl(t, p, "shop_user").Kind)
	require.Contains(t, codes(tbl(t, p, "django_admin_log")), plan.CodeReferenceToDistributed)
	require.Empty(t, p.Blocking(), "Django's tables do not block")
	require.Contains(t, tbl(t, p, "django_migrations").Problems[0].Message, "manage.py migrate records")
}

// Without django_migrations the names mean nothing: auth_user of a Rails
// or hand-made schema is planned by its foreign keys.
func TestDjangoNamesWithoutDjango(t *testing.T) {
	t.Parallel()
	p := build(t, `
		CREATE TABLE shop_store (id serial PRIMARY KEY);
		CREATE TABLE auth_user (id serial PRIMARY KEY, store_id int NOT NULL REFERENCES shop_store);`,
		plan.Config{TenantTable: "shop_store"})
	require.Equal(t, plan.Direct, tbl(t, p, "auth_user").Kind)
	require.False(t, tbl(t, p, "auth_user").Django)
}
