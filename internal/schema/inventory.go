package schema

import (
	"context"
	"fmt"
	"strings"

	"github.com/jackc/pgx/v5"

	"github.com/tenantmover/tenantmover/internal/db"
)

// helperSchema is tenantmover's own schema on the source (checkpoints,
// backfill's fill-trigger functions, cutover's write guard): never part
// of the inventory, and neither are the triggers calling its functions.
const helperSchema = "tenantmover"

// objectSteps are the queries Load runs for Catalog.Objects, after the
// tables (they need the tables' OIDs).
func (l *loader) objectSteps(schemas []string) []loadStep {
	in := func(f func(context.Context, []string) error) func(context.Context) error {
		return func(ctx context.Context) error { return f(ctx, schemas) }
	}
	return []loadStep{
		{"schemas", in(l.schemas)},
		{"extensions", l.extensions},
		{"collations", in(l.collations)},
		{"type dependencies", l.typeDeps},
		{"functions", in(l.functions)},
		{"views", in(l.views)},
		{"triggers", in(l.triggers)},
		{"policies", in(l.policies)},
		{"row-level security", l.rowSecurity},
		{"comments", in(l.comments)},
		{"grants", in(l.grants)},
	}
}

// loadStep is one catalog query of Load.
type loadStep struct {
	what string
	run  func(context.Context) error
}

// refs is a subquery listing, as "type<TAB>identity" texts, the objects
// that the pg_depend rows picked by from and where depend on (d is
// pg_depend): relations, functions and user types, with a row type or an
// array type standing for its relation or element type.
func refs(from, where string) string {
	return `coalesce((SELECT array_agg(DISTINCT o.type || E'\t' || o.identity)
    FROM pg_depend d ` + from + `
    LEFT JOIN pg_type ty ON d.refclassid = 'pg_type'::regclass AND ty.oid = d.refobjid
    CROSS JOIN LATERAL pg_identify_object(
        CASE WHEN ty.typrelid <> 0 THEN 'pg_class'::regclass ELSE d.refclassid END,
        CASE WHEN ty.typrelid <> 0 THEN ty.typrelid WHEN ty.typcategory = 'A' AND ty.typelem <> 0 THEN ty.typelem ELSE d.refobjid END,
        0) o
    WHERE ` + where + ` AND d.deptype = 'n'
      AND d.refclassid IN ('pg_class'::regclass, 'pg_proc'::regclass, 'pg_type'::regclass, 'pg_constraint'::regclass)
      AND o.schema IS DISTINCT FROM 'pg_catalog'), '{}')`
}

// parseRefs splits refs' texts.
func parseRefs(texts []string) []ObjectRef {
	var out []ObjectRef
	for _, t := range texts {
		typ, id, _ := strings.Cut(t, "\t")
		out = append(out, ObjectRef{Type: typ, Identity: id})
	}
	return out
}

// parseNames splits "schema<TAB>name" texts.
func parseNames(texts []string) []Name {
	var out []Name
	for _, t := range texts {
		s, n, _ := strings.Cut(t, "\t")
		out = append(out, Name{Schema: s, Name: n})
	}
	return out
}

// schemas reads the user schemas, those an extension creates left out.
func (l *loader) schemas(ctx context.Context, schemas []string) error {
	q := `SELECT n.nspname FROM pg_namespace n WHERE ` + inSchemas("n.nspname") + ` AND ` + notMember("pg_namespace", "n.oid") + ` ORDER BY 1`
	return db.EachRow(ctx, l.tx, q, []any{schemas, systemSchemas}, func(row pgx.CollectableRow) error {
		var s string
		if err := row.Scan(&s); err != nil {
			return err
		}
		l.objs.Schemas = append(l.objs.Schemas, s)
		return nil
	})
}

// extensions reads the installed extensions but Citus's own.
func (l *loader) extensions(ctx context.Context) error {
	const q = `
SELECT x.extname, n.nspname, x.extversion,
       coalesce((SELECT array_agg(r.extname::text ORDER BY r.extname) FROM pg_depend d JOIN pg_extension r ON r.oid = d.refobjid
                 WHERE d.classid = 'pg_extension'::regclass AND d.objid = x.oid AND d.refclassid = 'pg_extension'::regclass), '{}')
FROM pg_extension x JOIN pg_namespace n ON n.oid = x.extnamespace
WHERE x.extname NOT IN ('citus', 'citus_columnar')
ORDER BY x.extname`
	return db.EachRow(ctx, l.tx, q, nil, func(row pgx.CollectableRow) error {
		x := &Extension{}
		if err := row.Scan(&x.Name, &x.Schema, &x.Version, &x.Requires); err != nil {
			return err
		}
		l.objs.Extensions = append(l.objs.Extensions, x)
		return nil
	})
}

// collations reads the user collations. Columns that differ between
// server versions are read through to_jsonb.
func (l *loader) collations(ctx context.Context, schemas []string) error {
	q := `
SELECT n.nspname, c.collname, (pg_identify_object('pg_collation'::regclass, c.oid, 0)).identity, c.collprovider::text, c.collisdeterministic,
       coalesce(to_jsonb(c)->>'collcollate', ''), coalesce(to_jsonb(c)->>'collctype', ''),
       coalesce(to_jsonb(c)->>'colliculocale', to_jsonb(c)->>'colllocale', ''), coalesce(to_jsonb(c)->>'collicurules', '')
FROM pg_collation c JOIN pg_namespace n ON n.oid = c.collnamespace
WHERE ` + inSchemas("n.nspname") + ` AND ` + notMember("pg_collation", "c.oid") + `
ORDER BY n.nspname, c.collname`
	return db.EachRow(ctx, l.tx, q, []any{schemas, systemSchemas}, func(row pgx.CollectableRow) error {
		c := &Collation{}
		if err := row.Scan(&c.Name.Schema, &c.Name.Name, &c.Identity, &c.Provider, &c.Deterministic, &c.Collate, &c.CType, &c.Locale, &c.Rules); err != nil {
			return err
		}
		l.objs.Collations = append(l.objs.Collations, c)
		return nil
	})
}

// typeDeps reads what the types read depend on: a domain's base type and
// the functions its checks call, a composite type's field types, a range
// type's subtype and functions.
func (l *loader) typeDeps(ctx context.Context) error {
	byName := map[Name]*Type{}
	var names []string
	for _, t := range l.typs {
		byName[t.Name] = t
		names = append(names, t.Name.Quoted())
	}
	q := `
SELECT n.nspname, t.typname, ` + refs(
		`LEFT JOIN pg_constraint dc ON d.classid = 'pg_constraint'::regclass AND dc.oid = d.objid`,
		`(d.classid = 'pg_type'::regclass AND d.objid = t.oid OR d.classid = 'pg_class'::regclass AND d.objid = t.typrelid AND t.typtype = 'c'
		  OR dc.contypid = t.oid) AND d.refobjid <> t.oid`) + `
FROM pg_type t JOIN pg_namespace n ON n.oid = t.typnamespace
WHERE t.oid = ANY($1::text[]::regtype[])`
	return db.EachRow(ctx, l.tx, q, []any{names}, func(row pgx.CollectableRow) error {
		var n Name
		var deps []string
		if err := row.Scan(&n.Schema, &n.Name, &deps); err != nil {
			return err
		}
		if t := byName[n]; t != nil {
			t.DependsOn = parseRefs(deps)
		}
		return nil
	})
}

// functions reads the user functions, procedures and aggregates, with
// what they depend on and the tables that call them in defaults, checks
// and indexes. The constructors of range types (internal dependencies on
// their type) come with CREATE TYPE and are left out.
func (l *loader) functions(ctx context.Context, schemas []string) error {
	q := `
SELECT n.nspname, p.proname, (pg_identify_object('pg_proc'::regclass, p.oid, 0)).identity, p.prokind::text, lg.lanname,
       CASE WHEN p.prokind IN ('f', 'p') THEN pg_get_functiondef(p.oid) ELSE '' END,
       p.prorettype = 'trigger'::regtype, to_jsonb(p)->>'prosqlbody' IS NOT NULL,
       ` + refs("", "d.classid = 'pg_proc'::regclass AND d.objid = p.oid") + `,
       coalesce((SELECT array_agg(DISTINCT rn.nspname || E'\t' || rc.relname)
                 FROM pg_depend d
                 LEFT JOIN pg_attrdef ad ON d.classid = 'pg_attrdef'::regclass AND ad.oid = d.objid
                 LEFT JOIN pg_constraint con ON d.classid = 'pg_constraint'::regclass AND con.oid = d.objid
                 LEFT JOIN pg_index ix ON d.classid = 'pg_class'::regclass AND ix.indexrelid = d.objid
                 JOIN pg_class rc ON rc.oid = coalesce(ad.adrelid, nullif(con.conrelid, 0), ix.indrelid)
                 JOIN pg_namespace rn ON rn.oid = rc.relnamespace
                 WHERE d.refclassid = 'pg_proc'::regclass AND d.refobjid = p.oid), '{}')
FROM pg_proc p
JOIN pg_namespace n ON n.oid = p.pronamespace
JOIN pg_language lg ON lg.oid = p.prolang
WHERE ` + inSchemas("n.nspname") + ` AND ` + notMember("pg_proc", "p.oid") + `
  AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.classid = 'pg_proc'::regclass AND d.objid = p.oid AND d.deptype = 'i')
ORDER BY 3`
	return db.EachRow(ctx, l.tx, q, []any{schemas, systemSchemas}, func(row pgx.CollectableRow) error {
		f := &Function{}
		var kind string
		var deps, usedBy []string
		if err := row.Scan(&f.Name.Schema, &f.Name.Name, &f.Identity, &kind, &f.Language, &f.Definition, &f.Trigger, &f.SQLBody, &deps, &usedBy); err != nil {
			return err
		}
		f.Kind = map[string]string{"f": "function", "p": "procedure", "a": "aggregate", "w": "window"}[kind]
		f.DependsOn, f.UsedBy = parseRefs(deps), parseNames(usedBy)
		l.objs.Functions = append(l.objs.Functions, f)
		return nil
	})
}

// views reads views and materialized views with their definitions, the
// objects their rules use, and a materialized view's indexes.
func (l *loader) views(ctx context.Context, schemas []string) error {
	q := `
SELECT n.nspname, c.relname, (pg_identify_object('pg_class'::regclass, c.oid, 0)).identity, c.relkind = 'm',
       pg_get_viewdef(c.oid), coalesce(c.reloptions::text[], '{}'),
       coalesce(CASE WHEN c.relkind = 'm' AND am.amname <> 'heap' THEN am.amname END, ''), c.relispopulated,
       coalesce((SELECT array_agg(pg_get_indexdef(i.indexrelid) ORDER BY ic.relname)
                 FROM pg_index i JOIN pg_class ic ON ic.oid = i.indexrelid WHERE i.indrelid = c.oid), '{}'),
       ` + refs("JOIN pg_rewrite rw ON rw.oid = d.objid", "d.classid = 'pg_rewrite'::regclass AND rw.ev_class = c.oid AND d.refobjid <> c.oid") + `
FROM pg_class c
JOIN pg_namespace n ON n.oid = c.relnamespace
LEFT JOIN pg_am am ON am.oid = c.relam
WHERE c.relkind IN ('v', 'm') AND ` + inSchemas("n.nspname") + ` AND ` + notMember("pg_class", "c.oid") + `
ORDER BY n.nspname, c.relname`
	return db.EachRow(ctx, l.tx, q, []any{schemas, systemSchemas}, func(row pgx.CollectableRow) error {
		v := &View{}
		var deps []string
		if err := row.Scan(&v.Name.Schema, &v.Name.Name, &v.Identity, &v.Materialized, &v.Definition, &v.Options,
			&v.AccessMethod, &v.Populated, &v.Indexes, &deps); err != nil {
			return err
		}
		v.Definition = strings.TrimSuffix(strings.TrimSpace(v.Definition), ";")
		v.DependsOn = parseRefs(deps)
		l.objs.Views = append(l.objs.Views, v)
		return nil
	})
}

// triggers reads the user triggers on tables, partitions and views. A
// partition's clone of its parent's trigger (tgparentid) is left out: the
// parent's trigger stands for it, as CREATE TRIGGER on the parent makes
// the clones again.
func (l *loader) triggers(ctx context.Context, schemas []string) error {
	q := `
SELECT (pg_identify_object('pg_trigger'::regclass, t.oid, 0)).identity, t.tgname, n.nspname, c.relname, c.relkind = 'v',
       pg_get_triggerdef(t.oid), t.tgenabled::text, (t.tgtype & 1) <> 0, (t.tgtype & 32) <> 0, t.tgconstraint <> 0,
       (pg_identify_object('pg_proc'::regclass, t.tgfoid, 0)).identity
FROM pg_trigger t
JOIN pg_class c ON c.oid = t.tgrelid
JOIN pg_namespace n ON n.oid = c.relnamespace
JOIN pg_proc f ON f.oid = t.tgfoid
JOIN pg_namespace fn ON fn.oid = f.pronamespace
WHERE NOT t.tgisinternal AND coalesce((to_jsonb(t)->>'tgparentid')::oid, 0) = 0 AND c.relkind IN ('r', 'p', 'v')
  AND fn.nspname <> '` + helperSchema + `' AND ` + inSchemas("n.nspname") + `
  AND ` + notMember("pg_trigger", "t.oid") + ` AND ` + notMember("pg_class", "c.oid") + `
ORDER BY n.nspname, c.relname, t.tgname`
	return db.EachRow(ctx, l.tx, q, []any{schemas, systemSchemas}, func(row pgx.CollectableRow) error {
		t := &Trigger{}
		if err := row.Scan(&t.Identity, &t.Name, &t.Table.Schema, &t.Table.Name, &t.OnView, &t.Definition, &t.Enabled,
			&t.Row, &t.Truncate, &t.Constraint, &t.Function); err != nil {
			return err
		}
		l.objs.Triggers = append(l.objs.Triggers, t)
		return nil
	})
}

// policies reads the row-level security policies.
func (l *loader) policies(ctx context.Context, schemas []string) error {
	q := `
SELECT (pg_identify_object('pg_policy'::regclass, p.oid, 0)).identity, p.polname, n.nspname, c.relname, p.polpermissive,
       CASE p.polcmd WHEN 'r' THEN 'SELECT' WHEN 'a' THEN 'INSERT' WHEN 'w' THEN 'UPDATE' WHEN 'd' THEN 'DELETE' ELSE 'ALL' END,
       coalesce((SELECT array_agg(CASE WHEN r = 0 THEN 'PUBLIC' ELSE pg_get_userbyid(r)::text END ORDER BY 1) FROM unnest(p.polroles) r), '{}'),
       coalesce(pg_get_expr(p.polqual, p.polrelid), ''), coalesce(pg_get_expr(p.polwithcheck, p.polrelid), '')
FROM pg_policy p
JOIN pg_class c ON c.oid = p.polrelid
JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE ` + inSchemas("n.nspname") + ` AND ` + notMember("pg_class", "c.oid") + `
ORDER BY n.nspname, c.relname, p.polname`
	return db.EachRow(ctx, l.tx, q, []any{schemas, systemSchemas}, func(row pgx.CollectableRow) error {
		p := &Policy{}
		if err := row.Scan(&p.Identity, &p.Name, &p.Table.Schema, &p.Table.Name, &p.Permissive, &p.Command, &p.Roles, &p.Using, &p.WithCheck); err != nil {
			return err
		}
		l.objs.Policies = append(l.objs.Policies, p)
		return nil
	})
}

// rowSecurity reads which tables have row-level security enabled or
// forced.
func (l *loader) rowSecurity(ctx context.Context) error {
	const q = `
SELECT n.nspname, c.relname, c.relrowsecurity, c.relforcerowsecurity
FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE c.oid = ANY($1) AND (c.relrowsecurity OR c.relforcerowsecurity)
ORDER BY n.nspname, c.relname`
	return db.EachRow(ctx, l.tx, q, []any{l.oids}, func(row pgx.CollectableRow) error {
		var r RowSecurity
		if err := row.Scan(&r.Table.Schema, &r.Table.Name, &r.Enabled, &r.Forced); err != nil {
			return err
		}
		l.objs.RowSecurity = append(l.objs.RowSecurity, r)
		return nil
	})
}

// comments reads the comments on objects of the schemas read (and on
// those schemas), but not on what an extension owns.
func (l *loader) comments(ctx context.Context, schemas []string) error {
	q := `
SELECT o.type, o.identity, d.description, rel.nspname, rel.relname
FROM pg_description d
CROSS JOIN LATERAL pg_identify_object(d.classoid, d.objoid, d.objsubid) o
LEFT JOIN pg_namespace sn ON d.classoid = 'pg_namespace'::regclass AND sn.oid = d.objoid
LEFT JOIN pg_trigger tg ON d.classoid = 'pg_trigger'::regclass AND tg.oid = d.objoid
LEFT JOIN pg_policy pol ON d.classoid = 'pg_policy'::regclass AND pol.oid = d.objoid
LEFT JOIN pg_constraint con ON d.classoid = 'pg_constraint'::regclass AND con.oid = d.objoid
LEFT JOIN pg_index ix ON d.classoid = 'pg_class'::regclass AND ix.indexrelid = d.objoid
LEFT JOIN LATERAL (
    SELECT rn.nspname, rc.relname, rc.oid FROM pg_class rc JOIN pg_namespace rn ON rn.oid = rc.relnamespace
    WHERE rc.oid = CASE WHEN ix.indrelid IS NOT NULL THEN ix.indrelid WHEN d.classoid = 'pg_class'::regclass THEN d.objoid
                        ELSE coalesce(tg.tgrelid, pol.polrelid, nullif(con.conrelid, 0)) END) rel ON true
WHERE d.objoid >= 16384 -- FirstNormalObjectId: the system's own comments are many
  AND d.classoid IN ('pg_class'::regclass, 'pg_proc'::regclass, 'pg_type'::regclass, 'pg_namespace'::regclass,
                     'pg_collation'::regclass, 'pg_trigger'::regclass, 'pg_policy'::regclass, 'pg_constraint'::regclass)
  AND ` + inSchemas("coalesce(rel.nspname, sn.nspname, o.schema)") + `
  AND NOT EXISTS (SELECT 1 FROM pg_depend e WHERE e.deptype = 'e' AND (e.classid = d.classoid AND e.objid = d.objoid
                                                                       OR e.classid = 'pg_class'::regclass AND e.objid = rel.oid))
ORDER BY o.type, o.identity`
	return db.EachRow(ctx, l.tx, q, []any{schemas, systemSchemas}, func(row pgx.CollectableRow) error {
		c := &Comment{}
		var ns, rel *string
		if err := row.Scan(&c.Type, &c.Identity, &c.Text, &ns, &rel); err != nil {
			return err
		}
		if ns != nil && rel != nil {
			c.Table = &Name{Schema: *ns, Name: *rel}
		}
		l.objs.Comments = append(l.objs.Comments, c)
		return nil
	})
}

// grants reads the privileges on the tables read, the views, materialized
// views and sequences of the schemas read, their columns and the schemas
// themselves: one row per object, grantee and grant option. The owner's
// own privileges are left out (they come with owning the object, and the
// target's objects belong to whoever creates them), and so is the USAGE
// on schema public that every database gives PUBLIC.
func (l *loader) grants(ctx context.Context, schemas []string) error {
	q := `
WITH rels AS (
    SELECT c.oid, c.relkind, c.relacl, c.relowner, n.nspname, c.relname
    FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
    WHERE c.oid = ANY($3)
       OR c.relkind IN ('v', 'm', 'S') AND ` + inSchemas("n.nspname") + ` AND ` + notMember("pg_class", "c.oid") + `
), acl AS (
    SELECT (pg_identify_object('pg_class'::regclass, r.oid, 0)).type, (pg_identify_object('pg_class'::regclass, r.oid, 0)).identity,
           '' AS col, r.nspname, r.relname, a.*
    FROM rels r, aclexplode(r.relacl) a
    WHERE a.grantee <> r.relowner
    UNION ALL
    SELECT 'table column', (pg_identify_object('pg_class'::regclass, r.oid, 0)).identity, att.attname, r.nspname, r.relname, a.*
    FROM rels r JOIN pg_attribute att ON att.attrelid = r.oid AND att.attnum > 0 AND NOT att.attisdropped AND att.attacl IS NOT NULL,
         aclexplode(att.attacl) a
    UNION ALL
    SELECT 'schema', quote_ident(n.nspname), '', NULL, NULL, a.*
    FROM pg_namespace n, aclexplode(n.nspacl) a
    WHERE ` + inSchemas("n.nspname") + ` AND ` + notMember("pg_namespace", "n.oid") + ` AND a.grantee <> n.nspowner
      AND NOT (n.nspname = 'public' AND a.grantee = 0 AND a.privilege_type = 'USAGE')
)
SELECT type, identity, col, nspname, relname, CASE WHEN grantee = 0 THEN 'PUBLIC' ELSE pg_get_userbyid(grantee)::text END,
       array_agg(privilege_type ORDER BY privilege_type), is_grantable
FROM acl
GROUP BY 1, 2, 3, 4, 5, 6, 8
ORDER BY 2, 3, 6, 8`
	return db.EachRow(ctx, l.tx, q, []any{schemas, systemSchemas, l.oids}, func(row pgx.CollectableRow) error {
		g := &Grant{}
		var ns, rel *string
		if err := row.Scan(&g.Type, &g.Identity, &g.Column, &ns, &rel, &g.Grantee, &g.Privileges, &g.Grantable); err != nil {
			return err
		}
		if ns != nil && rel != nil {
			g.Table = &Name{Schema: *ns, Name: *rel}
		}
		l.objs.Grants = append(l.objs.Grants, g)
		return nil
	})
}

// String shows a grant as the statement that gives it, for messages.
func (g *Grant) String() string {
	on := g.Type + " " + g.Identity
	if g.Column != "" {
		on = fmt.Sprintf("column %s of table %s", db.QuoteIfNeeded(g.Column), g.Identity)
	}
	return fmt.Sprintf("%s on %s to %s", strings.Join(g.Privileges, ", "), on, g.Grantee)
}
