package plan_test

import (
	"context"
	"testing"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/require"

	"github.com/tenantmover/tenantmover/internal/pgtest"
	"github.com/tenantmover/tenantmover/internal/plan"
	"github.com/tenantmover/tenantmover/internal/schema"
)

var env pgtest.Env

func TestMain(m *testing.M) { env.Main(m, pgtest.WithCitus()) }

// sourceDB creates a database holding ddl and returns a pool on it.
func sourceDB(t *testing.T, ddl string) *pgxpool.Pool {
	t.Helper()
	pool := pgtest.Pool(t, env.NewDB(t))
	pgtest.Exec(t, pool, ddl)
	return pool
}

func build(t *testing.T, ddl string, cfg plan.Config) *plan.Plan {
	t.Helper()
	p, err := plan.Build(context.Background(), sourceDB(t, ddl), cfg)
	require.NoError(t, err)
	return p
}

func pub(n string) schema.Name { return schema.Name{Schema: "public", Name: n} }

func tbl(t *testing.T, p *plan.Plan, n string) *plan.Table {
	t.Helper()
	pt := p.Table(pub(n))
	require.NotNil(t, pt, "table %s not in plan", n)
	return pt
}

// chain renders a path as "a.col->b.col, ..." for compact assertions.
func chain(path []plan.Hop) []string {
	var out []string
	for _, h := range path {
		out = append(out, h.String())
	}
	return out
}

func codes(t *plan.Table) []string {
	var out []string
	for _, p := range t.Problems {
		out = append(out, p.Code)
	}
	return out
}

func order(p *plan.Plan) []string {
	var out []string
	for _, t := range p.Tables {
		out = append(out, t.Name().String())
	}
	return out
}

func before(t *testing.T, p *plan.Plan, a, b string) {
	t.Helper()
	pos := map[string]int{}
	for i, n := range order(p) {
		pos[n] = i
	}
	require.Less(t, pos["public."+a], pos["public."+b], "%s must come before %s in %v", a, b, order(p))
}

// sampleDDL is the sample monolith: the guide's store chain and the error
// notes' company/campaign/auth_user many-to-many.
const sampleDDL = `
CREATE TABLE store (id bigserial PRIMARY KEY, name text NOT NULL, url text, created_at timestamptz);
CREATE TABLE product (id bigserial PRIMARY KEY, store_id bigint NOT NULL REFERENCES store, name text, description text,
  price numeric(10,2), quantity int, attrs jsonb);
CREATE TABLE purchase (id bigserial PRIMARY KEY, product_id bigint NOT NULL REFERENCES product, ordered_at timestamptz,
  billing_address text, shipping_address text, amount numeric(12,2));
CREATE TABLE refund (id bigserial PRIMARY KEY, purchase_id bigint NOT NULL REFERENCES purchase, amount numeric(12,2),
  reason text, created_at timestamptz);
CREATE TABLE auth_user (id serial PRIMARY KEY, username varchar(150) UNIQUE NOT NULL, email text);
CREATE TABLE company (id bigserial PRIMARY KEY, name varchar(512), created_at timestamptz, updated_at timestamptz);
CREATE TABLE campaign (id bigserial PRIMARY KEY, company_id bigint NOT NULL REFERENCES company ON DELETE CASCADE,
  name varchar(512), created_at timestamptz, updated_at timestamptz, UNIQUE (id, company_id));
CREATE TABLE company_users (id serial PRIMARY KEY, company_id bigint NOT NULL REFERENCES company,
  user_id int NOT NULL REFERENCES auth_user, UNIQUE (company_id, user_id));
`

func TestStoreChainThreeHops(t *testing.T) {
	t.Parallel()
	p := build(t, sampleDDL, plan.Config{TenantTable: "store"})
	require.Equal(t, "id", p.RootKey)
	require.Equal(t, "bigint", p.KeyType)
	require.Equal(t, "store_id", p.TenantColumn)
	require.Equal(t, pub("store"), p.Root.Name())

	store := tbl(t, p, "store")
	require.Equal(t, plan.Root, store.Kind)
	require.Equal(t, "id", store.TenantColumn)
	require.True(t, store.HasTenantColumn)
	require.Empty(t, store.Path)

	product := tbl(t, p, "product")
	require.Equal(t, plan.Direct, product.Kind)
	require.Equal(t, "store_id", product.TenantColumn)
	require.True(t, product.HasTenantColumn)
	require.Equal(t, []string{"public.product.store_id -> public.store.id"}, chain(product.Path))
	require.Equal(t, "product_store_id_fkey", product.Path[0].Constraint)
	require.False(t, product.Path[0].Nullable)

	purchase := tbl(t, p, "purchase")
	require.Equal(t, plan.Nested, purchase.Kind)
	require.Equal(t, "store_id", purchase.TenantColumn)
	require.False(t, purchase.HasTenantColumn)
	require.Equal(t, []string{"public.purchase.product_id -> public.product.id", "public.product.store_id -> public.store.id"}, chain(purchase.Path))

	refund := tbl(t, p, "refund")
	require.Equal(t, plan.Nested, refund.Kind)
	require.Equal(t, []string{
		"public.refund.purchase_id -> public.purchase.id",
		"public.purchase.product_id -> public.product.id",
		"public.product.store_id -> public.store.id",
	}, chain(refund.Path))
	require.Equal(t, "public.refund -> public.purchase -> public.product -> public.store", plan.PathString(refund.Path))
	parent, ok := refund.Parent()
	require.True(t, ok)
	require.Equal(t, pub("purchase"), parent.To)

	for _, n := range []string{"auth_user", "company", "campaign", "company_users"} {
		require.Equal(t, plan.Reference, tbl(t, p, n).Kind, n)
		require.Empty(t, tbl(t, p, n).TenantColumn, n)
	}
	before(t, p, "store", "product")
	before(t, p, "product", "purchase")
	before(t, p, "purchase", "refund")
	before(t, p, "auth_user", "company_users")
	require.Empty(t, p.Blocking())

	require.Equal(t, []string{plan.CodeKeyMadeComposite}, codes(product))
	require.Equal(t, []string{plan.CodeKeyMadeComposite, plan.CodeFKMadeComposite}, codes(purchase))
	require.Empty(t, codes(store))
	require.Empty(t, codes(tbl(t, p, "company_users")))
}

func TestCompanyManyToMany(t *testing.T) {
	t.Parallel()
	p := build(t, sampleDDL, plan.Config{TenantTable: "company"})
	require.Equal(t, "company_id", p.TenantColumn)
	require.Equal(t, plan.Root, tbl(t, p, "company").Kind)
	for _, n := range []string{"campaign", "company_users"} {
		pt := tbl(t, p, n)
		require.Equal(t, plan.Direct, pt.Kind, n)
		require.Equal(t, "company_id", pt.TenantColumn, n)
	}
	require.Equal(t, plan.Reference, tbl(t, p, "auth_user").Kind)
	// campaign's UNIQUE (id, company_id) already includes the tenant; its
	// primary key (id) does not (the notes' error 5).
	campaign := tbl(t, p, "campaign")
	require.Equal(t, []string{plan.CodeKeyMadeComposite}, codes(campaign))
	require.Contains(t, campaign.Problems[0].Message, "primary key (id)")
	keys := p.Keys(campaign)
	require.Equal(t, []string{"company_id", "id"}, keys[0].Columns)
	require.Equal(t, []string{"id", "company_id"}, keys[1].Columns)
	require.False(t, keys[1].Changed)
	// company_users: FK to the reference auth_user stays as is.
	cu := tbl(t, p, "company_users")
	fks := p.ForeignKeys(cu)
	require.Len(t, fks, 2)
	for _, d := range fks {
		require.Equal(t, plan.FKKeep, d.Action, d.FK.Name)
	}
	require.Empty(t, p.Blocking())
}

func TestTwoPathsToTheRoot(t *testing.T) {
	t.Parallel()
	p := build(t, `
CREATE TABLE store (id bigint PRIMARY KEY);
CREATE TABLE product (id bigint PRIMARY KEY, store_id bigint NOT NULL REFERENCES store);
CREATE TABLE customer (id bigint PRIMARY KEY, store_id bigint NOT NULL REFERENCES store);
CREATE TABLE purchase (id bigint PRIMARY KEY, product_id bigint NOT NULL REFERENCES product,
  customer_id bigint NOT NULL REFERENCES customer);
CREATE TABLE line (id bigint PRIMARY KEY, purchase_id bigint NOT NULL REFERENCES purchase,
  product_id bigint NOT NULL REFERENCES product, note_id bigint);
CREATE TABLE review (id bigint PRIMARY KEY, store_id bigint NOT NULL REFERENCES store,
  product_id bigint NOT NULL REFERENCES product);
`, plan.Config{TenantTable: "store"})

	// Equally short through customer and product: customer wins by name,
	// product is the alternative verify checks.
	purchase := tbl(t, p, "purchase")
	require.Equal(t, plan.Nested, purchase.Kind)
	require.Equal(t, []string{"public.purchase.customer_id -> public.customer.id", "public.customer.store_id -> public.store.id"}, chain(purchase.Path))
	require.Len(t, purchase.AltPaths, 1)
	require.Equal(t, []string{"public.purchase.product_id -> public.product.id", "public.product.store_id -> public.store.id"}, chain(purchase.AltPaths[0]))
	require.Contains(t, codes(purchase), plan.CodeAmbiguousPath)

	// The shorter path wins without ambiguity; the longer is recorded.
	line := tbl(t, p, "line")
	require.Equal(t, []string{"public.line.product_id -> public.product.id", "public.product.store_id -> public.store.id"}, chain(line.Path))
	require.Len(t, line.AltPaths, 1)
	require.Len(t, line.AltPaths[0], 3)
	require.NotContains(t, codes(line), plan.CodeAmbiguousPath)

	// A direct key wins over any longer path.
	review := tbl(t, p, "review")
	require.Equal(t, plan.Direct, review.Kind)
	require.Equal(t, "store_id", review.TenantColumn)
	require.Len(t, review.AltPaths, 1)
}

func TestSelfReferenceAndTwoTableCycle(t *testing.T) {
	t.Parallel()
	p := build(t, `
CREATE TABLE project (id int PRIMARY KEY);
CREATE TABLE task (id int PRIMARY KEY, project_id int NOT NULL REFERENCES project, parent_id int REFERENCES task);
CREATE TABLE author (id int PRIMARY KEY, project_id int NOT NULL REFERENCES project, best_book_id int);
CREATE TABLE book (id int PRIMARY KEY, author_id int NOT NULL REFERENCES author);
ALTER TABLE author ADD FOREIGN KEY (best_book_id) REFERENCES book;
CREATE TABLE egg (id int PRIMARY KEY, hen_id int NOT NULL);
CREATE TABLE hen (id int PRIMARY KEY, egg_id int NOT NULL REFERENCES egg, project_id int NOT NULL REFERENCES project);
ALTER TABLE egg ADD FOREIGN KEY (hen_id) REFERENCES hen;
`, plan.Config{TenantTable: "project"})

	task := tbl(t, p, "task")
	require.Equal(t, plan.Direct, task.Kind)
	// The self-reference becomes composite on the tenant column.
	var self plan.FKDecision
	for _, d := range p.ForeignKeys(task) {
		if d.FK.RefTable == pub("task") {
			self = d
		}
	}
	require.Equal(t, plan.FKComposite, self.Action)
	require.Equal(t, []string{"project_id", "parent_id"}, self.Columns)
	require.Equal(t, []string{"project_id", "id"}, self.RefColumns)

	book := tbl(t, p, "book")
	require.Equal(t, plan.Nested, book.Kind)
	require.Equal(t, []string{"public.book.author_id -> public.author.id", "public.author.project_id -> public.project.id"}, chain(book.Path))
	before(t, p, "author", "book")
	require.Equal(t, plan.Nested, tbl(t, p, "egg").Kind)
	before(t, p, "hen", "egg")

	require.Len(t, p.Cycles, 3)
	var blocking []string
	for n, probs := range p.Blocking() {
		for _, pr := range probs {
			blocking = append(blocking, n.Name+":"+pr.Code)
		}
	}
	require.ElementsMatch(t, []string{"egg:" + plan.CodeFKCycle, "hen:" + plan.CodeFKCycle}, blocking)
}

func TestRelationSuppliesMissingForeignKey(t *testing.T) {
	t.Parallel()
	ddl := `
CREATE TABLE store (id bigint PRIMARY KEY);
CREATE TABLE product (id bigint PRIMARY KEY, store_id bigint NOT NULL REFERENCES store);
CREATE TABLE purchase (id bigint PRIMARY KEY, product_id bigint NOT NULL);
CREATE TABLE line (id bigint PRIMARY KEY, purchase_id bigint NOT NULL, pos int NOT NULL);
`
	pool := sourceDB(t, ddl)
	ctx := context.Background()
	p, err := plan.Build(ctx, pool, plan.Config{TenantTable: "store"})
	require.NoError(t, err)
	require.Equal(t, plan.Reference, tbl(t, p, "purchase").Kind)

	p, err = plan.Build(ctx, pool, plan.Config{TenantTable: "store", Relations: []string{
		"purchase.product_id=product.id", `public."line".(purchase_id)=PURCHASE.(id)`,
	}})
	require.NoError(t, err)
	purchase := tbl(t, p, "purchase")
	require.Equal(t, plan.Nested, purchase.Kind)
	require.True(t, purchase.Path[0].Declared)
	require.Empty(t, purchase.Path[0].Constraint)
	require.Equal(t, plan.Nested, tbl(t, p, "line").Kind)
	require.Len(t, tbl(t, p, "line").Path, 3)
	before(t, p, "purchase", "line")
	require.Empty(t, p.ForeignKeys(purchase), "a declared relation is a path, not a constraint")

	for _, bad := range []string{"purchase.product_id", "purchase.nope=product.id", "nope.x=product.id", "purchase.(a,b)=product.id"} {
		_, err := plan.Build(ctx, pool, plan.Config{TenantTable: "store", Relations: []string{bad}})
		require.Error(t, err, bad)
	}

	// Columns that cannot be joined are refused, naming both types.
	pgtest.Exec(t, pool, "ALTER TABLE line ADD COLUMN note text")
	_, err = plan.Build(ctx, pool, plan.Config{TenantTable: "store", Relations: []string{"line.note=purchase.id"}})
	require.ErrorContains(t, err, "line.note is text but public.purchase.id is bigint")
	// int referencing bigint joins fine.
	_, err = plan.Build(ctx, pool, plan.Config{TenantTable: "store", Relations: []string{"line.pos=purchase.id"}})
	require.NoError(t, err)
}

func TestTenantColumnUnderAnotherName(t *testing.T) {
	t.Parallel()
	p := build(t, `
CREATE TABLE account (id bigint PRIMARY KEY);
CREATE TABLE revenue (id bigint PRIMARY KEY, acc_id bigint NOT NULL REFERENCES account);
CREATE TABLE invoice (id bigint PRIMARY KEY, account_id bigint NOT NULL REFERENCES account);
CREATE TABLE payment (id bigint PRIMARY KEY, owner bigint NOT NULL REFERENCES account);
CREATE TABLE refund (id bigint PRIMARY KEY, account_id bigint NOT NULL REFERENCES account);
CREATE TABLE line (id bigint PRIMARY KEY, revenue_id bigint NOT NULL REFERENCES revenue);
`, plan.Config{TenantTable: "account"})
	require.Equal(t, "acc_id", tbl(t, p, "revenue").TenantColumn)
	require.Equal(t, "owner", tbl(t, p, "payment").TenantColumn)
	require.Equal(t, "account_id", p.TenantColumn, "the most common existing name")
	require.Equal(t, "account_id", tbl(t, p, "line").TenantColumn)
	require.False(t, tbl(t, p, "line").HasTenantColumn)
	// The composite FK pairs each table's own tenant column.
	d := p.ForeignKeys(tbl(t, p, "line"))[0]
	require.Equal(t, []string{"account_id", "revenue_id"}, d.Columns)
	require.Equal(t, []string{"acc_id", "id"}, d.RefColumns)

	p = build(t, `CREATE TABLE org (id bigint PRIMARY KEY); CREATE TABLE doc (id bigint PRIMARY KEY);
CREATE TABLE page (id bigint PRIMARY KEY, doc_id bigint NOT NULL REFERENCES doc);`, plan.Config{TenantTable: "org", TenantColumn: "tenant"})
	require.Equal(t, "tenant", p.TenantColumn)
	p = build(t, `CREATE TABLE org (id bigint PRIMARY KEY);`, plan.Config{TenantTable: "org"})
	require.Equal(t, "org_id", p.TenantColumn)
}

func TestUUIDAndTextKeys(t *testing.T) {
	t.Parallel()
	p := build(t, `
CREATE TABLE tenant (id uuid PRIMARY KEY);
CREATE TABLE site (id uuid PRIMARY KEY, tenant_id uuid NOT NULL REFERENCES tenant);
CREATE TABLE page (id bigint PRIMARY KEY, site_id uuid NOT NULL REFERENCES site);
`, plan.Config{TenantTable: "tenant"})
	require.Equal(t, "uuid", p.KeyType)
	require.Equal(t, plan.Nested, tbl(t, p, "page").Kind)
	require.Empty(t, p.Blocking())

	p = build(t, `
CREATE TABLE shop (code varchar(20) PRIMARY KEY);
CREATE TABLE item (id bigint PRIMARY KEY, shop_code varchar(20) NOT NULL REFERENCES shop);
CREATE TABLE tag (id bigint PRIMARY KEY, shop_code text NOT NULL REFERENCES shop);
`, plan.Config{TenantTable: "shop"})
	require.Equal(t, "code", p.RootKey)
	require.Equal(t, "character varying(20)", p.KeyType)
	require.Equal(t, []string{plan.CodeKeyMadeComposite}, codes(tbl(t, p, "item")))
	tag := tbl(t, p, "tag")
	require.Equal(t, []string{plan.CodeTenantTypeMismatch, plan.CodeKeyMadeComposite}, codes(tag))
	require.True(t, tag.Problems[0].Blocking)
	require.Contains(t, tag.Problems[0].Remedy, `ALTER TABLE "public"."tag" ALTER COLUMN "shop_code" TYPE character varying(20)`)
}

func TestIntVersusBigintTenantColumn(t *testing.T) {
	t.Parallel()
	p := build(t, `
CREATE TABLE store (id bigint PRIMARY KEY);
CREATE TABLE product (id bigint PRIMARY KEY, store_id int NOT NULL REFERENCES store);
CREATE TABLE purchase (id bigint PRIMARY KEY, product_id bigint NOT NULL REFERENCES product, store_id int);
`, plan.Config{TenantTable: "store"})
	require.Contains(t, codes(tbl(t, p, "product")), plan.CodeTenantTypeMismatch)
	purchase := tbl(t, p, "purchase")
	require.True(t, purchase.HasTenantColumn)
	require.Contains(t, codes(purchase), plan.CodeTenantColumnConflict)
	require.Len(t, p.Blocking(), 2)
}

func TestOddNames(t *testing.T) {
	t.Parallel()
	p := build(t, `
CREATE SCHEMA "Sales Ops";
CREATE TABLE "Sales Ops"."Tenant" ("Tenant ID" bigint PRIMARY KEY);
CREATE TABLE "Sales Ops"."select" ("order" bigint PRIMARY KEY, "Tenant ID" bigint NOT NULL REFERENCES "Sales Ops"."Tenant");
CREATE TABLE "Sales Ops"."Zeilen ""ä""" (id bigint PRIMARY KEY, "wähl""en" bigint NOT NULL REFERENCES "Sales Ops"."select");
`, plan.Config{TenantTable: `"Sales Ops"."Tenant"`})
	require.Equal(t, "Tenant ID", p.RootKey)
	require.Equal(t, "Tenant ID", p.TenantColumn)
	sel := p.Table(schema.Name{Schema: "Sales Ops", Name: "select"})
	require.Equal(t, plan.Direct, sel.Kind)
	z := p.Table(schema.Name{Schema: "Sales Ops", Name: `Zeilen "ä"`})
	require.Equal(t, plan.Nested, z.Kind)
	require.Equal(t, `"Sales Ops"."Zeilen ""ä""" -> "Sales Ops"."select" -> "Sales Ops"."Tenant"`, plan.PathString(z.Path))
	require.Equal(t, []string{`"Sales Ops"."Zeilen ""ä""".wähl"en`}, []string{z.Path[0].From.String() + "." + z.Path[0].FromColumns[0]})

	_, err := plan.FromCatalog(p.Catalog, plan.Config{TenantTable: `"Sales Ops".tenant`})
	var nf *schema.NotFoundError
	require.ErrorAs(t, err, &nf)
}

func TestNoPrimaryKeyAndNullableOnlyPath(t *testing.T) {
	t.Parallel()
	p := build(t, `
CREATE TABLE store (id bigint PRIMARY KEY);
CREATE TABLE visit (store_id bigint NOT NULL REFERENCES store, at timestamptz);
CREATE TABLE note (id bigint PRIMARY KEY, store_id bigint REFERENCES store);
CREATE TABLE product (id bigint PRIMARY KEY, store_id bigint NOT NULL REFERENCES store);
CREATE TABLE comment (id bigint PRIMARY KEY, product_id bigint REFERENCES product);
CREATE TABLE reply (id bigint PRIMARY KEY, comment_id bigint NOT NULL REFERENCES comment);
CREATE TABLE line (product_id bigint NOT NULL REFERENCES product, qty int);
`, plan.Config{TenantTable: "store"})
	// Without a key, a direct table is copied in one chunk (noted); a
	// nested one cannot be backfilled in key batches (blocking).
	visit := tbl(t, p, "visit")
	require.Equal(t, plan.Direct, visit.Kind)
	require.Equal(t, []string{plan.CodeNoPrimaryKey}, codes(visit))
	require.False(t, visit.Problems[0].Blocking)
	require.Contains(t, visit.Problems[0].Message, "one chunk")
	line := tbl(t, p, "line")
	require.Equal(t, plan.Nested, line.Kind)
	require.Equal(t, []string{plan.CodeNoPrimaryKey, plan.CodeFKMadeComposite}, codes(line))
	require.True(t, line.Problems[0].Blocking)
	require.Contains(t, line.Problems[0].Message, "backfill")

	note := tbl(t, p, "note")
	require.Equal(t, plan.Direct, note.Kind)
	require.Contains(t, codes(note), plan.CodeNullablePath)

	comment := tbl(t, p, "comment")
	require.Equal(t, plan.Nested, comment.Kind)
	require.True(t, comment.Path[0].Nullable)
	require.Contains(t, codes(comment), plan.CodeNullablePath)
	require.False(t, comment.Problems[0].Blocking)
	reply := tbl(t, p, "reply")
	require.Equal(t, plan.Nested, reply.Kind)
	require.Contains(t, codes(reply), plan.CodeNullablePath, "the path inherits comment's nullable hop")

	_, blocking := p.Blocking()[pub("line")]
	require.True(t, blocking)
	require.Len(t, p.Blocking(), 1)

	p, err := plan.FromCatalog(p.Catalog, plan.Config{TenantTable: "store", Excludes: []string{"line"}})
	require.NoError(t, err)
	require.Empty(t, p.Blocking())
	require.Equal(t, plan.Excluded, tbl(t, p, "line").Kind)
}

func TestReferenceTablePointingAtDistributed(t *testing.T) {
	t.Parallel()
	p := build(t, sampleDDL+`
CREATE TABLE tag (id bigint PRIMARY KEY, label text, store_id bigint NOT NULL REFERENCES store);
CREATE TABLE store_users (id bigint PRIMARY KEY, store_id bigint NOT NULL REFERENCES store, user_id int NOT NULL REFERENCES auth_user);
`, plan.Config{TenantTable: "store", References: []string{"tag", "store_users"}})
	tag := tbl(t, p, "tag")
	require.Equal(t, plan.Reference, tag.Kind)
	require.True(t, tag.Forced)
	require.Equal(t, []string{plan.CodeReferenceToDistributed}, codes(tag))
	require.True(t, tag.Problems[0].Blocking)
	su := tbl(t, p, "store_users")
	require.Equal(t, []string{plan.CodeReferenceToDistributed, plan.CodeManyToManyNotDistributed}, codes(su))

	_, err := plan.FromCatalog(p.Catalog, plan.Config{TenantTable: "store", References: []string{"store"}})
	require.Error(t, err)
	_, err = plan.FromCatalog(p.Catalog, plan.Config{TenantTable: "store", Excludes: []string{"nope"}})
	require.Error(t, err)
}

func TestForeignKeyRules(t *testing.T) {
	t.Parallel()
	p := build(t, `
CREATE TABLE store (id bigint PRIMARY KEY, code text UNIQUE);
CREATE TABLE product (id bigint PRIMARY KEY, store_id bigint NOT NULL REFERENCES store ON UPDATE CASCADE,
  sku text, UNIQUE (store_id, sku));
CREATE UNIQUE INDEX product_lower_sku ON product (lower(sku));
CREATE UNIQUE INDEX product_store_lower_sku ON product (store_id, lower(sku));
CREATE TABLE transfer (id bigint PRIMARY KEY, from_store_id bigint NOT NULL REFERENCES store, to_store_id bigint NOT NULL REFERENCES store,
  product_id bigint REFERENCES product ON DELETE SET NULL, store_code text REFERENCES store (code),
  EXCLUDE USING btree (id WITH =));
CREATE TABLE audit (id bigint PRIMARY KEY, product_id bigint NOT NULL REFERENCES product);
`, plan.Config{TenantTable: "store", TenantColumn: "from_store_id", Excludes: []string{"audit"}})
	product := tbl(t, p, "product")
	require.ElementsMatch(t, []string{plan.CodeKeyMadeComposite, plan.CodeIndexMadeComposite, plan.CodeFKActionUnsupported}, codes(product))

	transfer := tbl(t, p, "transfer")
	require.Equal(t, "from_store_id", transfer.TenantColumn)
	got := map[string]plan.FKDecision{}
	for _, d := range p.ForeignKeys(transfer) {
		got[d.FK.Name] = d
	}
	require.Equal(t, plan.FKKeep, got["transfer_from_store_id_fkey"].Action)
	require.Equal(t, plan.FKDrop, got["transfer_to_store_id_fkey"].Action)
	require.Equal(t, plan.FKComposite, got["transfer_product_id_fkey"].Action)
	require.Equal(t, "NO ACTION", got["transfer_product_id_fkey"].OnDelete)
	require.Equal(t, plan.FKComposite, got["transfer_store_code_fkey"].Action)
	require.Equal(t, []string{"id", "code"}, got["transfer_store_code_fkey"].RefColumns)
	require.ElementsMatch(t, []string{plan.CodeAmbiguousPath, plan.CodeKeyMadeComposite, plan.CodeExclusionWithoutTenant,
		plan.CodeFKCrossTenant, plan.CodeFKMadeComposite, plan.CodeFKMadeComposite, plan.CodeFKActionUnsupported}, codes(transfer))
	// store.code's unique key becomes (id, code) so the composite key has a target.
	require.Equal(t, []string{"id", "code"}, p.Keys(tbl(t, p, "store"))[1].Columns)
	require.Empty(t, codes(tbl(t, p, "audit")))
}

// A Rails schema without foreign keys: the tables linked to the tenant
// only by <table>_id columns are noted with the --relation that
// distributes them; a column naming a lookup table is not.
func TestUndeclaredRelationsAreNoted(t *testing.T) {
	t.Parallel()
	p := build(t, `
CREATE TABLE shops (id bigint PRIMARY KEY);
CREATE TABLE countries (id int PRIMARY KEY, name text);
CREATE TABLE notes (id bigint PRIMARY KEY, shop_id bigint NOT NULL, country_id int, body text);
CREATE TABLE "It's" (id bigint PRIMARY KEY, note_id bigint);
CREATE TABLE blog_post (id bigint PRIMARY KEY, shop_id bigint REFERENCES shops);
CREATE TABLE blog_comment (id bigint PRIMARY KEY, post_id text);
CREATE TABLE blog_like (id bigint PRIMARY KEY, post_id bigint);
CREATE TABLE audits (id bigint PRIMARY KEY, country_id int);
`, plan.Config{TenantTable: "shops"})
	require.Equal(t, plan.Reference, tbl(t, p, "notes").Kind)
	notes := tbl(t, p, "notes").Problems
	require.Len(t, notes, 1, "country_id names a lookup table: no note")
	require.Equal(t, plan.CodeUndeclaredRelation, notes[0].Code)
	require.False(t, notes[0].Blocking)
	require.Contains(t, notes[0].Remedy, `--relation 'public.notes.shop_id=public.shops.id'`)

	quoted := tbl(t, p, "It's").Problems
	require.Len(t, quoted, 1, "a chain through another guess")
	require.Contains(t, quoted[0].Remedy, `--relation 'public."It'\''s".note_id=public.notes.id'`)

	like := tbl(t, p, "blog_like").Problems
	require.Len(t, like, 1)
	require.Contains(t, like[0].Remedy, "public.blog_like.post_id=public.blog_post.id", "Django names the table app_model")
	require.Empty(t, codes(tbl(t, p, "blog_comment")), "post_id is text, blog_post's key bigint")
	require.Empty(t, codes(tbl(t, p, "audits")))

	// Taking the advice distributes the chain.
	p, err := plan.FromCatalog(p.Catalog, plan.Config{TenantTable: "shops",
		Relations: []string{"notes.shop_id=shops.id", `"It's".note_id=notes.id`}})
	require.NoError(t, err)
	require.Equal(t, plan.Direct, tbl(t, p, "notes").Kind)
	require.Equal(t, plan.Nested, tbl(t, p, "It's").Kind)
	require.NotContains(t, codes(tbl(t, p, "It's")), plan.CodeUndeclaredRelation)
}
