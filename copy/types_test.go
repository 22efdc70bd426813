package pgcopy_test

import (
	"context"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	pgcopy "github.com/tenantmover/tenantmover/copy"
	"github.com/tenantmover/tenantmover/internal/pgtest"
)

// oddTypes and oddTables have what a copy must not mangle: names needing
// quotes, uuid, text, composite and timestamptz keys (with values needing
// quotes and escaping as literals), NULLs, bytea, jsonb, arrays (with NULL
// elements), numeric (NaN, 39 digits), timestamptz (infinities,
// microseconds), an enum and an array of it (whose binary form carries the
// element type's OID, different in the two databases), a generated column.
const oddTypes = `
CREATE TYPE mood AS ENUM ('sad', 'ok', 'happy');
CREATE SCHEMA "Sales Ops";
CREATE TABLE "Sales Ops"."Tenant" ("Tenant ID" uuid PRIMARY KEY, "select" text, created timestamptz);
`

const oddTables = `
CREATE TABLE "Sales Ops"."Line ""Items""" (
    code text NOT NULL,
    n int NOT NULL,
    "Tenant ID" uuid NOT NULL REFERENCES "Sales Ops"."Tenant",
    data bytea,
    doc jsonb,
    tags text[],
    nums int[],
    amount numeric,
    at timestamptz,
    feeling mood,
    feelings mood[],
    total numeric GENERATED ALWAYS AS (amount * 2) STORED,
    PRIMARY KEY (code, n)
);
CREATE TABLE "Sales Ops".tag (name text PRIMARY KEY, "Tenant ID" uuid REFERENCES "Sales Ops"."Tenant", note text);
CREATE TABLE "Sales Ops".event (at timestamptz, seq int, what text, PRIMARY KEY (at, seq));
`

// The same tables on the target with the columns in another order.
const oddTablesReordered = `
CREATE TABLE "Sales Ops"."Line ""Items""" (
    "Tenant ID" uuid NOT NULL REFERENCES "Sales Ops"."Tenant",
    feelings mood[],
    total numeric GENERATED ALWAYS AS (amount * 2) STORED,
    amount numeric,
    n int NOT NULL,
    code text NOT NULL,
    data bytea, doc jsonb, tags text[], nums int[], at timestamptz, feeling mood,
    PRIMARY KEY (code, n)
);
CREATE TABLE "Sales Ops".tag (note text, name text PRIMARY KEY, "Tenant ID" uuid REFERENCES "Sales Ops"."Tenant");
CREATE TABLE "Sales Ops".event (what text, at timestamptz, seq int, PRIMARY KEY (at, seq));
`

const oddRows = `
INSERT INTO "Sales Ops"."Tenant" VALUES
  ('00000000-0000-0000-0000-000000000001', 'first''s', '2024-01-01 00:00:00.123456+00'),
  ('ffffffff-ffff-ffff-ffff-ffffffffffff', NULL, NULL),
  ('7c9e6679-7425-40de-944b-e07fc1f90ae7', 'ünïcode "quoted"', 'infinity');
INSERT INTO "Sales Ops"."Line ""Items""" (code, n, "Tenant ID", data, doc, tags, nums, amount, at, feeling, feelings)
SELECT c, i, (ARRAY['00000000-0000-0000-0000-000000000001', 'ffffffff-ffff-ffff-ffff-ffffffffffff', '7c9e6679-7425-40de-944b-e07fc1f90ae7']::uuid[])[1 + i % 3],
       CASE WHEN i % 5 = 0 THEN NULL ELSE decode(md5(c || i), 'hex') || '\x00ff'::bytea END,
       CASE WHEN i % 4 = 0 THEN NULL ELSE jsonb_build_object('c', c, 'i', i, 'nested', jsonb_build_array(1, 'two', NULL)) END,
       ARRAY[c, NULL, 'x,y', '{}', '"q"'],
       CASE WHEN i % 3 = 0 THEN NULL ELSE ARRAY[i, NULL, -i] END,
       CASE WHEN i % 7 = 0 THEN 'NaN'::numeric ELSE 12345678901234567890.123456789 / i END,
       CASE WHEN i % 6 = 0 THEN '-infinity' ELSE timestamptz '2023-03-26 01:30:00.000001+00' + i * interval '37 minutes 1.5 seconds' END,
       (ARRAY['sad', 'ok', 'happy', NULL]::mood[])[1 + i % 4],
       ARRAY['happy', NULL, 'sad']::mood[]
FROM unnest(ARRAY['plain', 'it''s', 'a"b', 'back\slash', 'tab	tab', 'Ünï', '', ' lead', 'z', 'NULL', '\N']) c,
     generate_series(1, 9) i;
INSERT INTO "Sales Ops".tag SELECT 'tag ' || i || E' \'' || repeat('é', i % 4), '00000000-0000-0000-0000-000000000001', CASE WHEN i % 2 = 0 THEN NULL ELSE 'n' END
FROM generate_series(1, 40) i;
INSERT INTO "Sales Ops".event SELECT timestamptz '2024-06-30 23:59:59.999999+02' + (i % 10) * interval '1 hour 0.000001 second', i, 'e' || i
FROM generate_series(1, 60) i;
ANALYZE;
`

var oddKinds = kinds{
	`"Sales Ops"."Tenant"`:         "root",
	`"Sales Ops"."Line ""Items"""`: `direct:Tenant ID`,
	`"Sales Ops".tag`:              `direct:Tenant ID`,
	`"Sales Ops".event`:            "reference",
}

func TestOddNamesKeysAndTypesSurvive(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	srcURL, dstURL := env.NewDB(t), env.NewDB(t)
	src, dst := pgtest.Pool(t, srcURL), pgtest.Pool(t, dstURL)
	pgtest.Exec(t, src, oddTypes+oddTables+oddRows)
	pgtest.Exec(t, dst, oddTypes+oddTablesReordered)
	p := handPlan(t, src, oddKinds)
	require.Len(t, p.OfKind("root", "direct", "reference"), 4)

	rep, err := copyRun(ctx, srcURL, dstURL, p, pgcopy.Config{ChunkRows: 7, Workers: 3}, nil)
	require.NoError(t, err)
	requireSame(t, src, dst, p)
	items := tableReport(t, rep, `"Sales Ops"."Line ""Items"""`)
	require.EqualValues(t, 99, items.Rows)
	require.Greater(t, items.Chunks, 10, "the composite text key was split")
	require.Greater(t, tableReport(t, rep, `"Sales Ops".event`).Chunks, 5, "the timestamptz key was split")
	require.Greater(t, tableReport(t, rep, `"Sales Ops".tag`).Chunks, 4, "the text key was split")
	// The generated column is computed by the target, not copied.
	require.EqualValues(t, 0, pgtest.Scalar[int64](t, dst, `SELECT count(*) FROM "Sales Ops"."Line ""Items""" WHERE total IS DISTINCT FROM amount * 2`))
}

// A target missing a table, missing a column or with a column of another
// type is refused with every problem listed, before anything is written.
func TestSchemaMismatchRefusedBeforeCopying(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	srcURL, dstURL := env.NewDB(t), env.NewDB(t)
	src, dst := pgtest.Pool(t, srcURL), pgtest.Pool(t, dstURL)
	pgtest.Exec(t, src, oddTypes+oddTables+oddRows)
	pgtest.Exec(t, dst, oddTypes+oddTablesReordered+`
		ALTER TABLE "Sales Ops"."Line ""Items""" DROP COLUMN doc, ALTER COLUMN nums TYPE bigint[];
		DROP TABLE "Sales Ops".event`)
	p := handPlan(t, src, oddKinds)

	_, err := copyRun(ctx, srcURL, dstURL, p, pgcopy.Config{}, nil)
	var mm *pgcopy.ErrSchemaMismatch
	require.ErrorAs(t, err, &mm)
	require.Equal(t, []string{`"Sales Ops".event`}, mm.MissingTables)
	require.Len(t, mm.Columns, 2)
	msg := err.Error()
	for _, want := range []string{"tenantmover plan --apply", `"Sales Ops"."Line ""Items""".doc: missing on the target`, "nums: type bigint[] on the target, integer[] on the source"} {
		require.Contains(t, msg, want)
	}
	require.False(t, hasSchema(t, dst, "tenantmover"), "nothing written, not even checkpoints")
	require.EqualValues(t, 0, pgtest.Scalar[int64](t, dst, `SELECT count(*) FROM "Sales Ops"."Tenant"`))
}

// Nested tables without their tenant column mean backfill has not run.
func TestNestedWithoutTenantColumnNeedsBackfill(t *testing.T) {
	t.Parallel()
	srcURL, dstURL := env.NewDB(t), env.NewDB(t)
	src := pgtest.Pool(t, srcURL)
	pgtest.Exec(t, src, `CREATE TABLE store (id bigint PRIMARY KEY); CREATE TABLE product (id bigint PRIMARY KEY, store_id bigint REFERENCES store);
		CREATE TABLE purchase (id bigint PRIMARY KEY, product_id bigint REFERENCES product)`)
	p := handPlan(t, src, kinds{"public.store": "root", "public.product": "direct:store_id", "public.purchase": "nested:store_id"})
	_, err := copyRun(context.Background(), srcURL, dstURL, p, pgcopy.Config{}, nil)
	var nb *pgcopy.ErrNotBackfilled
	require.ErrorAs(t, err, &nb)
	require.Equal(t, []string{"public.purchase"}, nb.Tables)
	require.True(t, strings.Contains(err.Error(), "run tenantmover backfill first"), err.Error())
}
