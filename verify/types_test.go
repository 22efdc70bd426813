package verify_test

import (
	"context"
	"fmt"
	"testing"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/require"

	"github.com/tenantmover/tenantmover/internal/db"
	"github.com/tenantmover/tenantmover/internal/pgtest"
	"github.com/tenantmover/tenantmover/verify"
)

// awkwardSchema has names that need quoting everywhere, a text tenant key
// whose values sort differently as text, bytes and numbers, and columns of
// types that hash by value, by text, or not at all, or whose hash is that
// of an OID that differs between the databases (enums, reg* types).
const awkwardSchema = `
CREATE SCHEMA "Sales Ops";
CREATE TYPE "Sales Ops".mood AS ENUM ('ok', 'meh');
CREATE TABLE "Sales Ops"."Tenant" ("Key" text PRIMARY KEY, "select" text);
CREATE TABLE "Sales Ops"."Line Item" (
	id int PRIMARY KEY,
	"Key" text NOT NULL REFERENCES "Sales Ops"."Tenant",
	amount numeric, price numeric(8,2), ratio float8, doc json, b jsonb, at timestamptz, d date,
	span interval, raw bytea, tags text[], pos point, m "Sales Ops".mood, moods "Sales Ops".mood[], cls regclass
);
INSERT INTO "Sales Ops"."Tenant" VALUES ('9', 'nine'), ('10', 'ten'), ('Zoë', 'z'), ('apple', 'a'), ('Apple', 'A'), ('東京', 't'), ('a b', 'space');
INSERT INTO "Sales Ops"."Line Item"
SELECT i, (ARRAY['9','10','Zoë','apple','Apple','東京','a b'])[1 + i % 7], i / 7.0, i * 1.25, i / 3.0,
	json_build_object('i', i), jsonb_build_object('i', i, 'x', 'ü'), timestamptz '2024-03-01 12:00:00+02' + i * interval '1 hour 1 second',
	date '2024-01-01' + i, i * interval '1 day 3 minutes', decode(md5(i::text), 'hex'), ARRAY['a' || i, NULL], point(i, -i),
	(ARRAY['ok', 'meh'])[1 + i % 2]::"Sales Ops".mood, ARRAY['meh', 'ok']::"Sales Ops".mood[], '"Sales Ops"."Tenant"'::regclass
FROM generate_series(1, 300) i;
`

func awkwardPair(t *testing.T) (src, dst *pgxpool.Pool, dstURL string) {
	t.Helper()
	srcURL := env.NewDB(t)
	dstURL = env.NewDB(t)
	// The two databases print values differently by default: verify must
	// not care.
	admin := open(t, env.Server().URL("postgres"))
	for url, settings := range map[string]string{srcURL: "TimeZone = 'Asia/Tokyo'", dstURL: "TimeZone = 'America/Los_Angeles'"} {
		cfg, err := pgxpool.ParseConfig(url)
		require.NoError(t, err)
		pgtest.Exec(t, admin, "ALTER DATABASE "+db.Ident(cfg.ConnConfig.Database)+" SET "+settings)
		pgtest.Exec(t, pgtest.Pool(t, url), awkwardSchema)
	}
	dst = pgtest.Pool(t, dstURL)
	pgtest.Exec(t, dst, `SET DateStyle = 'SQL, DMY'`)
	return pgtest.Pool(t, srcURL), dst, dstURL
}

func TestAwkwardNamesAndTypesMatch(t *testing.T) {
	t.Parallel()
	src, dst, url := awkwardPair(t)
	p := buildPlan(t, src, `"Sales Ops"."Tenant"`)
	res := run(t, src, dst, url, p, verify.Config{Checksum: true})
	require.True(t, res.Match, "%+v", res.Differences)
	require.Len(t, res.Overview.Tables, 2)
	require.Equal(t, int64(7), res.Overview.Tables[1].Tenants)
}

func TestChecksumSeesEveryKindOfChange(t *testing.T) {
	t.Parallel()
	changes := map[string]string{
		"numeric scale":   `amount = 1.10 WHERE id = 8`, // was 8/7.0; then compared with 1.1 below
		"json whitespace": `doc = '{"i":12}' WHERE id = 12`,
		"point":           `pos = point(13, 13) WHERE id = 13`,
		"interval":        `span = span + interval '1 microsecond' WHERE id = 14`,
		"array element":   `tags[2] = 'x' WHERE id = 15`,
		"timestamp":       `at = at + interval '1 microsecond' WHERE id = 16`,
	}
	for name, change := range changes {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			src, dst, url := awkwardPair(t)
			pgtest.Exec(t, src, `UPDATE "Sales Ops"."Line Item" SET amount = 1.1 WHERE id = 8`)
			pgtest.Exec(t, dst, `UPDATE "Sales Ops"."Line Item" SET amount = 1.1 WHERE id = 8`)
			var id int
			var tenant string
			require.NoError(t, dst.QueryRow(context.Background(), `UPDATE "Sales Ops"."Line Item" SET `+change+` RETURNING id, "Key"`).Scan(&id, &tenant))
			p := buildPlan(t, src, `"Sales Ops"."Tenant"`)
			res := run(t, src, dst, url, p, verify.Config{Checksum: true})
			require.Len(t, res.Differences, 1, "%+v", res.Differences)
			d := res.Differences[0]
			require.Equal(t, verify.KindChecksum, d.Kind)
			require.Equal(t, `"Sales Ops"."Line Item"`, d.Table)
			require.Equal(t, tenant, d.Tenant)
			require.Equal(t, []string{fmt.Sprint(id)}, d.Keys)
		})
	}
}
