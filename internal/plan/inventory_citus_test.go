package plan_test

import (
	"context"
	"fmt"
	"sort"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/require"

	"github.com/tenantmover/tenantmover/internal/ddl"
	"github.com/tenantmover/tenantmover/internal/pgtest"
	"github.com/tenantmover/tenantmover/internal/plan"
)

// createRoles makes roles that may exist already (roles belong to the
// server, not the test's database).
func createRoles(t *testing.T, pool *pgxpool.Pool, roles ...string) {
	t.Helper()
	for _, r := range roles {
		pgtest.Exec(t, pool, fmt.Sprintf(`DO $$BEGIN CREATE ROLE %s LOGIN; EXCEPTION WHEN duplicate_object THEN NULL; END$$`, r))
	}
}

// inventoryDDL has one object of each kind plan inventories, on a
// distributed table (product), a reference table (country) and the root
// (store): an extension a default uses, a collation a column uses, a range
// and a composite type, a SQL function a check calls, plpgsql functions,
// a procedure, a trigger function with row triggers on a distributed and a
// reference table and a statement trigger, a view over a view, a
// materialized view with an index, row-level security with a policy (and
// one with a subquery, which Citus refuses), comments, and grants to a
// role the target has and to one it lacks.
const inventoryDDL = `
CREATE EXTENSION pgcrypto;
CREATE COLLATION ci (provider = icu, locale = 'und-u-ks-level2', deterministic = false);
CREATE TYPE floatrange AS RANGE (subtype = float8, subtype_diff = float8mi);
CREATE TYPE pair AS (a int, b text);
CREATE FUNCTION positive(n numeric) RETURNS boolean LANGUAGE sql IMMUTABLE AS 'SELECT n > 0';
CREATE TABLE store (id bigserial PRIMARY KEY, name text NOT NULL COLLATE ci, token text DEFAULT encode(gen_random_bytes(8), 'hex'));
CREATE TABLE product (id bigserial PRIMARY KEY, store_id bigint NOT NULL REFERENCES store, name text, price numeric CHECK (positive(price)),
  updated_at timestamptz, dims pair);
CREATE TABLE country (code text PRIMARY KEY, name text, updated_at timestamptz);
CREATE FUNCTION touch() RETURNS trigger LANGUAGE plpgsql AS $$BEGIN NEW.updated_at := '2001-02-03'; RETURN NEW; END$$;
CREATE TRIGGER product_touch BEFORE UPDATE ON product FOR EACH ROW EXECUTE FUNCTION touch();
CREATE TRIGGER country_touch BEFORE UPDATE ON country FOR EACH ROW EXECUTE FUNCTION touch();
CREATE FUNCTION noop() RETURNS trigger LANGUAGE plpgsql AS $$BEGIN RETURN NULL; END$$;
CREATE TRIGGER product_batch AFTER INSERT ON product FOR EACH STATEMENT EXECUTE FUNCTION noop();
CREATE FUNCTION store_products(s bigint) RETURNS bigint LANGUAGE plpgsql STABLE AS $$BEGIN RETURN (SELECT count(*) FROM product WHERE store_id = s); END$$;
CREATE FUNCTION in_range(r floatrange, x float8) RETURNS boolean LANGUAGE sql AS 'SELECT r @> x';
CREATE FUNCTION cheap() RETURNS SETOF product LANGUAGE sql BEGIN ATOMIC SELECT * FROM product WHERE price < 10; END;
CREATE PROCEDURE rename_store(s bigint, n text) LANGUAGE plpgsql AS $$BEGIN UPDATE store SET name = n WHERE id = s; END$$;
CREATE VIEW priced AS SELECT id, store_id, price FROM product WHERE price IS NOT NULL;
CREATE VIEW expensive AS SELECT * FROM priced WHERE price > 100;
CREATE MATERIALIZED VIEW store_totals AS SELECT store_id, count(*) AS n FROM product GROUP BY store_id;
CREATE UNIQUE INDEX store_totals_store ON store_totals (store_id);
ALTER TABLE product ENABLE ROW LEVEL SECURITY;
CREATE POLICY product_tenant ON product USING (store_id = current_setting('app.store', true)::bigint);
CREATE POLICY product_listed ON product FOR SELECT USING (store_id IN (SELECT id FROM store));
COMMENT ON TABLE product IS 'what stores sell';
COMMENT ON COLUMN product.price IS 'in cents';
COMMENT ON VIEW priced IS 'products with a price';
COMMENT ON FUNCTION touch() IS 'stamps updated_at';
COMMENT ON TRIGGER product_touch ON product IS 'keeps updated_at';
COMMENT ON POLICY product_tenant ON product IS 'one store at a time';
GRANT SELECT, UPDATE ON product, priced TO inv_reader;
GRANT USAGE ON SEQUENCE product_id_seq TO inv_reader;
GRANT SELECT ON store TO inv_auditor;
`

// inventoryQuery lists the schema objects of the public schema by kind
// and name, the way plan names them, straight from the catalog (so it
// checks the loader rather than repeating it). Citus's own objects belong
// to its extension and are left out.
const inventoryQuery = `
WITH ids AS (
    SELECT 'extension' AS kind, extname::text AS name FROM pg_extension WHERE extname NOT IN ('citus', 'citus_columnar')
    UNION ALL
    SELECT 'collation', (pg_identify_object('pg_collation'::regclass, oid, 0)).identity FROM pg_collation WHERE collnamespace = 'public'::regnamespace
    UNION ALL
    SELECT 'type', (pg_identify_object('pg_type'::regclass, t.oid, 0)).identity FROM pg_type t
    WHERE typnamespace = 'public'::regnamespace AND (typtype IN ('r', 'e', 'd') OR typtype = 'c' AND (SELECT relkind FROM pg_class WHERE oid = typrelid) = 'c')
    UNION ALL
    SELECT CASE prokind WHEN 'p' THEN 'procedure' WHEN 'a' THEN 'aggregate' ELSE 'function' END,
           (pg_identify_object('pg_proc'::regclass, p.oid, 0)).identity
    FROM pg_proc p WHERE pronamespace = 'public'::regnamespace
      AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.classid = 'pg_proc'::regclass AND d.objid = p.oid AND d.deptype IN ('e', 'i'))
    UNION ALL
    SELECT CASE relkind WHEN 'v' THEN 'view' WHEN 'm' THEN 'materialized view' WHEN 'S' THEN 'sequence' ELSE 'table' END,
           (pg_identify_object('pg_class'::regclass, c.oid, 0)).identity
    FROM pg_class c WHERE relnamespace = 'public'::regnamespace AND relkind IN ('r', 'p', 'v', 'm', 'S')
      AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.classid = 'pg_class'::regclass AND d.objid = c.oid AND d.deptype = 'e')
    UNION ALL
    SELECT 'trigger', (pg_identify_object('pg_trigger'::regclass, oid, 0)).identity FROM pg_trigger WHERE NOT tgisinternal
    UNION ALL
    SELECT 'policy', (pg_identify_object('pg_policy'::regclass, oid, 0)).identity FROM pg_policy
    UNION ALL
    SELECT 'row level security', 'public.' || relname FROM pg_class WHERE relnamespace = 'public'::regnamespace AND relrowsecurity
    UNION ALL
    SELECT 'comment', o.type || ' ' || o.identity FROM pg_description d, pg_identify_object(d.classoid, d.objoid, d.objsubid) o
    WHERE d.objoid >= 16384 AND d.classoid <> 'pg_extension'::regclass
      AND NOT EXISTS (SELECT 1 FROM pg_depend e WHERE e.classid = d.classoid AND e.objid = d.objoid AND e.deptype = 'e')
    UNION ALL
    SELECT 'grant', string_agg(a.privilege_type, ', ' ORDER BY a.privilege_type) || ' on ' || o.type || ' ' || o.identity || ' to ' || pg_get_userbyid(a.grantee)
    FROM pg_class c, aclexplode(c.relacl) a, pg_identify_object('pg_class'::regclass, c.oid, 0) o
    WHERE c.relnamespace = 'public'::regnamespace AND a.grantee <> c.relowner
    GROUP BY o.type, o.identity, a.grantee
)
SELECT kind, name FROM ids`

func inventoryOf(t *testing.T, pool *pgxpool.Pool) map[string]bool {
	t.Helper()
	rows, err := pool.Query(context.Background(), inventoryQuery)
	require.NoError(t, err)
	out := map[string]bool{}
	for rows.Next() {
		var kind, name string
		require.NoError(t, rows.Scan(&kind, &name))
		out[kind+" "+name] = true
	}
	require.NoError(t, rows.Err())
	return out
}

// TestInventoryOnCitus applies a source with one object of each kind to a
// real Citus cluster and checks, kind by kind and name by name, that every
// object of the source is on the target or reported by plan with its
// reason; then that what was created works there, and that a rerun does
// nothing.
func TestInventoryOnCitus(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	src := pgtest.Pool(t, env.NewDB(t))
	createRoles(t, src, "inv_reader", "inv_auditor")
	pgtest.Exec(t, src, inventoryDDL)
	target := pgtest.Pool(t, env.NewCitusDB(t).Coordinator)
	createRoles(t, target, "inv_reader")

	p, err := plan.Build(ctx, src, plan.Config{TenantTable: "store"})
	require.NoError(t, err)
	require.NoError(t, ddl.CheckObjects(ctx, target, p))
	require.Empty(t, p.Blocking())
	require.NoError(t, ddl.Apply(ctx, target, p))

	source, got := inventoryOf(t, src), inventoryOf(t, target)
	var missing, reported []string
	for obj := range source {
		if got[obj] {
			continue
		}
		o := findObject(p, obj)
		if o == nil || o.Action != plan.ObjectReport || len(o.Problems) == 0 {
			missing = append(missing, obj)
			continue
		}
		reported = append(reported, obj+" ["+o.Problems[0].Code+"]")
	}
	sort.Strings(reported)
	require.Empty(t, missing, "on the source, not on the target, and not reported by plan")
	require.Equal(t, []string{
		"grant SELECT on table public.store to inv_auditor [role_missing]",
		"policy product_listed on public.product [policy_subquery]",
		"trigger country_touch on public.country [trigger_on_reference]",
		"trigger product_batch on public.product [trigger_per_shard]",
	}, reported)
	for obj := range got {
		if !source[obj] && findObject(p, obj) != nil {
			t.Errorf("%s is on the target but not on the source", obj)
		}
	}
	for _, note := range []struct{ kind, name, code string }{
		{plan.ObjTrigger, "product_touch on public.product", plan.CodeTriggerUnsafe},
		{plan.ObjMatView, "public.store_totals", plan.CodeMatViewLocal},
		{plan.ObjType, "public.floatrange", plan.CodeRangeLocal},
		{plan.ObjFunction, "public.in_range(public.floatrange,double precision)", plan.CodeLocalOnly},
		{plan.ObjPolicy, "product_tenant on public.product", plan.CodePolicySetting},
	} {
		o := p.Object(note.kind, note.name)
		require.NotNil(t, o, "%s %s", note.kind, note.name)
		require.Equal(t, plan.ObjectCreate, o.Action)
		require.Equal(t, note.code, o.Problems[0].Code)
	}

	var ran []ddl.Step
	require.NoError(t, ddl.Apply(ctx, target, p, ddl.WithProgress(func(s ddl.Step) { ran = append(ran, s) })))
	for _, s := range ran {
		require.Contains(t, []ddl.StepKind{ddl.StepSchema, ddl.StepSequence}, s.Kind, s.SQL)
	}

	checkObjectsWork(t, target)
}

// findObject finds plan's decision for "kind name".
func findObject(p *plan.Plan, obj string) *plan.Object {
	for _, o := range p.Objects {
		if o.Kind+" "+o.Name == obj {
			return o
		}
	}
	return nil
}

// checkObjectsWork uses on the target what plan created: the extension's
// default and the collation, the check's function, the row trigger on the
// distributed table, the procedure, the views, the refreshed materialized
// view, the policy for a role without bypass (its setting reaches the
// workers only with citus.propagate_set_commands, as plan's note on it
// says), and the propagation to the workers of what Citus propagates.
func checkObjectsWork(t *testing.T, target *pgxpool.Pool) {
	t.Helper()
	pgtest.Exec(t, target, `INSERT INTO store (id, name) VALUES (1, 'Alpha'), (2, 'beta');
		INSERT INTO product (id, store_id, price) VALUES (10, 1, 5), (11, 1, 500), (12, 2, 7);
		UPDATE product SET name = 'x' WHERE id = 10;
		CALL rename_store(2, 'BETA')`)
	require.Equal(t, 16, pgtest.Scalar[int](t, target, `SELECT length(token) FROM store WHERE id = 1`), "pgcrypto's gen_random_bytes in the default")
	require.Equal(t, 1, pgtest.Scalar[int](t, target, `SELECT count(*) FROM store WHERE name = 'alpha'`), "the case-insensitive collation")
	require.Equal(t, "2001-02-03", pgtest.Scalar[string](t, target, `SELECT updated_at::date::text FROM product WHERE id = 10`), "the trigger on the shard")
	require.Equal(t, "BETA", pgtest.Scalar[string](t, target, `SELECT name FROM store WHERE id = 2`))
	require.Equal(t, 1, pgtest.Scalar[int](t, target, `SELECT count(*) FROM expensive`))
	require.Equal(t, 2, pgtest.Scalar[int](t, target, `SELECT count(*) FROM cheap()`))
	require.Equal(t, 2, pgtest.Scalar[int](t, target, `SELECT store_products(1)`))
	_, err := target.Exec(context.Background(), `INSERT INTO product (id, store_id, price) VALUES (13, 1, -1)`)
	require.ErrorContains(t, err, "product_price_check")
	pgtest.Exec(t, target, `REFRESH MATERIALIZED VIEW store_totals`)
	require.Equal(t, 2, pgtest.Scalar[int](t, target, `SELECT n FROM store_totals WHERE store_id = 1`))

	var visible int
	require.NoError(t, pgx.BeginFunc(context.Background(), target, func(tx pgx.Tx) error {
		if _, err := tx.Exec(context.Background(), `SET LOCAL ROLE inv_reader; SET LOCAL citus.propagate_set_commands TO 'local'; SET LOCAL app.store = '2'`); err != nil {
			return err
		}
		return tx.QueryRow(context.Background(), `SELECT count(*) FROM product`).Scan(&visible)
	}))
	require.Equal(t, 1, visible, "the policy shows inv_reader store 2's one product")

	for _, q := range []string{
		`SELECT count(*) FROM pg_proc WHERE proname IN ('positive', 'touch', 'store_products', 'rename_store')`,
		`SELECT count(*) FROM pg_collation WHERE collname = 'ci'`,
		`SELECT count(*) FROM pg_extension WHERE extname = 'pgcrypto'`,
		`SELECT count(*) FROM pg_views WHERE viewname IN ('priced', 'expensive')`,
	} {
		res := pgtest.Scalar[string](t, target, `SELECT string_agg(DISTINCT result, ',') FROM run_command_on_workers($1)`, q)
		require.NotEqual(t, "0", res, "on the workers: %s", q)
		require.NotContains(t, res, "ERROR", q)
	}
}
