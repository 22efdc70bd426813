package main

import (
	"context"
	"encoding/json"
	"testing"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/require"

	"github.com/tenantmover/tenantmover/internal/pgtest"
	"github.com/tenantmover/tenantmover/internal/sample"
)

// planJSON is the JSON contract of tenantmover plan that scripts rely on.
type planJSON struct {
	TenantTable string `json:"tenant_table"`
	Tables      []struct {
		Name         string `json:"name"`
		Kind         string `json:"kind"`
		TenantColumn string `json:"tenant_column"`
		Path         []struct {
			From string `json:"from"`
			To   string `json:"to"`
		} `json:"path"`
		Rows     int64 `json:"rows"`
		Problems []struct {
			Code     string `json:"code"`
			Message  string `json:"message"`
			Remedy   string `json:"remedy"`
			Blocking bool   `json:"blocking"`
		} `json:"problems"`
	} `json:"tables"`
}

func monolithDB(t *testing.T) string {
	t.Helper()
	ctx := context.Background()
	url := env.NewDB(t)
	pool, err := pgxpool.New(ctx, url)
	require.NoError(t, err)
	defer pool.Close()
	require.NoError(t, sample.Generate(ctx, pool, sample.Params{Stores: 3, Products: 10, Purchases: 20, Refunds: 5,
		Companies: 2, Users: 4, CampaignsPerCompany: 1, MembershipsPerCompany: 2, Skew: 1, Seed: 0.5}))
	return url
}

func TestPlanCommandFormats(t *testing.T) {
	t.Parallel()
	src := monolithDB(t)

	code, stdout, stderr := runCLI(t, "plan", "--source", src, "--tenant-table", "store", "--format", "json")
	require.Equal(t, 0, code, stderr)
	var doc planJSON
	require.NoError(t, json.Unmarshal([]byte(stdout), &doc))
	require.Equal(t, "public.store", doc.TenantTable)
	kinds := map[string]string{}
	for _, tb := range doc.Tables {
		kinds[tb.Name] = tb.Kind
	}
	require.Equal(t, map[string]string{
		"public.store": "root", "public.product": "direct", "public.purchase": "nested", "public.refund": "nested",
		"public.auth_user": "reference", "public.company": "reference", "public.campaign": "reference", "public.company_users": "reference",
	}, kinds)

	code, stdout, stderr = runCLI(t, "plan", "--source", src, "--tenant-table", "store")
	require.Equal(t, 0, code, stderr)
	require.Empty(t, stdout)
	require.Contains(t, stderr, "public.refund -> public.purchase -> public.product -> public.store")

	code, stdout, _ = runCLI(t, "plan", "--source", src, "--tenant-table", "company", "--format", "sql")
	require.Equal(t, 0, code)
	require.Contains(t, stdout, `SELECT create_distributed_table('"public"."campaign"', 'company_id', colocate_with => '"public"."company"');`)
	require.Contains(t, stdout, `SELECT create_reference_table('"public"."auth_user"');`)

	code, _, stderr = runCLI(t, "plan", "--source", src, "--tenant-table", "nope")
	require.Equal(t, 1, code)
	require.Contains(t, stderr, "table nope not found")
	code, _, _ = runCLI(t, "plan", "--source", src)
	require.Equal(t, 1, code)
	code, _, _ = runCLI(t, "plan", "--source", src, "--tenant-table", "store", "--format", "yaml")
	require.Equal(t, 1, code)
}

func TestPlanCommandBlockingExits2(t *testing.T) {
	t.Parallel()
	src := monolithDB(t)
	code, stdout, stderr := runCLI(t, "plan", "--source", src, "--tenant-table", "company",
		"--reference", "company_users", "--format", "json", "--apply", "--target", env.NewDB(t))
	require.Equal(t, 2, code, stderr)
	var doc planJSON
	require.NoError(t, json.Unmarshal([]byte(stdout), &doc))
	var got []string
	for _, tb := range doc.Tables {
		for _, p := range tb.Problems {
			if p.Blocking {
				got = append(got, tb.Name+":"+p.Code)
			}
		}
	}
	require.ElementsMatch(t, []string{"public.company_users:reference_to_distributed", "public.company_users:many_to_many_not_distributed"}, got)
	require.Contains(t, stderr, "BLOCKING public.company_users [reference_to_distributed]")
	require.Contains(t, stderr, "nothing was applied")
}

func TestPlanCommandApplyPlainTarget(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	src, dst := monolithDB(t), env.NewDB(t)
	code, _, stderr := runCLI(t, "plan", "--source", src, "--tenant-table", "store", "--apply", "--target", dst)
	require.Equal(t, 0, code, stderr)
	require.Contains(t, stderr, "target schema applied")
	pool := pgtest.Pool(t, dst)
	var cols []string
	require.NoError(t, pool.QueryRow(ctx, `SELECT array_agg(attname::text ORDER BY attnum) FROM pg_attribute
		WHERE attrelid = 'refund'::regclass AND attnum > 0 AND NOT attisdropped`).Scan(&cols))
	require.Contains(t, cols, "store_id")

	code, _, stderr = runCLI(t, "plan", "--source", src, "--tenant-table", "store", "--apply", "--target", dst)
	require.Equal(t, 0, code, stderr)
	require.Contains(t, stderr, "nothing to do")

	code, _, stderr = runCLI(t, "plan", "--source", src, "--tenant-table", "store", "--apply", "--target", src)
	require.Equal(t, 1, code)
	require.Contains(t, stderr, "already hold rows")
}

// TestPlanCommandApplyCitus: plan --apply builds the sample monolith's
// schema on a real Citus cluster, every table distributed or reference.
func TestPlanCommandApplyCitus(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	src := monolithDB(t)
	dst := env.NewCitusDB(t).Coordinator
	code, _, stderr := runCLI(t, "plan", "--source", src, "--tenant-table", "store", "--apply", "--target", dst, "--no-progress")
	require.Equal(t, 0, code, stderr)
	require.Contains(t, stderr, "4 distributed, 4 reference")
	pool := pgtest.Pool(t, dst)
	var distributed, reference int
	require.NoError(t, pool.QueryRow(ctx, `SELECT count(*) FILTER (WHERE citus_table_type = 'distributed'),
		count(*) FILTER (WHERE citus_table_type = 'reference') FROM citus_tables`).Scan(&distributed, &reference))
	require.Equal(t, 4, distributed)
	require.Equal(t, 4, reference)
}

// TestPlanCommandInventoryCitus: plan --format json lists every schema
// object with its kind and what happens to it, plan --apply creates what
// the target can take on a real Citus cluster and says how many are not
// created, the text output gives each one's reason, and a rerun does
// nothing.
func TestPlanCommandInventoryCitus(t *testing.T) {
	t.Parallel()
	srcURL := env.NewDB(t)
	src := pgtest.Pool(t, srcURL)
	pgtest.Exec(t, src, `DO $$BEGIN CREATE ROLE cli_inv_clerk; EXCEPTION WHEN duplicate_object THEN NULL; END$$`)
	pgtest.Exec(t, src, `CREATE EXTENSION citext;
CREATE TABLE store (id bigint PRIMARY KEY, email citext);
CREATE TABLE product (id bigint PRIMARY KEY, store_id bigint NOT NULL REFERENCES store, price int, touched int);
CREATE FUNCTION touch() RETURNS trigger LANGUAGE plpgsql AS $$BEGIN NEW.touched := 1; RETURN NEW; END$$;
CREATE TRIGGER product_touch BEFORE INSERT ON product FOR EACH ROW EXECUTE FUNCTION touch();
CREATE TRIGGER product_stmt AFTER INSERT ON product FOR EACH STATEMENT EXECUTE FUNCTION touch();
CREATE VIEW cheap AS SELECT * FROM product WHERE price < 10;
CREATE MATERIALIZED VIEW counts AS SELECT store_id, count(*) FROM product GROUP BY 1;
COMMENT ON VIEW cheap IS 'under 10';
GRANT SELECT ON cheap TO cli_inv_clerk;`)
	dst := env.NewCitusDB(t).Coordinator

	code, stdout, stderr := runCLI(t, "plan", "--source", srcURL, "--tenant-table", "store", "--format", "json",
		"--apply", "--target", dst, "--no-progress")
	require.Equal(t, 0, code, stderr)
	var doc struct {
		Objects []struct {
			Kind, Name, Action string
			Problems           []struct{ Code string }
		} `json:"objects"`
	}
	require.NoError(t, json.Unmarshal([]byte(stdout), &doc))
	got := map[string]string{}
	for _, o := range doc.Objects {
		got[o.Kind+" "+o.Name] = o.Action
		if len(o.Problems) > 0 {
			got[o.Kind+" "+o.Name] += " " + o.Problems[0].Code
		}
	}
	require.Equal(t, map[string]string{
		"extension citext": "create", "extension plpgsql": "create", "schema public": "create",
		"table public.store": "create", "table public.product": "create", "function public.touch()": "create",
		"trigger product_touch on public.product": "create trigger_unsafe",
		"trigger product_stmt on public.product":  "report trigger_per_shard",
		"view public.cheap":                       "create", "materialized view public.counts": "create materialized_view_local",
		"comment view public.cheap":                          "create",
		"grant SELECT on view public.cheap to cli_inv_clerk": "report role_missing",
	}, got)
	require.Contains(t, stderr, "2 schema object(s) of the source are not on the target")
	require.Contains(t, stderr, "1 trigger, row-level security and policy statement(s) wait for the data")

	// The trigger waits for the data: a row written now is not touched.
	pool := pgtest.Pool(t, dst)
	pgtest.Exec(t, pool, `INSERT INTO store VALUES (1, 'A@x'); INSERT INTO product (id, store_id, price) VALUES (1, 1, 5)`)
	require.Equal(t, 0, pgtest.Scalar[int](t, pool, `SELECT count(touched)::int FROM cheap WHERE id = 1`))
	require.Equal(t, "under 10", pgtest.Scalar[string](t, pool, `SELECT obj_description('cheap'::regclass)`))
	pgtest.Exec(t, pool, `DELETE FROM product; DELETE FROM store`)

	// copy creates it once the data is in.
	code, _, stderr = runCLI(t, "copy", "--source", srcURL, "--target", dst, "--tenant-table", "store", "--no-progress")
	require.Equal(t, 0, code, stderr)
	require.Contains(t, stderr, "after the data: ")
	pgtest.Exec(t, pool, `INSERT INTO store VALUES (1, 'A@x'); INSERT INTO product (id, store_id, price) VALUES (1, 1, 5)`)
	require.Equal(t, 1, pgtest.Scalar[int](t, pool, `SELECT touched FROM cheap WHERE id = 1`))
	pgtest.Exec(t, pool, `DELETE FROM product; DELETE FROM store`)

	code, _, stderr = runCLI(t, "plan", "--source", srcURL, "--tenant-table", "store", "--apply", "--target", dst, "--no-progress")
	require.Equal(t, 0, code, stderr)
	require.Contains(t, stderr, "not created trigger product_stmt on public.product [trigger_per_shard]")
	require.Contains(t, stderr, "names role cli_inv_clerk, which the target does not have")
	require.Contains(t, stderr, "nothing to do")
}
