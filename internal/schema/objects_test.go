package schema_test

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/tenantmover/tenantmover/internal/schema"
)

// objectsDDL has one object of each kind Load inventories, and what it must
// leave out: an extension's own functions and types, tenantmover's schema
// and a trigger calling a function there.
const objectsDDL = `
CREATE EXTENSION pgcrypto;
CREATE SCHEMA app;
CREATE COLLATION app.ci (provider = icu, locale = 'und-u-ks-level2', deterministic = false);
CREATE TYPE app.floatrange AS RANGE (subtype = float8, subtype_diff = float8mi);
CREATE TYPE app.pair AS (a int, b text COLLATE app.ci);
CREATE TYPE app.unused AS ENUM ('x');
CREATE FUNCTION app.positive(n int) RETURNS boolean LANGUAGE sql IMMUTABLE AS 'SELECT n > 0';
CREATE DOMAIN app.pos AS int CHECK (app.positive(VALUE));
CREATE TABLE app.item (id int PRIMARY KEY CHECK (app.positive(id)), name text, p app.pos);
CREATE FUNCTION app.item_count() RETURNS bigint LANGUAGE sql BEGIN ATOMIC SELECT count(*) FROM app.item; END;
CREATE FUNCTION app.items() RETURNS SETOF app.item LANGUAGE plpgsql AS $$BEGIN RETURN QUERY SELECT * FROM app.item; END$$;
CREATE PROCEDURE app.noop() LANGUAGE plpgsql AS $$BEGIN END$$;
CREATE AGGREGATE app.total(int) (sfunc = int4pl, stype = int);
CREATE FUNCTION app.touch() RETURNS trigger LANGUAGE plpgsql AS $$BEGIN NEW.name := lower(NEW.name); RETURN NEW; END$$;
CREATE TRIGGER touch BEFORE INSERT OR UPDATE ON app.item FOR EACH ROW EXECUTE FUNCTION app.touch();
CREATE TRIGGER stmt AFTER TRUNCATE ON app.item FOR EACH STATEMENT EXECUTE FUNCTION app.touch();
ALTER TABLE app.item DISABLE TRIGGER stmt;
CREATE VIEW app.v AS SELECT id, name FROM app.item WHERE app.positive(id);
CREATE VIEW app.vv WITH (security_barrier) AS SELECT id FROM app.v;
CREATE MATERIALIZED VIEW app.mv AS SELECT count(*) AS n FROM app.item WITH NO DATA;
CREATE UNIQUE INDEX mv_n ON app.mv (n);
ALTER TABLE app.item ENABLE ROW LEVEL SECURITY;
CREATE POLICY mine ON app.item AS RESTRICTIVE FOR SELECT TO PUBLIC USING (id > 0);
COMMENT ON TABLE app.item IS 'items';
COMMENT ON COLUMN app.item.name IS 'the name';
COMMENT ON TRIGGER touch ON app.item IS 'lower-cases';
COMMENT ON FUNCTION app.touch() IS 'trigger function';
COMMENT ON SCHEMA app IS 'the app';
CREATE ROLE inventory_reader; -- roles are cluster-wide: the name is this test's alone
GRANT USAGE ON SCHEMA app TO inventory_reader;
GRANT SELECT ON app.item, app.v TO inventory_reader WITH GRANT OPTION;
GRANT UPDATE (name) ON app.item TO inventory_reader;
CREATE SCHEMA tenantmover;
CREATE FUNCTION tenantmover.tm_item_fill() RETURNS trigger LANGUAGE plpgsql AS $$BEGIN RETURN NEW; END$$;
CREATE TRIGGER tm_item_fill BEFORE INSERT ON app.item FOR EACH ROW EXECUTE FUNCTION tenantmover.tm_item_fill();
`

func TestLoadObjects(t *testing.T) {
	t.Parallel()
	cat := load(t, objectsDDL, "app")
	o := cat.Objects

	require.Equal(t, []string{"app"}, o.Schemas)
	var exts []string
	for _, x := range o.Extensions {
		exts = append(exts, x.Name)
	}
	require.Equal(t, []string{"pgcrypto", "plpgsql"}, exts)
	require.Equal(t, []*schema.Collation{{Name: schema.Name{Schema: "app", Name: "ci"}, Identity: "app.ci", Provider: "i",
		Locale: "und-u-ks-level2", Collate: o.Collations[0].Collate, CType: o.Collations[0].CType}}, o.Collations)

	kinds := map[string]string{}
	for _, ty := range cat.Types {
		kinds[ty.Identity] = ty.Kind
	}
	require.Equal(t, map[string]string{"app.floatrange": "range", "app.pair": "composite", "app.unused": "enum", "app.pos": "domain"}, kinds)
	for _, ty := range cat.Types {
		switch ty.Identity {
		case "app.floatrange":
			require.Equal(t, &schema.Range{Subtype: "double precision", SubtypeDiff: "float8mi", Multirange: "app.floatmultirange"}, ty.Range)
		case "app.pair":
			require.Equal(t, []schema.Attribute{{Name: "a", Type: "integer"}, {Name: "b", Type: "text", Collation: "app.ci"}}, ty.Attributes)
		case "app.pos":
			require.Equal(t, []schema.ObjectRef{{Type: "function", Identity: "app.positive(integer)"}}, ty.DependsOn)
		}
	}

	fns := map[string]*schema.Function{}
	for _, f := range o.Functions {
		fns[f.Identity] = f
	}
	require.Len(t, fns, 6, "pgcrypto's functions and tenantmover's are left out")
	require.Equal(t, "aggregate", fns["app.total(integer)"].Kind)
	require.Empty(t, fns["app.total(integer)"].Definition)
	require.Equal(t, "procedure", fns["app.noop()"].Kind)
	require.True(t, fns["app.touch()"].Trigger)
	require.True(t, fns["app.item_count()"].SQLBody)
	require.Contains(t, fns["app.item_count()"].DependsOn, schema.ObjectRef{Type: "table", Identity: "app.item"})
	require.Equal(t, []schema.ObjectRef{{Type: "table", Identity: "app.item"}}, fns["app.items()"].DependsOn)
	require.Equal(t, []schema.Name{{Schema: "app", Name: "item"}}, fns["app.positive(integer)"].UsedBy)
	require.Contains(t, fns["app.positive(integer)"].Definition, "CREATE OR REPLACE FUNCTION app.positive(n integer)")

	require.Len(t, o.Views, 3)
	mv, v, vv := o.Views[0], o.Views[1], o.Views[2]
	require.True(t, mv.Materialized)
	require.False(t, mv.Populated)
	require.Equal(t, []string{"CREATE UNIQUE INDEX mv_n ON app.mv USING btree (n)"}, mv.Indexes)
	require.Equal(t, []schema.ObjectRef{{Type: "function", Identity: "app.positive(integer)"}, {Type: "table", Identity: "app.item"}}, v.DependsOn)
	require.NotContains(t, v.Definition, ";")
	require.Equal(t, []schema.ObjectRef{{Type: "view", Identity: "app.v"}}, vv.DependsOn)
	require.Equal(t, []string{"security_barrier=true"}, vv.Options)

	require.Len(t, o.Triggers, 2, "the fill trigger is left out")
	stmt, touch := o.Triggers[0], o.Triggers[1]
	require.Equal(t, "touch on app.item", touch.Identity)
	require.Equal(t, "O", touch.Enabled)
	require.True(t, touch.Row)
	require.Equal(t, "app.touch()", touch.Function)
	require.Equal(t, "D", stmt.Enabled)
	require.True(t, stmt.Truncate)
	require.False(t, stmt.Row)

	require.Equal(t, []*schema.Policy{{Identity: "mine on app.item", Name: "mine", Table: schema.Name{Schema: "app", Name: "item"},
		Command: "SELECT", Roles: []string{"PUBLIC"}, Using: "(id > 0)"}}, o.Policies)
	require.Equal(t, []schema.RowSecurity{{Table: schema.Name{Schema: "app", Name: "item"}, Enabled: true}}, o.RowSecurity)

	comments := map[string]string{}
	for _, c := range o.Comments {
		comments[c.Type+" "+c.Identity] = c.Text
	}
	require.Equal(t, map[string]string{
		"table app.item": "items", "table column app.item.name": "the name", "trigger touch on app.item": "lower-cases",
		"function app.touch()": "trigger function", "schema app": "the app",
	}, comments)

	grants := map[string]bool{}
	for _, g := range o.Grants {
		if g.Grantee == "inventory_reader" {
			grants[g.String()] = g.Grantable
		}
	}
	require.Equal(t, map[string]bool{
		"USAGE on schema app to inventory_reader":                     false,
		"SELECT on table app.item to inventory_reader":                true,
		"SELECT on view app.v to inventory_reader":                    true,
		"UPDATE on column name of table app.item to inventory_reader": false,
	}, grants)
}
