package plan

import (
	"fmt"
	"strings"

	"github.com/tenantmover/tenantmover/internal/schema"
)

// Django's own tables (django_migrations, django_content_type,
// django_session, django_admin_log, auth_user, auth_permission and the
// other auth_* tables) are read and written by Django itself, which never
// sets a tenant column on them: manage.py migrate records migrations and
// creates content types and permissions, logins write sessions and users.
// Distributed, those writes would fail on a NULL distribution column (or a
// nested table's fill would leave them without a tenant); a local table on
// the coordinator could not be joined with tenant rows. So when the source
// is a Django database (it has django_migrations), they are reference
// tables, whatever the foreign keys say, and the plan says why.

// DjangoMigrationsTable is the table whose presence marks a Django database.
const DjangoMigrationsTable = "django_migrations"

// CodeDjangoTable: a table of Django itself, planned as a reference table
// (informational).
const CodeDjangoTable = "django_table"

// DjangoSchema returns the schema holding django_migrations, and whether
// the source is a Django database at all.
func DjangoSchema(cat *schema.Catalog) (string, bool) {
	for _, t := range cat.Tables {
		if t.Name.Name == DjangoMigrationsTable {
			return t.Name.Schema, true
		}
	}
	return "", false
}

// IsDjangoTable reports whether n is one of Django's own tables in the
// Django schema s.
func IsDjangoTable(n schema.Name, s string) bool {
	return n.Schema == s && (strings.HasPrefix(n.Name, "django_") || strings.HasPrefix(n.Name, "auth_"))
}

// markDjangoTables makes Django's own tables reference tables before the
// foreign keys are followed; the tenant table and the user's --exclude and
// --reference keep their say.
func (b *builder) markDjangoTables() error {
	s, ok := DjangoSchema(b.cat)
	if !ok {
		return nil
	}
	for _, t := range b.tables {
		if t.Kind != "" || !IsDjangoTable(t.Name(), s) {
			continue
		}
		t.Kind = Reference
		t.Django = true
		t.problem(djangoTable(t))
	}
	return nil
}

func djangoTable(t *Table) Problem {
	return Problem{
		Code: CodeDjangoTable,
		Message: fmt.Sprintf("%s is one of Django's own tables: Django writes it without a tenant (%s), so it is a reference table, on every node and joinable with every tenant's rows",
			t.Name(), djangoWrites(t.Name().Name)),
		Remedy: "nothing to do; --exclude it to leave it out, or make it the tenant table",
	}
}

// djangoWrites says what in Django writes the table.
func djangoWrites(name string) string {
	switch {
	case name == DjangoMigrationsTable:
		return "manage.py migrate records every applied migration here"
	case name == "django_content_type" || name == "auth_permission":
		return "manage.py migrate creates a row for every model"
	case name == "django_session":
		return "sessions are written before any tenant is known"
	case name == "django_admin_log":
		return "the admin logs every change here"
	case strings.HasPrefix(name, "auth_"):
		return "users, groups and permissions are shared by every tenant"
	}
	return "it belongs to a Django app, not to a tenant"
}

// djangoFKDropped: a foreign key from one of Django's reference tables to
// a distributed table cannot exist on Citus; Django does not need it in
// the database (its ORM follows the relation either way), so it is left
// out rather than blocking.
func djangoFKDropped(t *Table, fk schema.ForeignKey) Problem {
	return Problem{
		Code: CodeReferenceToDistributed,
		Message: fmt.Sprintf("%s is one of Django's own tables (a reference table) with foreign key %s to the distributed table %s: Citus refuses it, so the target leaves it out",
			t.Name(), fkName(fk), fk.RefTable),
		Remedy: "nothing to do: Django follows the relation without the constraint; deleting a row of " + fk.RefTable.String() + " no longer checks " + t.Name().String(),
	}
}
