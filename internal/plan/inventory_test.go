package plan_test

import (
	"bytes"
	"context"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/tenantmover/tenantmover/internal/ddl"
	"github.com/tenantmover/tenantmover/internal/pgtest"
	"github.com/tenantmover/tenantmover/internal/plan"
	"github.com/tenantmover/tenantmover/internal/planview"
)

// objectCodes lists the inventory's decisions as "kind name: action
// code...", for the objects that have problems.
func objectCodes(p *plan.Plan) map[string]string {
	out := map[string]string{}
	for _, o := range p.Objects {
		if len(o.Problems) == 0 {
			continue
		}
		var cs []string
		for _, pr := range o.Problems {
			c := pr.Code
			if pr.Blocking {
				c += "!"
			}
			cs = append(cs, c)
		}
		out[o.Kind+" "+o.Name] = string(o.Action) + " " + strings.Join(cs, ",")
	}
	return out
}

// TestInventoryDecisions: what plan decides for objects Citus cannot take,
// or that depend on what the target does not get, with the reason.
func TestInventoryDecisions(t *testing.T) {
	t.Parallel()
	p := build(t, `
CREATE TABLE store (id bigint PRIMARY KEY);
CREATE TABLE product (id bigint PRIMARY KEY, store_id bigint NOT NULL REFERENCES store, price int);
CREATE TABLE legacy (id int PRIMARY KEY, note text);
CREATE SEQUENCE invoice_no;
CREATE AGGREGATE total(int) (sfunc = int4pl, stype = int);
CREATE VIEW legacy_notes AS SELECT note FROM legacy;
CREATE VIEW all_notes AS SELECT * FROM legacy_notes;
CREATE FUNCTION noop() RETURNS trigger LANGUAGE plpgsql AS $$BEGIN RETURN NEW; END$$;
CREATE TRIGGER legacy_noop BEFORE INSERT ON legacy FOR EACH ROW EXECUTE FUNCTION noop();
CREATE TRIGGER product_truncate AFTER TRUNCATE ON product FOR EACH STATEMENT EXECUTE FUNCTION noop();
CREATE POLICY product_own ON product AS RESTRICTIVE USING (store_id IN (SELECT id FROM store));
COMMENT ON VIEW all_notes IS 'gone with legacy';
COMMENT ON CONSTRAINT product_store_id_fkey ON product IS 'kept';
`, plan.Config{TenantTable: "store", Excludes: []string{"legacy"}})
	require.Equal(t, map[string]string{
		"table public.legacy":                        "report excluded",
		"sequence public.invoice_no":                 "create sequence_value",
		"aggregate public.total(integer)":            "report aggregate_not_recreated",
		"view public.legacy_notes":                   "report depends_on_missing",
		"view public.all_notes":                      "report depends_on_missing",
		"trigger legacy_noop on public.legacy":       "report excluded",
		"trigger product_truncate on public.product": "report trigger_per_shard",
		"policy product_own on public.product":       "report policy_subquery!",
		"comment view public.all_notes":              "report depends_on_missing",
	}, objectCodes(p))
	require.True(t, p.Creates(plan.ObjComment, "table constraint product_store_id_fkey on public.product"))
	require.Equal(t, plan.CodePolicySubquery, p.Blocking()[pub("product")][0].Code, "a restrictive policy left out would show rows the source hides")

	var text bytes.Buffer
	require.NoError(t, planview.RenderText(&text, p))
	require.Contains(t, text.String(), "not created view public.all_notes [depends_on_missing]\n  view public.all_notes needs view public.legacy_notes, which the target does not get")
	require.Contains(t, text.String(), "BLOCKING policy product_own on public.product [policy_subquery]")
	require.Contains(t, text.String(), "the target gets 7; 8 it does not get are listed below with the reason")
	var js bytes.Buffer
	require.NoError(t, planview.RenderJSON(&js, p))
	require.Contains(t, js.String(), `"kind": "trigger",
      "name": "product_truncate on public.product",
      "action": "report",`)
}

// TestInventoryTargetChecks: a target without an extension the source
// has blocks; a grant or policy to a role the target lacks is reported.
func TestInventoryTargetChecks(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	src := pgtest.Pool(t, env.NewDB(t))
	createRoles(t, src, "inv_clerk")
	pgtest.Exec(t, src, `CREATE EXTENSION citext;
CREATE TABLE store (id bigint PRIMARY KEY, email citext);
CREATE POLICY clerks ON store TO inv_clerk USING (true);
GRANT SELECT ON store TO inv_clerk;`)
	p, err := plan.Build(ctx, src, plan.Config{TenantTable: "store"})
	require.NoError(t, err)
	require.Empty(t, p.Blocking())

	p.SetTarget(plan.TargetObjects{Roles: map[string]bool{"postgres": true}, Extensions: map[string]bool{"plpgsql": true}})
	require.Equal(t, map[string]string{
		"extension citext":                                "report extension_unavailable!",
		"policy clerks on public.store":                   "report role_missing",
		"grant SELECT on table public.store to inv_clerk": "report role_missing",
	}, objectCodes(p))
	require.Equal(t, plan.CodeExtensionUnavailable, p.Blocking()[pub("store")][0].Code)
	var sql bytes.Buffer
	require.NoError(t, ddl.Script(&sql, p))
	require.NotContains(t, sql.String(), "GRANT SELECT ON TABLE public.store")

	// A real target: Apply checks it by itself and refuses.
	p, err = plan.Build(ctx, src, plan.Config{TenantTable: "store"})
	require.NoError(t, err)
	target := pgtest.Pool(t, env.NewDB(t))
	var be *ddl.BlockingError
	require.NoError(t, ddl.Apply(ctx, target, p), "the target has citext")
	p.SetTarget(plan.TargetObjects{Roles: map[string]bool{}, Extensions: map[string]bool{}})
	require.ErrorAs(t, ddl.Apply(ctx, target, p), &be)
}

// TestInventoryOrder: the target schema creates each object after what it
// needs, on plain PostgreSQL too: a domain after the function its check
// calls, a table after the function its default calls, a view after the
// view it reads, a function returning a table's rows after the table.
func TestInventoryOrder(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	p := build(t, `
CREATE FUNCTION positive(n int) RETURNS boolean LANGUAGE sql IMMUTABLE AS 'SELECT n > 0';
CREATE DOMAIN qty AS int CHECK (positive(VALUE));
CREATE FUNCTION next_code() RETURNS text LANGUAGE sql AS $$SELECT 'c' || (random() * 1000)::int$$;
CREATE TABLE store (id bigint PRIMARY KEY, code text DEFAULT next_code(), stock qty);
CREATE VIEW b_view AS SELECT id FROM store;
CREATE VIEW a_view AS SELECT * FROM b_view;
CREATE FUNCTION stores() RETURNS SETOF store LANGUAGE sql BEGIN ATOMIC SELECT * FROM store; END;
`, plan.Config{TenantTable: "store"})
	pos := map[string]int{}
	for i, s := range ddl.Steps(p) {
		pos[s.Object] = i
	}
	require.Less(t, pos["public.positive(integer)"], pos["public.qty"])
	require.Less(t, pos["public.next_code()"], pos["public.store"])
	require.Less(t, pos["public.store"], pos["public.stores()"])
	require.Less(t, pos["public.b_view"], pos["public.a_view"])
	target := pgtest.Pool(t, env.NewDB(t))
	require.NoError(t, ddl.Apply(ctx, target, p))
	require.Equal(t, 0, pgtest.Scalar[int](t, target, `SELECT count(*) FROM a_view`))
}

// TestViewGroupedByKey: a view that groups by a table's primary key and
// selects its other columns (allowed because the key determines them)
// cannot be created once that key has the tenant column: it is reported
// with the column to add, and so is a view over it; views grouping by the
// tenant's own key, or by every column they select, are created, and the
// schema applies.
func TestViewGroupedByKey(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	p := build(t, `
CREATE TABLE store (id bigint PRIMARY KEY, name text);
CREATE TABLE product (id bigint PRIMARY KEY, store_id bigint NOT NULL REFERENCES store, name text);
CREATE TABLE purchase (id bigint PRIMARY KEY, product_id bigint NOT NULL REFERENCES product);
CREATE VIEW store_sales AS SELECT s.id, s.name, count(u.id) FROM store s JOIN product p ON p.store_id = s.id JOIN purchase u ON u.product_id = p.id GROUP BY s.id;
CREATE VIEW product_sales AS SELECT p.id, p.name, count(u.id) FROM product p JOIN purchase u ON u.product_id = p.id GROUP BY p.id;
CREATE VIEW top_products AS SELECT * FROM product_sales WHERE count > 10;
CREATE VIEW product_sales_named AS SELECT p.id, p.name, count(u.id) FROM product p JOIN purchase u ON u.product_id = p.id GROUP BY p.id, p.name;
`, plan.Config{TenantTable: "store"})
	require.Equal(t, map[string]string{
		"view public.product_sales": "report view_groups_by_key",
		"view public.top_products":  "report depends_on_missing",
	}, objectCodes(p))
	pr := p.Object(plan.ObjView, "public.product_sales").Problems[0]
	require.Contains(t, pr.Message, "groups by the primary key of public.product")
	require.Contains(t, pr.Remedy, "add public.product.store_id to the view's GROUP BY")
	require.True(t, p.Creates(plan.ObjView, "public.store_sales"))
	require.True(t, p.Creates(plan.ObjView, "public.product_sales_named"))

	target := pgtest.Pool(t, env.NewDB(t))
	require.NoError(t, ddl.Apply(ctx, target, p), "the composite keys hold on a plain target too")
	require.Equal(t, 0, pgtest.Scalar[int](t, target, `SELECT count(*) FROM store_sales`))
	require.Equal(t, 0, pgtest.Scalar[int](t, target, `SELECT count(*) FROM pg_views WHERE viewname IN ('product_sales', 'top_products')`))
}
