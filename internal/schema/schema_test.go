package schema_test

import (
	"context"
	"fmt"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/require"

	"github.com/tenantmover/tenantmover/internal/pgtest"
	"github.com/tenantmover/tenantmover/internal/schema"
)

var env pgtest.Env

func TestMain(m *testing.M) { env.Main(m) }

func load(t *testing.T, ddl string, schemas ...string) *schema.Catalog {
	t.Helper()
	pool := pgtest.Pool(t, env.NewDB(t))
	pgtest.Exec(t, pool, ddl)
	cat, err := schema.Load(context.Background(), pool, schemas)
	require.NoError(t, err)
	return cat
}

func name(s string) schema.Name { return schema.Name{Schema: "public", Name: s} }

func names(ts []*schema.Table) []string {
	var out []string
	for _, t := range ts {
		out = append(out, t.Name.String())
	}
	return out
}

const storeDDL = `
CREATE TABLE store (id bigserial PRIMARY KEY, name text NOT NULL, url text, created_at timestamptz DEFAULT now());
CREATE TABLE product (id bigserial PRIMARY KEY, store_id bigint NOT NULL REFERENCES store ON DELETE CASCADE,
  name text, price numeric(10,2) CHECK (price > 0), attrs jsonb, UNIQUE (store_id, name));
CREATE INDEX product_name_idx ON product (lower(name));
CREATE UNIQUE INDEX product_attrs_key ON product ((attrs->>'sku')) WHERE attrs IS NOT NULL;
CREATE TABLE purchase (id bigserial PRIMARY KEY, product_id bigint NOT NULL REFERENCES product, amount numeric(12,2));
CREATE TABLE refund (id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  purchase_id bigint NOT NULL REFERENCES purchase DEFERRABLE INITIALLY DEFERRED,
  amount numeric(12,2), doubled numeric GENERATED ALWAYS AS (amount * 2) STORED);
INSERT INTO store (name) SELECT 's' || g FROM generate_series(1, 50) g;
ANALYZE store;
`

func TestLoadReadsEveryField(t *testing.T) {
	t.Parallel()
	cat := load(t, storeDDL)
	require.Equal(t, []string{"public.product", "public.purchase", "public.refund", "public.store"}, names(cat.Tables))
	require.Equal(t, []string{"public"}, cat.SearchPath)

	store := cat.Table(name("store"))
	require.EqualValues(t, 50, store.EstimatedRows)
	require.Positive(t, store.Bytes)
	require.Equal(t, "d", store.ReplicaIdentity)
	id := store.Column("id")
	require.Equal(t, "bigint", id.Type)
	require.True(t, id.NotNull)
	require.Equal(t, "nextval('public.store_id_seq'::regclass)", id.Default)
	seq := cat.Sequence(schema.Name{Schema: "public", Name: "store_id_seq"})
	require.Equal(t, &schema.Sequence{Name: schema.Name{Schema: "public", Name: "store_id_seq"}, Type: "bigint", Start: 1, Increment: 1,
		Min: 1, Max: 9223372036854775807, Cache: 1, OwnedBy: &schema.Name{Schema: "public", Name: "store"}, OwnedCol: "id"}, seq)
	require.True(t, cat.Sequence(schema.Name{Schema: "public", Name: "refund_id_seq"}).Identity)
	require.Equal(t, &schema.Name{Schema: "public", Name: "store_id_seq"}, id.Sequence)
	require.Equal(t, "now()", store.Column("created_at").Default)
	require.Equal(t, &schema.Key{Name: "store_pkey", Columns: []string{"id"}, IsConstraint: true, Definition: "PRIMARY KEY (id)", PlainColumns: []string{"id"}}, store.PrimaryKey)

	product := cat.Table(name("product"))
	require.Equal(t, "numeric(10,2)", product.Column("price").Type)
	require.Len(t, product.ForeignKeys, 1)
	fk := product.ForeignKeys[0]
	require.Equal(t, schema.ForeignKey{Name: "product_store_id_fkey", Table: name("product"), Columns: []string{"store_id"},
		RefTable: name("store"), RefColumns: []string{"id"}, OnDelete: "CASCADE", OnUpdate: "NO ACTION", Validated: true}, fk)
	require.Equal(t, []schema.Check{{Name: "product_price_check", Definition: "CHECK ((price > (0)::numeric))"}}, product.Checks)
	require.Len(t, product.Uniques, 2)
	require.Equal(t, schema.Key{Name: "product_store_id_name_key", Columns: []string{"store_id", "name"}, IsConstraint: true, Definition: "UNIQUE (store_id, name)", PlainColumns: []string{"store_id", "name"}}, product.Uniques[0])
	expr := product.Uniques[1]
	require.Equal(t, "product_attrs_key", expr.Name)
	require.True(t, expr.Expression)
	require.Empty(t, expr.Columns)
	require.Equal(t, "(attrs IS NOT NULL)", expr.Predicate)
	require.Len(t, product.Indexes, 1)
	require.Equal(t, "product_name_idx", product.Indexes[0].Name)
	require.Contains(t, product.Indexes[0].Definition, "lower(name)")

	refund := cat.Table(name("refund"))
	require.Equal(t, "a", refund.Column("id").Identity)
	require.Equal(t, &schema.Name{Schema: "public", Name: "refund_id_seq"}, refund.Column("id").Sequence)
	require.Equal(t, "s", refund.Column("doubled").Generated)
	require.Equal(t, "(amount * (2)::numeric)", refund.Column("doubled").Default)
	require.Equal(t, []string{"id", "purchase_id", "amount"}, refund.ColumnNames())
	require.True(t, refund.ForeignKeys[0].Deferrable)
	require.True(t, refund.ForeignKeys[0].InitiallyDeferred)

	order, cycles := cat.Order()
	require.Empty(t, cycles)
	require.Equal(t, []string{"public.store", "public.product", "public.purchase", "public.refund"}, names(order))
}

func TestLoadSchemasPartitionsAndOddNames(t *testing.T) {
	t.Parallel()
	cat := load(t, `
CREATE SCHEMA "Sales Ops";
CREATE TYPE "Sales Ops"."Mood" AS ENUM ('ok', 'not ''ok''');
CREATE DOMAIN public.posint AS int NOT NULL DEFAULT 1 CHECK (VALUE > 0);
CREATE TABLE public.d (id int PRIMARY KEY, p posint, moods "Sales Ops"."Mood"[]);
CREATE TABLE "Sales Ops"."Tenant" ("Tenant ID" uuid PRIMARY KEY, "select" text, "naïve" int, m "Sales Ops"."Mood");
CREATE TABLE "Sales Ops"."Order ""x""" ("Tenant ID" uuid NOT NULL REFERENCES "Sales Ops"."Tenant", n int);
CREATE TABLE public.event (id bigint, at date NOT NULL, PRIMARY KEY (id, at)) PARTITION BY RANGE (at);
CREATE TABLE public.event_2024 PARTITION OF public.event FOR VALUES FROM ('2024-01-01') TO ('2025-01-01');
CREATE TABLE public.event_2025 PARTITION OF public.event FOR VALUES FROM ('2025-01-01') TO ('2026-01-01');
CREATE SCHEMA tenantmover; CREATE TABLE tenantmover.run (id int);
`)
	require.Equal(t, []string{`"Sales Ops"."Order ""x"""`, `"Sales Ops"."Tenant"`, "public.d", "public.event"}, names(cat.Tables))
	require.Equal(t, []*schema.Type{
		{Name: schema.Name{Schema: "Sales Ops", Name: "Mood"}, Identity: `"Sales Ops"."Mood"`, Kind: "enum", Labels: []string{"ok", "not 'ok'"}, Checks: []string{}},
		{Name: name("posint"), Identity: "public.posint", Kind: "domain", Labels: []string{}, BaseType: "integer", NotNull: true, Default: "1", Checks: []string{"CHECK ((VALUE > 0))"}},
	}, cat.Types)
	event := cat.Table(name("event"))
	require.True(t, event.Partitioned)
	require.Equal(t, "RANGE (at)", event.PartitionKey)
	require.Equal(t, []schema.Partition{
		{Name: name("event_2024"), Bound: "FOR VALUES FROM ('2024-01-01') TO ('2025-01-01')"},
		{Name: name("event_2025"), Bound: "FOR VALUES FROM ('2025-01-01') TO ('2026-01-01')"},
	}, event.Partitions)
	tenant := cat.Table(schema.Name{Schema: "Sales Ops", Name: "Tenant"})
	require.Equal(t, []string{"Tenant ID", "select", "naïve"}, []string{tenant.Columns[0].Name, tenant.Columns[1].Name, tenant.Columns[2].Name})
	require.Equal(t, "uuid", tenant.Columns[0].Type)
	require.Equal(t, `"Sales Ops"."Mood"`, tenant.Columns[3].Type, "user types come out schema-qualified")

	got, err := cat.Resolve(`"Sales Ops"."Tenant"`)
	require.NoError(t, err)
	require.Same(t, tenant, got)
	_, err = cat.Resolve(`"Sales Ops".tenant`)
	var nf *schema.NotFoundError
	require.ErrorAs(t, err, &nf)
	require.Equal(t, []schema.Name{tenant.Name}, nf.Candidates)
	got, err = cat.Resolve("EVENT")
	require.NoError(t, err)
	require.Equal(t, "event", got.Name.Name)

	only := load(t, `CREATE SCHEMA a; CREATE TABLE a.t (id int); CREATE TABLE public.u (id int);`, "a")
	require.Equal(t, []string{"a.t"}, names(only.Tables))
}

func TestOrderBreaksCyclesAtNullableKeys(t *testing.T) {
	t.Parallel()
	cat := load(t, `
CREATE TABLE task (id int PRIMARY KEY, parent_id int REFERENCES task);
CREATE TABLE author (id int PRIMARY KEY, best_book_id int);
CREATE TABLE book (id int PRIMARY KEY, author_id int NOT NULL REFERENCES author);
ALTER TABLE author ADD FOREIGN KEY (best_book_id) REFERENCES book;
CREATE TABLE x (id int PRIMARY KEY, y_id int NOT NULL);
CREATE TABLE y (id int PRIMARY KEY, x_id int NOT NULL REFERENCES x);
ALTER TABLE x ADD FOREIGN KEY (y_id) REFERENCES y;
CREATE TABLE z (id int PRIMARY KEY, x_id int NOT NULL REFERENCES x, book_id int NOT NULL REFERENCES book);
`)
	order, cycles := cat.Order()
	pos := map[string]int{}
	for i, n := range names(order) {
		pos[n] = i
	}
	require.Len(t, order, 6)
	require.Less(t, pos["public.author"], pos["public.book"], "the nullable best_book_id is the key set aside")
	require.Less(t, pos["public.book"], pos["public.z"])
	require.Less(t, pos["public.x"], pos["public.z"])

	require.Len(t, cycles, 3)
	require.Equal(t, []schema.Name{name("author"), name("book")}, cycles[0].Tables)
	require.True(t, cycles[0].Breakable)
	require.Len(t, cycles[0].Broken, 1)
	require.Equal(t, "author_best_book_id_fkey", cycles[0].Broken[0].Name)

	require.Equal(t, []schema.Name{name("task")}, cycles[1].Tables)
	require.True(t, cycles[1].Breakable)

	require.Equal(t, []schema.Name{name("x"), name("y")}, cycles[2].Tables)
	require.False(t, cycles[2].Breakable)
}

// TestLoadIsAFewQueries pins the promise that introspection does not run
// per-table queries: 300 tables load with the same statements as 3.
func TestLoadIsAFewQueries(t *testing.T) {
	t.Parallel()
	var ddl strings.Builder
	ddl.WriteString("CREATE TABLE t0 (id int PRIMARY KEY);\n")
	for i := 1; i < 300; i++ {
		fmt.Fprintf(&ddl, "CREATE TABLE t%d (id serial PRIMARY KEY, p int NOT NULL REFERENCES t%d, v text UNIQUE, CHECK (id > 0));\n", i, i-1)
		fmt.Fprintf(&ddl, "CREATE INDEX ON t%d (v, p);\n", i)
	}
	ctx := context.Background()
	cfg, err := pgxpool.ParseConfig(env.NewDB(t))
	require.NoError(t, err)
	counter := &queryCounter{}
	cfg.ConnConfig.Tracer = counter
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	require.NoError(t, err)
	t.Cleanup(pool.Close)
	pgtest.Exec(t, pool, ddl.String())
	counter.n.Store(0)
	start := time.Now()
	cat, err := schema.Load(ctx, pool, nil)
	require.NoError(t, err)
	big := counter.n.Load()
	t.Logf("300 tables loaded in %s with %d statements", time.Since(start).Round(time.Millisecond), big)
	require.Len(t, cat.Tables, 300)
	order, cycles := cat.Order()
	require.Empty(t, cycles)
	require.Equal(t, "public.t0", order[0].Name.String())
	require.Equal(t, "public.t299", order[299].Name.String())
	last := cat.Table(name("t299"))
	require.Len(t, last.ForeignKeys, 1)
	require.Len(t, last.Uniques, 1)
	require.Len(t, last.Indexes, 1)
	require.Len(t, last.Checks, 1)

	pgtest.Exec(t, pool, "DROP SCHEMA public CASCADE; CREATE SCHEMA public; CREATE TABLE a (id int PRIMARY KEY, v text)")
	counter.n.Store(0)
	_, err = schema.Load(ctx, pool, nil)
	require.NoError(t, err)
	require.Equal(t, big, counter.n.Load(), "300 tables take the same statements as one")
	require.LessOrEqual(t, big, int64(24))
}

// queryCounter counts the statements a pool sends.
type queryCounter struct{ n atomic.Int64 }

func (q *queryCounter) TraceQueryStart(ctx context.Context, _ *pgx.Conn, _ pgx.TraceQueryStartData) context.Context {
	q.n.Add(1)
	return ctx
}

func (q *queryCounter) TraceQueryEnd(context.Context, *pgx.Conn, pgx.TraceQueryEndData) {}

// TestRowEstimates: a table the source never analyzed (reltuples -1 on
// PostgreSQL 14+, as Django's migrate leaves them) is counted when small
// and unknown when big, never 0; an empty one is 0; partitioned tables sum
// their partitions, and one partition too big to count makes the whole
// table unknown.
func TestRowEstimates(t *testing.T) {
	t.Parallel()
	const off = " WITH (autovacuum_enabled = off)" // no autoanalyze may fill in an estimate
	cat := load(t, `
CREATE TABLE analyzed (id int PRIMARY KEY)`+off+`;
INSERT INTO analyzed SELECT generate_series(1, 50);
ANALYZE analyzed;
CREATE TABLE fresh (id int PRIMARY KEY, v text)`+off+`;
INSERT INTO fresh SELECT g, 'v' FROM generate_series(1, 120) g;
CREATE TABLE empty (id int PRIMARY KEY)`+off+`;
CREATE TABLE big (id int PRIMARY KEY, pad text)`+off+`;
INSERT INTO big SELECT g, repeat('x', 1000) FROM generate_series(1, 10000) g;
CREATE TABLE grown (id int PRIMARY KEY)`+off+`;
ANALYZE grown;
INSERT INTO grown SELECT generate_series(1, 30);
CREATE TABLE part (id int NOT NULL, at date NOT NULL, pad text) PARTITION BY RANGE (at);
CREATE TABLE part_a PARTITION OF part FOR VALUES FROM ('2024-01-01') TO ('2025-01-01')`+off+`;
CREATE TABLE part_b PARTITION OF part FOR VALUES FROM ('2025-01-01') TO ('2026-01-01')`+off+`;
INSERT INTO part SELECT g, '2024-06-01', 'p' FROM generate_series(1, 40) g;
ANALYZE part_a;
INSERT INTO part SELECT g, '2025-06-01', 'p' FROM generate_series(1, 7) g;
CREATE TABLE bigpart (id int NOT NULL, at date NOT NULL, pad text) PARTITION BY RANGE (at);
CREATE TABLE bigpart_a PARTITION OF bigpart FOR VALUES FROM ('2024-01-01') TO ('2025-01-01')`+off+`;
CREATE TABLE bigpart_b PARTITION OF bigpart FOR VALUES FROM ('2025-01-01') TO ('2026-01-01')`+off+`;
INSERT INTO bigpart SELECT g, '2024-06-01', 'p' FROM generate_series(1, 5) g;
INSERT INTO bigpart SELECT g, '2025-06-01', repeat('x', 1000) FROM generate_series(1, 10000) g;
`)
	rows := map[string]int64{}
	for _, tb := range cat.Tables {
		rows[tb.Name.Name] = tb.EstimatedRows
	}
	require.Equal(t, map[string]int64{
		"analyzed": 50, "fresh": 120, "empty": 0, "big": schema.UnknownRows, "grown": 30, "part": 47, "bigpart": schema.UnknownRows,
	}, rows)
	require.False(t, cat.Table(name("big")).RowsKnown())
	require.True(t, cat.Table(name("empty")).RowsKnown())
	require.Greater(t, cat.Table(name("big")).Bytes, int64(schema.CountRowsMaxBytes), "big must be too big to count")
}

// TestIndexParts: index definitions are cut where the target rewrites
// them, whatever the names, options, operator classes, collations and
// literals in them.
func TestIndexParts(t *testing.T) {
	t.Parallel()
	cat := load(t, `
CREATE SCHEMA "Sales Ops";
CREATE TABLE "Sales Ops"."Member" ("ID" int PRIMARY KEY, "Email" text, code text, plan text, "USING btree (" int);
CREATE UNIQUE INDEX "Uniq USING btree (x" ON "Sales Ops"."Member" (lower("Email") text_pattern_ops, code COLLATE "C" DESC)
  INCLUDE (plan) NULLS NOT DISTINCT WITH (fillfactor = 90) WHERE code <> ')(''"';
CREATE INDEX member_odd ON "Sales Ops"."Member" ("USING btree (", ("ID" + 1)) WHERE "Email" IS NOT NULL;
CREATE TABLE visit (id int NOT NULL, at date NOT NULL, ref text) PARTITION BY RANGE (at);
CREATE TABLE visit_2025 PARTITION OF visit FOR VALUES FROM ('2025-01-01') TO ('2026-01-01');
CREATE UNIQUE INDEX visit_ref ON visit (ref, at);
CREATE INDEX visit_at ON visit USING brin (at);
`, "Sales Ops", "public")
	member := cat.Table(schema.Name{Schema: "Sales Ops", Name: "Member"})
	require.Len(t, member.Uniques, 1)
	u := member.Uniques[0]
	require.Equal(t, `Uniq USING btree (x`, u.Name)
	require.True(t, u.Expression)
	require.Equal(t, []string{"code"}, u.PlainColumns)
	require.Equal(t, `(code <> ')(''"'::text)`, u.Predicate)
	require.Equal(t, schema.IndexParts{
		Method:   "btree",
		Elements: `lower("Email") text_pattern_ops, code COLLATE "C" DESC`,
		Options:  ` INCLUDE (plan) NULLS NOT DISTINCT WITH (fillfactor='90') WHERE (code <> ')(''"'::text)`,
	}, u.IndexParts)
	require.Len(t, member.Indexes, 1)
	odd := member.Indexes[0]
	require.Equal(t, schema.IndexParts{Method: "btree", Elements: `"USING btree (", (("ID" + 1))`, Options: ` WHERE ("Email" IS NOT NULL)`}, odd.IndexParts)
	require.Equal(t, `("Email" IS NOT NULL)`, odd.Predicate)
	require.Empty(t, odd.Columns, "an expression index")

	visit := cat.Table(name("visit"))
	require.Contains(t, visit.Uniques[0].Definition, " ON ONLY public.visit ", "pg_get_indexdef of a partitioned table's index")
	require.Equal(t, schema.IndexParts{Method: "btree", Elements: "ref, at"}, visit.Uniques[0].IndexParts)
	require.Equal(t, schema.Index{Name: "visit_at", Columns: []string{"at"}, Included: []string{},
		Definition: "CREATE INDEX visit_at ON ONLY public.visit USING brin (at)", IndexParts: schema.IndexParts{Method: "brin", Elements: "at"}}, visit.Indexes[0])
}

func TestSplitIndexList(t *testing.T) {
	t.Parallel()
	for _, c := range []struct{ in, elements, rest string }{
		{"a, b)", "a, b", ""},
		{"lower(a)) WHERE (b > 0)", "lower(a)", " WHERE (b > 0)"},
		{`"x)"" y", (a || ')(''')) INCLUDE (c)`, `"x)"" y", (a || ')(''')`, " INCLUDE (c)"},
		{"a", "", ""},
		{`"unterminated)`, "", ""},
	} {
		e, r := schema.SplitIndexList(c.in)
		require.Equal(t, c.elements, e, c.in)
		require.Equal(t, c.rest, r, c.in)
	}
}
