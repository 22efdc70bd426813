package main

import (
	"fmt"
	"path/filepath"
	"sort"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/urfave/cli/v2"

	"github.com/tenantmover/tenantmover/internal/db"
	"github.com/tenantmover/tenantmover/internal/ddl"
	"github.com/tenantmover/tenantmover/internal/django"
	"github.com/tenantmover/tenantmover/internal/plan"
	"github.com/tenantmover/tenantmover/internal/planview"
	"github.com/tenantmover/tenantmover/internal/schema"
)

func planCommand() *cli.Command {
	flags := commonFlags(sourceFlag, targetFlag,
		&cli.StringFlag{Name: "format", Value: "text", Usage: "output format: text (a table on stderr), json (one document on stdout), sql (the Citus target schema on stdout) or django (model changes, state-only migrations and the ORM checklist of a Django project)"},
		&cli.StringFlag{Name: "out", Usage: "with --format django: write the files under `DIR` (the project root: migrations go to DIR/<app>/migrations) instead of stdout"},
		&cli.BoolFlag{Name: "apply", Usage: "create the target schema on --target (Citus, or plain PostgreSQL without the Citus calls); refuses tables that hold rows"},
		&cli.BoolFlag{Name: "with-triggers", Usage: "with --apply: create the triggers, row-level security and policies now (by default 'copy' creates them once the data is in, and 'cutover' with --follow, so they do not act on copied rows)"},
	)
	return &cli.Command{
		Name:  "plan",
		Usage: "read the source schema and decide how every table belongs to a tenant; print or apply the Citus schema",
		Description: `Reads the source catalog and classifies every table: the tenant root, tables
that already reference it (direct), tables that reach it through a chain of
foreign keys (nested: backfill gives them a tenant column), reference tables
and excluded ones. Every Citus rule the migration would break is listed with
the reason and the fix: keys and foreign keys without the tenant column
(the target schema makes them composite), foreign keys from reference
tables to distributed ones, join tables left undistributed, tables without a
primary key, nullable tenant paths, tenant column types that differ from the
root key's, foreign-key cycles. With --target, the target is checked too
(a Citus coordinator without workers, extensions it cannot install, roles
that grants and policies name).

Paths: the shortest chain of foreign keys wins; among equally short ones,
NOT NULL keys first, then the key with the fewest NULLs on the source
(pg_stats, or counted on small tables), then names (noted as
ambiguous_path). Every other route is listed with why it lost. A
--relation pins its key; --via child.column pins the column a table is
filled through. A polymorphic association (Rails commentable_type +
commentable_id, Django content_type_id + object_id) is noted with the
flags to write, one per type:
  --relation 'comments.commentable_id=posts.id when commentable_type=Post'
  --relation 'tagged.object_id=blog_post.id when content_type_id=blog.post'
backfill then fills each row from its type's parent; rows of other types
are orphans.

Every other schema object is accounted for: extensions, schemas,
collations, types, sequences, functions and procedures, views and
materialized views, triggers, row-level security and policies, comments
and grants are created on the target in an order Citus accepts, or listed
with the reason and the remedy (--format json lists the whole inventory:
each object, its kind, and whether the target gets it).

--format django reads the source's django_content_type and django_migrations
and writes, for a Django project, the model changes matching the target
schema, one migration per app with state operations only (manage.py migrate
on the target records it and runs no SQL) and the ORM idioms Citus refuses
in this schema, with their fixes; --out DIR writes them as files.

--format sql prints the target schema; --apply --target URL creates it (in
one transaction; tables that exist empty and match are left alone).

Exit status 0, or 2 when blocking problems remain (each is listed), 1 on error.`,
		Flags:  append(flags, tenantFlags()...),
		Action: runPlan,
	}
}

func runPlan(c *cli.Context) error {
	in, err := readCommandInputs(c, false, "text", "json", "sql", "django")
	if err != nil {
		return err
	}
	format, cfg, srcURL := in.format, in.plan, in.source
	if c.String("out") != "" && format != "django" {
		return usageError("--out is for --format django: the other formats write to stdout or stderr")
	}
	if c.Bool("with-triggers") && !c.Bool("apply") {
		return usageError("--with-triggers is for --apply: it creates the triggers with the schema")
	}
	if c.Bool("apply") && c.String("target") == "" {
		return usageError("--apply needs --target (or TENANTMOVER_TARGET): the database to create the schema on")
	}
	src, err := db.Open(c.Context, srcURL, db.ForProfile(db.ProfileCatalog))
	if err != nil {
		return err
	}
	defer src.Close()
	p, err := plan.Build(c.Context, src, cfg)
	if err != nil {
		return fmt.Errorf("planning: %w", err)
	}
	var dst *pgxpool.Pool
	if url := c.String("target"); url != "" {
		if dst, err = db.Open(c.Context, url, db.ForProfile(db.ProfileCatalog)); err != nil {
			return err
		}
		defer dst.Close()
		if err := checkTarget(c, dst, p); err != nil {
			return err
		}
	}
	if err := renderPlan(c, format, p, src); err != nil {
		return err
	}
	if blocking := p.Blocking(); len(blocking) > 0 {
		return blockingError(c, format, blocking)
	}
	if !c.Bool("apply") {
		return nil
	}
	return applyPlan(c, dst, p)
}

// checkTarget adds the target's problems (no Citus workers) to the plan, on
// the root, so they are listed and block like the others, and decides on
// the schema objects knowing the target's roles and extensions.
func checkTarget(c *cli.Context, dst *pgxpool.Pool, p *plan.Plan) error {
	_, problems, err := ddl.Inspect(c.Context, dst)
	if err != nil {
		return err
	}
	p.Root.Problems = append(p.Root.Problems, problems...)
	return ddl.CheckObjects(c.Context, dst, p)
}

func renderPlan(c *cli.Context, format string, p *plan.Plan, src *pgxpool.Pool) error {
	switch format {
	case "django":
		return renderDjango(c, p, src)
	case "json":
		return planview.RenderJSON(stdoutOf(c), p)
	case "sql":
		return ddl.Script(stdoutOf(c), p)
	}
	return planview.RenderText(stderrOf(c), p)
}

// blockingError lists the blocking problems on stderr (the text format
// already did) and makes the command exit 2.
func blockingError(c *cli.Context, format string, blocking map[schema.Name][]plan.Problem) error {
	n := 0
	var names []schema.Name
	for name, probs := range blocking {
		n += len(probs)
		names = append(names, name)
	}
	if format != "text" {
		sort.Slice(names, func(i, j int) bool { return names[i].String() < names[j].String() })
		w := stderrOf(c)
		for _, name := range names {
			for _, pr := range blocking[name] {
				fmt.Fprintf(w, "BLOCKING %s [%s]\n  %s\n  fix: %s\n", name, pr.Code, pr.Message, pr.Remedy)
			}
		}
	}
	msg := fmt.Sprintf("%d blocking problem(s) on %d table(s)", n, len(blocking))
	if c.Bool("apply") {
		msg += "; nothing was applied"
	}
	// run() prints msg as the command's last line.
	return &differencesError{msg: msg}
}

func applyPlan(c *cli.Context, dst *pgxpool.Pool, p *plan.Plan) error {
	log := newLogger(c)
	count := 0
	opts := []ddl.ApplyOption{ddl.WithProgress(func(s ddl.Step) {
		if s.Kind != ddl.StepSchema && s.Kind != ddl.StepSequence {
			count++ // those two are IF NOT EXISTS and always run
		}
		log.Debug("applying", "kind", s.Kind, "table", s.Table.String(), "object", s.Object)
	})}
	if !c.Bool("with-triggers") {
		opts = append(opts, ddl.WithoutTriggers())
	}
	if err := ddl.Apply(c.Context, dst, p, opts...); err != nil {
		return err
	}
	w := stderrOf(c)
	if count == 0 {
		fmt.Fprintln(w, "target schema already in place: nothing to do")
	} else {
		fmt.Fprintf(w, "target schema applied: %d statement(s), %d table(s) (%d distributed, %d reference)\n",
			count, len(p.Distributed())+len(p.OfKind(plan.Reference)), len(p.Distributed()), len(p.OfKind(plan.Reference)))
	}
	after, err := ddl.PrepareAfterData(c.Context, dst, p)
	if err != nil {
		return err
	}
	if n := after.ActingOnWrites(); n > 0 {
		fmt.Fprintf(w, "%d trigger, row-level security and policy statement(s) wait for the data, since they would act on every copied row: 'copy' runs them when it is done ('cutover' with --follow); --with-triggers runs them now\n", n)
	}
	if n := p.NotCreated(); n > 0 {
		fmt.Fprintf(w, "%d schema object(s) of the source are not on the target: plan lists each with the reason and the remedy\n", n)
	}
	return nil
}

// renderDjango writes the Django side of the plan: to stdout, or as files
// under --out, each named on stderr.
func renderDjango(c *cli.Context, p *plan.Plan, src *pgxpool.Pool) error {
	pr, err := django.Load(c.Context, src, p)
	if err != nil {
		return err
	}
	files, err := django.Changes(p, pr).Files()
	if err != nil {
		return err
	}
	dir := c.String("out")
	if dir == "" {
		return django.WriteStream(stdoutOf(c), files)
	}
	if err := django.WriteDir(dir, files); err != nil {
		return fmt.Errorf("--out %s: %w", dir, err)
	}
	for _, f := range files {
		fmt.Fprintf(stderrOf(c), "wrote %s\n", filepath.Join(dir, f.Path))
	}
	return nil
}
