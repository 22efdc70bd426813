// Package django is the application's side of a move onto Citus for a
// Django project: plan --format django. tenantmover changes the database
// (tenant columns, composite keys, composite foreign keys); the Django
// models must then say the same, or Django's next makemigrations tries to
// undo it and a real migrate fails on columns that already exist.
//
// Load maps the plan's tables to apps and models through the source's
// django_content_type (table <app_label>_<model>, Django's default) and
// finds each app's latest applied migration in django_migrations. Changes
// computes, per model, the field and Meta changes matching the target
// schema; Render writes them as
//
//   - one migration per app, whose SeparateDatabaseAndState has state
//     operations only: manage.py migrate on the target records it and runs
//     no SQL, since tenantmover already made the database match;
//   - a notes file: the lines to put in each model, the django-multitenant
//     alternative, and a checklist of the ORM idioms Citus refuses that
//     this schema will meet, each with its fix.
//
// The Python is generated deterministically (sorted, no dates), so running
// plan twice gives the same files.
package django
