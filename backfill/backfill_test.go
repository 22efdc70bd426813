package backfill_test

import (
	"context"
	"errors"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/tenantmover/tenantmover/backfill"
	"github.com/tenantmover/tenantmover/checkpoints"
	"github.com/tenantmover/tenantmover/internal/pgtest"
	"github.com/tenantmover/tenantmover/internal/phase"
	"github.com/tenantmover/tenantmover/internal/plan"
)

func TestThreeHopChainFilledCorrectly(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	pool, p := storeSource(t)
	require.Equal(t, "store_id", p.TenantColumn)

	var steps []string
	rep, err := runBackfill(ctx, pool, p, fastConfig(), func(ev phase.Event) {
		if ev.Kind == phase.Finished {
			steps = append(steps, ev.Table+" "+ev.Step)
		}
	})
	require.NoError(t, err)

	require.Zero(t, pgtest.Scalar[int64](t, pool, storeWrong), "every purchase and refund has the store its chain implies")
	require.Len(t, rep.Tables, 2)
	require.Equal(t, "public.purchase", rep.Tables[0].Table, "parents before children")
	purchase, refund := tableReport(t, rep, "public.purchase"), tableReport(t, rep, "public.refund")
	require.EqualValues(t, 12000, purchase.RowsUpdated)
	require.EqualValues(t, 12000, purchase.RowsVisited)
	require.EqualValues(t, 3000, refund.RowsUpdated)
	require.Greater(t, purchase.Units, 1, "the table was split into units")
	require.Greater(t, purchase.Batches, purchase.Units, "units were walked in several batches")
	require.Zero(t, purchase.Orphans.Count)
	require.NotEmpty(t, purchase.Index)
	require.Equal(t, []string{"public.purchase filled", "public.refund filled", "public.purchase done", "public.refund done"}, steps)

	// The triggers are gone, the index on the column is there and valid.
	require.Zero(t, pgtest.Scalar[int64](t, pool, `SELECT count(*) FROM pg_trigger WHERE tgname LIKE 'tm\_%'`))
	require.Zero(t, pgtest.Scalar[int64](t, pool, `SELECT count(*) FROM pg_proc WHERE proname LIKE 'tm\_%'`))
	require.EqualValues(t, 2, pgtest.Scalar[int64](t, pool, `SELECT count(*) FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid
		WHERE c.relname LIKE 'tm\_%\_idx' AND i.indisvalid`))

	// Checkpoints: every unit done, and the keys walked sum to the table.
	store := checkpoints.Attach(pool)
	runs, err := store.Status(ctx, "backfill")
	require.NoError(t, err)
	require.Len(t, runs, 1)
	require.Equal(t, "done", runs[0].Status)
	for _, ts := range runs[0].Tables {
		require.Equal(t, ts.Units, ts.UnitsDone, ts.Table)
		require.Equal(t, ts.TotalRows, ts.Rows, ts.Table)
		require.Equal(t, "done", ts.State)
	}

	// Rerunning finds everything done and walks nothing.
	again := fill(t, pool, p, fastConfig())
	require.True(t, again.Resumed)
	require.Zero(t, tableReport(t, again, "public.purchase").Batches)
	require.Equal(t, purchase.Units, tableReport(t, again, "public.purchase").UnitsDoneBefore)
}

func TestCompositeKeys(t *testing.T) {
	t.Parallel()
	pool, _ := source(t, `
CREATE TABLE account (id int PRIMARY KEY);
CREATE TABLE invoice (account_id int NOT NULL REFERENCES account, id int NOT NULL, PRIMARY KEY (id));
CREATE TABLE line (invoice_id int NOT NULL REFERENCES invoice, n int NOT NULL, sku text NOT NULL, PRIMARY KEY (invoice_id, n, sku));
CREATE TABLE line_note (id bigserial PRIMARY KEY, invoice_id int NOT NULL, n int NOT NULL, sku text NOT NULL,
  FOREIGN KEY (invoice_id, n, sku) REFERENCES line);
INSERT INTO account SELECT g FROM generate_series(1, 30) g;
INSERT INTO invoice SELECT 1 + g % 30, g FROM generate_series(1, 700) g;
INSERT INTO line SELECT 1 + g % 700, g / 700, 'sku-' || (g % 3) FROM generate_series(1, 9000) g;
INSERT INTO line_note (invoice_id, n, sku) SELECT invoice_id, n, sku FROM line WHERE n < 3;
ANALYZE;`)
	p := buildPlan(t, pool, plan.Config{TenantTable: "account"})
	rep := fill(t, pool, p, fastConfig())
	line := tableReport(t, rep, "public.line")
	require.Greater(t, line.Units, 1)
	require.EqualValues(t, pgtest.Scalar[int64](t, pool, "SELECT count(*) FROM line"), line.RowsVisited)
	require.Zero(t, pgtest.Scalar[int64](t, pool, `SELECT count(*) FROM line l JOIN invoice i ON i.id = l.invoice_id WHERE l.account_id IS DISTINCT FROM i.account_id`))
	require.Zero(t, pgtest.Scalar[int64](t, pool, `SELECT count(*) FROM line_note x JOIN invoice i ON i.id = x.invoice_id WHERE x.account_id IS DISTINCT FROM i.account_id`))
}

// A uuid-keyed tenant, text and uuid keys on the nested tables.
func TestUUIDTenantAndTextKeys(t *testing.T) {
	t.Parallel()
	pool, _ := source(t, `
CREATE TABLE org (id uuid PRIMARY KEY);
CREATE TABLE team (id uuid PRIMARY KEY, org_id uuid NOT NULL REFERENCES org);
CREATE TABLE member (handle text COLLATE "C" PRIMARY KEY, team_id uuid NOT NULL REFERENCES team);
CREATE TABLE badge (member_handle text NOT NULL REFERENCES member, code varchar(20) NOT NULL, PRIMARY KEY (member_handle, code));
INSERT INTO org SELECT md5('o' || g)::uuid FROM generate_series(1, 20) g;
INSERT INTO team SELECT md5('t' || g)::uuid, md5('o' || (1 + g % 20))::uuid FROM generate_series(1, 200) g;
INSERT INTO member SELECT 'User ' || g || ' é', md5('t' || (1 + g % 200))::uuid FROM generate_series(1, 5000) g;
INSERT INTO badge SELECT handle, c FROM member, (VALUES ('a'), ('B'), ('c d')) v(c);
ANALYZE;`)
	p := buildPlan(t, pool, plan.Config{TenantTable: "org", TenantColumn: "org_id"})
	require.Equal(t, "uuid", p.KeyType)
	rep := fill(t, pool, p, fastConfig())
	require.EqualValues(t, 5000, tableReport(t, rep, "public.member").RowsUpdated)
	require.EqualValues(t, 15000, tableReport(t, rep, "public.badge").RowsUpdated)
	require.Greater(t, tableReport(t, rep, "public.badge").Units, 1)
	require.Zero(t, pgtest.Scalar[int64](t, pool, `SELECT count(*) FROM member m JOIN team t ON t.id = m.team_id WHERE m.org_id IS DISTINCT FROM t.org_id`))
	require.Zero(t, pgtest.Scalar[int64](t, pool, `SELECT count(*) FROM badge b JOIN member m ON m.handle = b.member_handle JOIN team t ON t.id = m.team_id
		WHERE b.org_id IS DISTINCT FROM t.org_id`))
	require.Equal(t, "uuid", pgtest.Scalar[string](t, pool, `SELECT format_type(atttypid, atttypmod) FROM pg_attribute WHERE attrelid = 'badge'::regclass AND attname = 'org_id'`))
}

// Orphans exist only where the catalog does not enforce the key: a
// --relation edge. They are counted, sampled and never loop the run.
func TestOrphansReportedAndCounted(t *testing.T) {
	t.Parallel()
	pool, _ := source(t, `
CREATE TABLE store (id bigserial PRIMARY KEY);
CREATE TABLE product (id bigserial PRIMARY KEY, store_id bigint REFERENCES store);
CREATE TABLE purchase (id bigserial PRIMARY KEY, product_id bigint NOT NULL);   -- no FK in the catalog
CREATE TABLE note (id bigserial PRIMARY KEY, purchase_id bigint REFERENCES purchase);  -- nullable
INSERT INTO store SELECT FROM generate_series(1, 10);
INSERT INTO product (store_id) SELECT CASE WHEN g = 7 THEN NULL ELSE 1 + g % 10 END FROM generate_series(1, 100) g;
INSERT INTO purchase (product_id) SELECT CASE WHEN g % 500 = 0 THEN 100000 + g ELSE 1 + g % 100 END FROM generate_series(1, 5000) g;
INSERT INTO note (purchase_id) SELECT CASE WHEN g % 100 = 0 THEN NULL ELSE g END FROM generate_series(1, 2000) g;
ANALYZE;`)
	p := buildPlan(t, pool, plan.Config{TenantTable: "store", Relations: []string{"purchase.product_id=product.id"}})
	rep := fill(t, pool, p, fastConfig())

	purchase := tableReport(t, rep, "public.purchase")
	// 10 purchases point at missing products; 50 at product 7, whose store is NULL.
	require.EqualValues(t, 10, purchase.Orphans.ByReason[backfill.ReasonMissingParent])
	require.EqualValues(t, 50, purchase.Orphans.ByReason[backfill.ReasonParentOrphan])
	require.EqualValues(t, 60, purchase.Orphans.Count)
	require.EqualValues(t, 60, purchase.NullsLeft)
	require.EqualValues(t, 5000, purchase.RowsVisited, "orphans do not stop the cursor")
	require.Len(t, purchase.Orphans.Samples, 20, "10 samples per reason")
	require.Equal(t, []string{"500"}, purchase.Orphans.Samples[0].Key)
	require.Equal(t, backfill.ReasonMissingParent, purchase.Orphans.Samples[0].Reason)

	note := tableReport(t, rep, "public.note")
	require.EqualValues(t, 20, note.Orphans.ByReason[backfill.ReasonNullFK])
	// Notes of orphan purchases are orphans too (their parent has no value).
	parentOrphans := pgtest.Scalar[int64](t, pool, `SELECT count(*) FROM note n JOIN purchase p ON p.id = n.purchase_id WHERE p.store_id IS NULL`)
	require.Positive(t, parentOrphans)
	require.Equal(t, parentOrphans, note.Orphans.ByReason[backfill.ReasonParentOrphan])
	require.Equal(t, 20+parentOrphans, pgtest.Scalar[int64](t, pool, "SELECT count(*) FROM note WHERE store_id IS NULL"))
	require.Zero(t, pgtest.Scalar[int64](t, pool, `SELECT count(*) FROM purchase pu JOIN product pr ON pr.id = pu.product_id WHERE pu.store_id IS DISTINCT FROM pr.store_id`))
	require.EqualValues(t, 60+note.Orphans.Count, rep.OrphanCount())

	// --set-not-null is refused while orphans remain.
	cfg := fastConfig()
	cfg.SetNotNull, cfg.KeepTriggers = true, true
	_, err := runBackfill(context.Background(), pool, p, cfg, nil)
	var oe *backfill.OrphansError
	require.ErrorAs(t, err, &oe)
	require.Contains(t, oe.Tables, "public.purchase")
	require.False(t, notNull(t, pool, "purchase", "store_id"))
}

func TestNamesNeedingQuotes(t *testing.T) {
	t.Parallel()
	pool, _ := source(t, `
CREATE SCHEMA "Sales Ops";
CREATE TABLE "Sales Ops"."Store" ("Store ID" bigint PRIMARY KEY);
CREATE TABLE "Sales Ops"."Product" ("select" bigint PRIMARY KEY, "Store ID" bigint NOT NULL REFERENCES "Sales Ops"."Store");
CREATE TABLE "Sales Ops"."Order Line" ("Line No" int, "Ord""er" text, "Product Ref" bigint NOT NULL REFERENCES "Sales Ops"."Product",
  PRIMARY KEY ("Line No", "Ord""er"));
CREATE TABLE "Sales Ops"."Ünïcode Note" (id int PRIMARY KEY, "Line No" int NOT NULL, "Ord""er" text NOT NULL,
  FOREIGN KEY ("Line No", "Ord""er") REFERENCES "Sales Ops"."Order Line");
INSERT INTO "Sales Ops"."Store" SELECT g FROM generate_series(1, 5) g;
INSERT INTO "Sales Ops"."Product" SELECT g, 1 + g % 5 FROM generate_series(1, 50) g;
INSERT INTO "Sales Ops"."Order Line" SELECT g, 'o''x' || (g % 3), 1 + g % 50 FROM generate_series(1, 3000) g;
INSERT INTO "Sales Ops"."Ünïcode Note" SELECT "Line No", "Line No", "Ord""er" FROM "Sales Ops"."Order Line";
ANALYZE;`)
	p := buildPlan(t, pool, plan.Config{TenantTable: `"Sales Ops"."Store"`})
	require.Equal(t, "Store ID", p.TenantColumn)
	rep := fill(t, pool, p, fastConfig())
	require.EqualValues(t, 3000, tableReport(t, rep, `"Sales Ops"."Order Line"`).RowsUpdated)
	require.EqualValues(t, 3000, tableReport(t, rep, `"Sales Ops"."Ünïcode Note"`).RowsUpdated)
	require.Zero(t, pgtest.Scalar[int64](t, pool, `SELECT count(*) FROM "Sales Ops"."Ünïcode Note" n
		JOIN "Sales Ops"."Order Line" l USING ("Line No", "Ord""er") JOIN "Sales Ops"."Product" p ON p."select" = l."Product Ref"
		WHERE n."Store ID" IS DISTINCT FROM p."Store ID" OR l."Store ID" IS DISTINCT FROM p."Store ID"`))
}

func TestDryRunChangesNothing(t *testing.T) {
	t.Parallel()
	pool, p := storeSource(t)
	cfg := fastConfig()
	cfg.DryRun, cfg.SetNotNull, cfg.KeepTriggers = true, true, true
	rep := fill(t, pool, p, cfg)
	require.True(t, rep.DryRun)
	purchase := tableReport(t, rep, "public.purchase")
	require.EqualValues(t, 12000, purchase.EstimatedRows)
	require.Contains(t, purchase.DDL[0], `ALTER TABLE "public"."purchase" ADD COLUMN IF NOT EXISTS "store_id" bigint`)
	require.Contains(t, purchase.BatchSQL[1], `UPDATE "public"."purchase" AS c SET "store_id" = p."store_id" FROM "public"."product" AS p`)
	require.Zero(t, pgtest.Scalar[int64](t, pool, `SELECT count(*) FROM pg_attribute WHERE attname = 'store_id' AND attrelid IN ('purchase'::regclass, 'refund'::regclass)`))
	require.Zero(t, pgtest.Scalar[int64](t, pool, `SELECT count(*) FROM pg_namespace WHERE nspname = 'tenantmover'`))
}

// --set-not-null adds the constraint through a validated check, and the
// kept trigger goes on filling rows the application inserts afterwards.
func TestSetNotNullKeepsTriggers(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	pool, p := storeSource(t)
	cfg := fastConfig()
	cfg.SetNotNull = true
	_, err := runBackfill(ctx, pool, p, cfg, nil)
	require.ErrorContains(t, err, "--keep-triggers")

	cfg.KeepTriggers = true
	rep := fill(t, pool, p, cfg)
	require.True(t, tableReport(t, rep, "public.refund").NotNullAdded)
	require.True(t, notNull(t, pool, "purchase", "store_id"))
	require.True(t, notNull(t, pool, "refund", "store_id"))
	require.Zero(t, pgtest.Scalar[int64](t, pool, `SELECT count(*) FROM pg_constraint WHERE conname LIKE 'tm\_%'`), "the helper check is dropped")
	require.Len(t, rep.DropTriggers, 4)

	pgtest.Exec(t, pool, `INSERT INTO purchase (product_id) VALUES (5); INSERT INTO refund (purchase_id) SELECT max(id) FROM purchase`)
	require.Zero(t, pgtest.Scalar[int64](t, pool, storeWrong))
	for _, s := range rep.DropTriggers {
		pgtest.Exec(t, pool, s)
	}
}

// A run stopped after some batches resumes where it stopped: the rerun
// walks only the keys after each unit's cursor, so the keys walked over
// both runs add up to the table exactly.
func TestResumeDoesNotRedoCommittedBatches(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	pool, p := storeSource(t)
	cfg := fastConfig()
	cfg.StopAfterBatches = 15
	first, err := runBackfill(ctx, pool, p, cfg, nil)
	require.ErrorIs(t, err, backfill.ErrStopped)
	done := tableReport(t, first, "public.purchase").RowsVisited
	require.Positive(t, done)
	require.Less(t, done, int64(12000))
	require.Positive(t, pgtest.Scalar[int64](t, pool, "SELECT count(*) FROM purchase WHERE store_id IS NULL"))
	require.Equal(t, "interrupted", pgtest.Scalar[string](t, pool, "SELECT status FROM tenantmover.runs"))

	cfg.StopAfterBatches = 0
	second := fill(t, pool, p, cfg)
	require.True(t, second.Resumed)
	purchase := tableReport(t, second, "public.purchase")
	require.Equal(t, done, purchase.RowsVisitedBefore, "the first run's report agrees with its checkpoints")
	require.EqualValues(t, 12000, purchase.RowsVisitedBefore+purchase.RowsVisited, "no key walked twice")
	require.EqualValues(t, 12000, pgtest.Scalar[int64](t, pool, "SELECT sum(rows) FROM tenantmover.units WHERE table_name = 'public.purchase'"))
	require.Zero(t, pgtest.Scalar[int64](t, pool, storeWrong))

	// Other options are refused unless --restart.
	_, err = runBackfill(ctx, pool, buildPlan(t, pool, plan.Config{TenantTable: "store", Excludes: []string{"refund"}}), fastConfig(), nil)
	var changed *checkpoints.ErrOptionsChanged
	require.ErrorAs(t, err, &changed)
}

func TestSecondProcessRefused(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	pool, p := storeSource(t)
	store, err := checkpoints.Open(ctx, pool)
	require.NoError(t, err)
	unlock, err := store.Lock(ctx, "backfill")
	require.NoError(t, err)
	defer unlock()
	_, err = runBackfill(ctx, pool, p, fastConfig(), nil)
	var locked *checkpoints.ErrRunLocked
	require.ErrorAs(t, err, &locked)
}

// An INVALID index left by an interrupted CREATE INDEX CONCURRENTLY is
// dropped and built again.
func TestInvalidIndexRebuilt(t *testing.T) {
	t.Parallel()
	pool, p := storeSource(t)
	rep := fill(t, pool, p, fastConfig())
	idx := tableReport(t, rep, "public.purchase").Index
	pgtest.Exec(t, pool, `UPDATE pg_index SET indisvalid = false WHERE indexrelid = $1::regclass`, idx)
	fill(t, pool, p, fastConfig())
	require.EqualValues(t, 1, pgtest.Scalar[int64](t, pool, `SELECT count(*) FROM pg_index WHERE indexrelid = $1::regclass AND indisvalid`, idx))
}

func TestConfigValidation(t *testing.T) {
	cfg, err := backfill.NewConfig(backfill.Config{})
	require.NoError(t, err)
	require.Equal(t, 2, cfg.Workers)
	require.Equal(t, backfill.DefaultBatchTime, cfg.BatchTime)
	for _, bad := range []backfill.Config{
		{Workers: -1},
		{MinBatchRows: 500, MaxBatchRows: 100},
		{MaxReplicaLag: -1},
		{SetNotNull: true},
		{SetNotNull: true, DryRun: true},
	} {
		_, err := backfill.NewConfig(bad)
		require.Error(t, err, "%+v", bad)
	}
	require.False(t, errors.Is(err, backfill.ErrStopped))
}

// A partitioned nested table: the trigger goes on the partitioned parent
// (PostgreSQL 13+), batches update through it, and no index is built
// (CREATE INDEX CONCURRENTLY cannot run on a partitioned table).
func TestPartitionedNestedTable(t *testing.T) {
	t.Parallel()
	pool, _ := source(t, `
CREATE TABLE store (id bigint PRIMARY KEY);
CREATE TABLE product (id bigint PRIMARY KEY, store_id bigint NOT NULL REFERENCES store);
CREATE TABLE event (id bigint, at date NOT NULL, product_id bigint NOT NULL REFERENCES product, PRIMARY KEY (id, at)) PARTITION BY RANGE (at);
CREATE TABLE event_2024 PARTITION OF event FOR VALUES FROM ('2024-01-01') TO ('2025-01-01');
CREATE TABLE event_2025 PARTITION OF event FOR VALUES FROM ('2025-01-01') TO ('2026-01-01');
INSERT INTO store SELECT g FROM generate_series(1, 10) g;
INSERT INTO product SELECT g, 1 + g % 10 FROM generate_series(1, 100) g;
INSERT INTO event SELECT g, date '2024-01-01' + (g % 700), 1 + g % 100 FROM generate_series(1, 6000) g;
ANALYZE;`)
	p := buildPlan(t, pool, plan.Config{TenantTable: "store"})
	cfg := fastConfig()
	cfg.KeepTriggers = true
	rep := fill(t, pool, p, cfg)
	event := tableReport(t, rep, "public.event")
	require.EqualValues(t, 6000, event.RowsUpdated)
	require.Empty(t, event.Index)
	pgtest.Exec(t, pool, `INSERT INTO event (id, at, product_id) VALUES (7000, '2025-06-01', 3)`)
	require.Zero(t, pgtest.Scalar[int64](t, pool, `SELECT count(*) FROM event e JOIN product p ON p.id = e.product_id WHERE e.store_id IS DISTINCT FROM p.store_id`))
}
