package plan_test

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/jackc/pgerrcode"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/require"

	"github.com/tenantmover/tenantmover/internal/ddl"
	"github.com/tenantmover/tenantmover/internal/pgtest"
	"github.com/tenantmover/tenantmover/internal/plan"
	"github.com/tenantmover/tenantmover/internal/planview"
	"github.com/tenantmover/tenantmover/internal/schema"
)

// indexDDL has the unique indexes real application schemas have on
// distributed tables: partial (Rails' "unique among the rows not deleted"),
// on expressions (case-insensitive emails), with INCLUDE, NULLS NOT
// DISTINCT, operator classes and collations, mixed-case quoted names and a
// tenant column of another name, one that already has the tenant column,
// one on a nested table (which gets the tenant column), one on a
// partitioned table; a reference table's partial expression index that
// must stay as it is; and indexes on the tenant column that a key covers.
const indexDDL = `
CREATE TABLE store (id bigint PRIMARY KEY, name text);
CREATE TABLE account (id bigint PRIMARY KEY, store_id bigint NOT NULL REFERENCES store, email text, login text,
  "Handle" text, code text, plan text, kind int, slug text, deleted_at timestamptz);
CREATE UNIQUE INDEX account_active_email ON account (email) WHERE deleted_at IS NULL;
CREATE UNIQUE INDEX account_login ON account (lower(login) text_pattern_ops);
CREATE UNIQUE INDEX "Account Handle" ON account ("Handle" COLLATE "C" DESC) INCLUDE (plan) NULLS NOT DISTINCT
  WHERE code <> 'x)(';
CREATE UNIQUE INDEX account_kind ON account (kind) INCLUDE (store_id) WHERE kind > 0;
CREATE UNIQUE INDEX account_store_slug ON account (store_id, slug) WHERE deleted_at IS NULL;
CREATE INDEX account_store_id_idx ON account (store_id);
CREATE INDEX account_lower_email ON account (lower(email));
CREATE TABLE login (id bigint PRIMARY KEY, account_id bigint NOT NULL REFERENCES account, token text,
  revoked boolean NOT NULL DEFAULT false);
CREATE UNIQUE INDEX login_token ON login (token) WHERE NOT revoked;
CREATE SCHEMA "Sales Ops";
CREATE TABLE "Sales Ops"."Member" ("ID" bigint PRIMARY KEY, "Store" bigint NOT NULL REFERENCES store, "Email" text);
CREATE UNIQUE INDEX "Member Email" ON "Sales Ops"."Member" (lower("Email")) WHERE "Email" IS NOT NULL;
CREATE INDEX "Member Store" ON "Sales Ops"."Member" ("Store");
CREATE TABLE visit (id bigint NOT NULL, at date NOT NULL, store_id bigint NOT NULL REFERENCES store, ref text,
  PRIMARY KEY (id, at)) PARTITION BY RANGE (at);
CREATE TABLE visit_2025 PARTITION OF visit FOR VALUES FROM ('2025-01-01') TO ('2026-01-01');
CREATE UNIQUE INDEX visit_ref ON visit (ref, at) WHERE ref IS NOT NULL;
CREATE INDEX visit_store ON visit (store_id);
CREATE TABLE log (store_id bigint NOT NULL REFERENCES store, at timestamptz, msg text);
CREATE INDEX log_store ON log (store_id);
CREATE TABLE audit (store_id bigint NOT NULL REFERENCES store, at timestamptz, msg text);
CREATE INDEX audit_store ON audit (store_id);
CREATE INDEX audit_store_at ON audit (store_id, at);
CREATE INDEX audit_store_hash ON audit USING hash (store_id);
CREATE TABLE country (id int PRIMARY KEY, code text, active boolean);
CREATE UNIQUE INDEX country_code ON country (lower(code)) WHERE active;
CREATE INDEX country_active ON country (id) WHERE active;
`

// targetIndexes are the target's indexes on the tables of indexDDL, by
// name: pg_get_indexdef as the target prints it.
var targetIndexes = map[string]string{
	"account_active_email": "CREATE UNIQUE INDEX account_active_email ON public.account USING btree (store_id, email) WHERE (deleted_at IS NULL)",
	"account_login":        "CREATE UNIQUE INDEX account_login ON public.account USING btree (store_id, lower(login) text_pattern_ops)",
	"Account Handle":       `CREATE UNIQUE INDEX "Account Handle" ON public.account USING btree (store_id, "Handle" COLLATE "C" DESC) INCLUDE (plan) NULLS NOT DISTINCT WHERE (code <> 'x)('::text)`,
	"account_kind":         "CREATE UNIQUE INDEX account_kind ON public.account USING btree (store_id, kind) INCLUDE (store_id) WHERE (kind > 0)",
	"account_store_slug":   "CREATE UNIQUE INDEX account_store_slug ON public.account USING btree (store_id, slug) WHERE (deleted_at IS NULL)",
	"account_lower_email":  "CREATE INDEX account_lower_email ON public.account USING btree (lower(email))",
	"login_token":          "CREATE UNIQUE INDEX login_token ON public.login USING btree (store_id, token) WHERE (NOT revoked)",
	"Member Email":         `CREATE UNIQUE INDEX "Member Email" ON "Sales Ops"."Member" USING btree ("Store", lower("Email")) WHERE ("Email" IS NOT NULL)`,
	"visit_ref":            "CREATE UNIQUE INDEX visit_ref ON ONLY public.visit USING btree (store_id, ref, at) WHERE (ref IS NOT NULL)",
	"log_store":            "CREATE INDEX log_store ON public.log USING btree (store_id)",
	"audit_store_at":       "CREATE INDEX audit_store_at ON public.audit USING btree (store_id, at)",
	"audit_store_hash":     "CREATE INDEX audit_store_hash ON public.audit USING hash (store_id)",
	"country_code":         "CREATE UNIQUE INDEX country_code ON public.country USING btree (lower(code)) WHERE active",
	"country_active":       "CREATE INDEX country_active ON public.country USING btree (id) WHERE active",
}

func TestUniquePartialAndExpressionIndexes(t *testing.T) {
	t.Parallel()
	p := samplePlan(t, sourceDB(t, indexDDL), plan.Config{TenantTable: "store"})
	require.Empty(t, p.Blocking(), "partial and expression unique indexes get the tenant column, like other unique keys")

	keys := func(table schema.Name) map[string]plan.KeyDecision {
		out := map[string]plan.KeyDecision{}
		tb := p.Table(table)
		require.NotNil(t, tb, table.String())
		for _, d := range p.Keys(tb) {
			require.False(t, d.Impossible, d.Key.Name)
			out[d.Key.Name] = d
		}
		return out
	}
	account := keys(pub("account"))
	for _, n := range []string{"account_active_email", "account_login", "Account Handle", "account_kind"} {
		require.True(t, account[n].Changed, n)
		require.Equal(t, "store_id", account[n].Columns[0], n)
	}
	require.False(t, account["account_store_slug"].Changed, "it has the tenant column already")
	require.Equal(t, `"store_id", lower(login) text_pattern_ops`, account["account_login"].IndexElements(tbl(t, p, "account")))
	member := keys(schema.Name{Schema: "Sales Ops", Name: "Member"})
	require.Equal(t, []string{"Store"}, member["Member Email"].Columns)
	require.False(t, keys(pub("country"))["country_code"].Changed, "reference tables keep their indexes")

	// One decision line each, with what the target makes of it.
	var made []plan.Problem
	for _, tb := range p.Tables {
		for _, pr := range tb.Problems {
			require.NotEqual(t, plan.CodeUniqueWithoutTenant, pr.Code)
			if pr.Code == plan.CodeIndexMadeComposite {
				require.False(t, pr.Blocking)
				made = append(made, pr)
			}
		}
	}
	require.Len(t, made, 7, "4 on account, login, Member, visit")
	var handle plan.Problem
	for _, pr := range made {
		if strings.Contains(pr.Message, `"Account Handle"`) {
			handle = pr
		}
	}
	require.Contains(t, handle.Message, "has the WHERE clause (code <> 'x)('::text)")
	require.Contains(t, handle.Remedy, `UNIQUE ("store_id", "Handle" COLLATE "C" DESC) INCLUDE (plan) NULLS NOT DISTINCT WHERE (code <> 'x)('::text)`)

	require.Contains(t, goldenRenders(t, "indexes", p), "[unique_index_made_composite]")
}

// TestRedundantTenantIndex: an index on the tenant column alone is left out
// where a key or index of the target starts with the tenant column (a
// composite primary key does), and kept where none does.
func TestRedundantTenantIndex(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	p := build(t, indexDDL, plan.Config{TenantTable: "store"})
	covered := map[string]string{}
	for _, tb := range p.Tables {
		for _, d := range p.Indexes(tb) {
			covered[d.Index.Name] = d.CoveredBy
		}
	}
	require.Equal(t, map[string]string{
		"account_store_id_idx": "primary key account_pkey",
		"account_lower_email":  "",
		"Member Store":         `primary key "Member_pkey"`,
		"visit_store":          "primary key visit_pkey",
		"log_store":            "", // log has no key
		"audit_store":          "index audit_store_at",
		"audit_store_at":       "",
		"audit_store_hash":     "", // not a btree
		"country_active":       "",
	}, covered)
	require.Contains(t, codes(tbl(t, p, "account")), plan.CodeRedundantTenantIndex)
	require.NotContains(t, codes(tbl(t, p, "log")), plan.CodeRedundantTenantIndex)
	var text bytes.Buffer
	require.NoError(t, planview.RenderText(&text, p))
	require.Contains(t, text.String(), "The target schema leaves out 4 index(es) on the tenant column alone")

	target := pgtest.Pool(t, env.NewDB(t))
	require.NoError(t, ddl.Apply(ctx, target, p))
	got := indexDefs(t, target)
	for name, by := range covered {
		if by != "" {
			require.NotContains(t, got, name)
		} else {
			require.Contains(t, got, name)
		}
	}
}

// TestIndexesOnCitus applies indexDDL's plan on a real Citus cluster, as
// plan --apply does and as the printed script does through psql, then reads
// every index back and checks that each unique index holds per tenant: the
// same value in two tenants is accepted, twice in one tenant refused, rows
// outside a WHERE clause are free.
func TestIndexesOnCitus(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	p, err := plan.Build(ctx, sourceDB(t, indexDDL), plan.Config{TenantTable: "store"})
	require.NoError(t, err)
	require.Empty(t, p.Blocking())

	applied := pgtest.Pool(t, env.NewCitusDB(t).Coordinator)
	require.NoError(t, ddl.Apply(ctx, applied, p))
	checkCitusTables(t, applied, p)
	require.Equal(t, targetIndexes, indexDefs(t, applied))

	scriptDB := env.NewCitusDB(t).Coordinator
	var sql bytes.Buffer
	require.NoError(t, ddl.Script(&sql, p))
	psql(t, scriptDB, sql.String())
	require.Equal(t, targetIndexes, indexDefs(t, pgtest.Pool(t, scriptDB)))

	// The partitioned table's index reaches its partition.
	var valid bool
	var parts int
	require.NoError(t, applied.QueryRow(ctx, `SELECT i.indisvalid, (SELECT count(*) FROM pg_inherits WHERE inhparent = i.indexrelid)
		FROM pg_index i WHERE i.indexrelid = 'public.visit_ref'::regclass`).Scan(&valid, &parts))
	require.True(t, valid)
	require.Equal(t, 1, parts)

	for _, s := range []struct {
		sql string
		key string // the key a unique index refuses it on (the error's detail), "" when accepted
	}{
		{"INSERT INTO store VALUES (1, 'a'), (2, 'b')", ""},
		{"INSERT INTO account (id, store_id, email, login) VALUES (1, 1, 'a@x', 'Bob'), (2, 2, 'a@x', 'bob')", ""},
		{"INSERT INTO account (id, store_id, email) VALUES (3, 1, 'a@x')", "Key (store_id, email)=(1, a@x)"},
		{"INSERT INTO account (id, store_id, email, deleted_at) VALUES (4, 1, 'a@x', now())", ""},
		{"INSERT INTO account (id, store_id, login) VALUES (5, 1, 'BOB')", "Key (store_id, lower(login))=(1, bob)"},
		{"INSERT INTO account (id, store_id, code) VALUES (6, 1, 'k'), (7, 2, 'k')", ""},
		{"INSERT INTO account (id, store_id, code) VALUES (8, 1, 'k')", `Key (store_id, "Handle")=(1, null)`}, // NULLS NOT DISTINCT
		{"INSERT INTO account (id, store_id, code) VALUES (9, 1, 'x)('), (10, 1, 'x)(')", ""},
		{"INSERT INTO account (id, store_id, kind) VALUES (11, 1, 1), (12, 2, 1), (13, 1, 0), (14, 1, 0)", ""},
		{"INSERT INTO account (id, store_id, kind) VALUES (15, 1, 1)", "Key (store_id, kind)=(1, 1)"},
		{"INSERT INTO account (id, store_id, slug) VALUES (16, 1, 's'), (17, 2, 's')", ""},
		{"INSERT INTO account (id, store_id, slug) VALUES (18, 1, 's')", "Key (store_id, slug)=(1, s)"},
		{"INSERT INTO login (id, account_id, store_id, token) VALUES (1, 1, 1, 't'), (2, 2, 2, 't')", ""},
		{"INSERT INTO login (id, account_id, store_id, token) VALUES (3, 1, 1, 't')", "Key (store_id, token)=(1, t)"},
		{"INSERT INTO login (id, account_id, store_id, token, revoked) VALUES (4, 1, 1, 't', true)", ""},
		{`INSERT INTO "Sales Ops"."Member" VALUES (1, 1, 'X@y'), (2, 2, 'x@Y'), (3, 1, NULL), (4, 1, NULL)`, ""},
		{`INSERT INTO "Sales Ops"."Member" VALUES (5, 1, 'x@y')`, `Key ("Store", lower("Email"))=(1, x@y)`},
		{"INSERT INTO visit VALUES (1, '2025-03-01', 1, 'r'), (2, '2025-03-01', 2, 'r')", ""},
		{"INSERT INTO visit VALUES (3, '2025-03-01', 1, 'r')", "Key (store_id, ref, at)=(1, r, 2025-03-01)"},
		{"INSERT INTO country VALUES (1, 'DE', true), (2, 'de', false)", ""},
		{"INSERT INTO country VALUES (3, 'de', true)", "Key (lower(code))=(de)"}, // a reference table: unique across tenants
	} {
		_, err := applied.Exec(ctx, s.sql)
		if s.key == "" {
			require.NoError(t, err, s.sql)
			continue
		}
		var pgErr *pgconn.PgError
		require.True(t, errors.As(err, &pgErr), "%s: want a unique violation on %s, got %v", s.sql, s.key, err)
		require.Equal(t, pgerrcode.UniqueViolation, pgErr.Code, "%s: %s", s.sql, pgErr.Message)
		require.Contains(t, pgErr.Detail, s.key+" already exists", s.sql)
	}
}

// indexDefs reads the indexes that back no constraint, by name.
func indexDefs(t *testing.T, pool *pgxpool.Pool) map[string]string {
	t.Helper()
	rows, err := pool.Query(context.Background(), `
		SELECT c.relname, pg_get_indexdef(i.indexrelid)
		FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid JOIN pg_namespace n ON n.oid = c.relnamespace
		WHERE n.nspname IN ('public', 'Sales Ops') AND NOT i.indrelid IN (SELECT inhrelid FROM pg_inherits)
		  AND NOT EXISTS (SELECT 1 FROM pg_constraint con WHERE con.conindid = i.indexrelid)`)
	require.NoError(t, err)
	out := map[string]string{}
	for rows.Next() {
		var name, def string
		require.NoError(t, rows.Scan(&name, &def))
		out[name] = def
	}
	require.NoError(t, rows.Err())
	return out
}
