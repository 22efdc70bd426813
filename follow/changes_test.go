package follow_test

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/require"

	"github.com/tenantmover/tenantmover/checkpoints"
	"github.com/tenantmover/tenantmover/follow"
	"github.com/tenantmover/tenantmover/internal/pgtest"
	"github.com/tenantmover/tenantmover/internal/plan"
	"github.com/tenantmover/tenantmover/migrate"
)

var storePlan = plan.Config{TenantTable: `"Store"`}

// Every kind of row change arrives: inserts, updates, deletes, an update
// that moves a row and its children to another tenant (another shard), an
// update of a key, rows of a table without a key, generated columns, and
// the reference table.
func TestEveryChangeKind(t *testing.T) {
	t.Parallel()
	f := startFollowing(t, classSchema, storePlan, follow.Config{})
	pgtest.Exec(t, f.src, fmt.Sprintf(`
		INSERT INTO product (sku, "Store_id", name, price, qty) VALUES ('new-1', '%[1]s', 'new', 3.50, 4);
		INSERT INTO line (sku, n) SELECT 'new-1', g FROM generate_series(1, 30) g;
		UPDATE product SET price = price * 2 WHERE sku IN ('sku-1', 'sku-2', 'sku-3');
		DELETE FROM line WHERE id <= 50;
		UPDATE line SET n = -n WHERE id BETWEEN 51 AND 60;
		INSERT INTO country VALUES ('it', 'Italy');
		UPDATE country SET name = 'Deutschland' WHERE code = 'de';
		DELETE FROM country WHERE code = 'fr';
		INSERT INTO event_log VALUES ('%[1]s', 'same'), ('%[1]s', 'other');
		DELETE FROM event_log WHERE ctid = (SELECT ctid FROM event_log WHERE msg = 'same' LIMIT 1);
		UPDATE event_log SET msg = 'changed' WHERE ctid = (SELECT ctid FROM event_log WHERE msg = 'same' LIMIT 1);`, store(1)))
	// The application moves a product and its lines to another store in
	// one transaction (the fill trigger fills only a missing tenant, so the
	// lines are moved by hand, as the target's composite keys require).
	pgtest.Exec(t, f.src, fmt.Sprintf(`BEGIN;
		UPDATE product SET "Store_id" = '%[1]s' WHERE sku = 'new-1';
		UPDATE line SET "Store_id" = '%[1]s' WHERE sku = 'new-1';
		COMMIT`, store(2)))
	// A key change: the row is deleted under the old key, inserted under
	// the new one.
	pgtest.Exec(t, f.src, `UPDATE product SET sku = 'renamed-5' WHERE sku = 'sku-5' AND NOT EXISTS (SELECT FROM line WHERE sku = 'sku-5')`)
	pgtest.Exec(t, f.src, fmt.Sprintf(`INSERT INTO product (sku, "Store_id", name, price, qty) VALUES ('lonely', '%s', 'x', 1, 1);
		UPDATE product SET sku = 'lonely-renamed' WHERE sku = 'lonely'`, store(3)))
	f.sync(t)
	f.requireSame(t)
	require.Equal(t, 30, pgtest.Scalar[int](t, f.dst, `SELECT count(*)::int FROM line WHERE sku = 'new-1' AND "Store_id" = $1`, store(2)),
		"the moved lines are under their new tenant")
	require.Zero(t, pgtest.Scalar[int](t, f.dst, `SELECT count(*)::int FROM line WHERE sku = 'new-1' AND "Store_id" <> $1`, store(2)),
		"and under no other")
	require.Zero(t, pgtest.Scalar[int](t, f.dst, `SELECT count(*)::int FROM product WHERE sku = 'lonely'`))
	require.EqualValues(t, 14, pgtest.Scalar[float64](t, f.dst, `SELECT total::float8 FROM product WHERE sku = 'new-1'`), "generated on the target")
}

// An update that leaves a TOASTed column alone arrives without its value
// (pgoutput's 'u'): the target keeps the value, never a placeholder or NULL.
func TestUnchangedToastKeepsItsValue(t *testing.T) {
	t.Parallel()
	f := startFollowing(t, classSchema, storePlan, follow.Config{})
	pgtest.Exec(t, f.src, `UPDATE product SET notes = (SELECT string_agg(md5(g::text || sku), '') FROM generate_series(1, 800) g) WHERE sku IN ('sku-7', 'sku-8')`)
	f.sync(t)
	pgtest.Exec(t, f.src, `UPDATE product SET price = 99 WHERE sku IN ('sku-7', 'sku-8')`)
	pgtest.Exec(t, f.src, `UPDATE product SET qty = 7 WHERE sku = 'sku-7'`)
	f.sync(t)
	require.Equal(t, 25600, pgtest.Scalar[int](t, f.dst, `SELECT length(notes) FROM product WHERE sku = 'sku-7'`))
	f.requireSame(t)
}

// A row whose key changes (here in a table whose key already holds the
// tenant, so the source sends only the old key) keeps its unchanged
// TOASTed value under the new key, within a tenant and to another one.
func TestKeyChangeKeepsUnchangedToast(t *testing.T) {
	t.Parallel()
	f := startFollowing(t, classSchema+`
		CREATE TABLE doc ("Store_id" uuid NOT NULL REFERENCES "Store" (id), slug text, body text, PRIMARY KEY ("Store_id", slug));
		INSERT INTO doc SELECT s.id, 'doc-' || i, 'short' FROM "Store" s, generate_series(1, 3) i;`, storePlan, follow.Config{})
	pgtest.Exec(t, f.src, `UPDATE doc SET body = (SELECT string_agg(md5(g::text || slug), '') FROM generate_series(1, 800) g)`)
	f.sync(t)
	pgtest.Exec(t, f.src, fmt.Sprintf(`UPDATE doc SET slug = slug || '-renamed' WHERE slug = 'doc-1';
		UPDATE doc SET "Store_id" = '%s', slug = 'moved' WHERE slug = 'doc-2' AND "Store_id" = '%s'`, store(4), store(1)))
	f.sync(t)
	require.Equal(t, 12, pgtest.Scalar[int](t, f.dst, `SELECT count(*)::int FROM doc WHERE length(body) = 25600`), "no body was nulled")
	f.requireSame(t)
}

// TRUNCATE stops the follower naming the table, unless --on-truncate apply.
func TestTruncate(t *testing.T) {
	t.Parallel()
	t.Run("refused", func(t *testing.T) {
		t.Parallel()
		f := startFollowing(t, classSchema, storePlan, follow.Config{})
		pgtest.Exec(t, f.src, `TRUNCATE country`)
		var te *follow.TruncateError
		require.ErrorAs(t, f.failure(t), &te)
		require.ErrorContains(t, te, "public.country")
		require.ErrorContains(t, te, "--on-truncate apply")
		require.Equal(t, 2, pgtest.Scalar[int](t, f.dst, `SELECT count(*)::int FROM country`), "nothing applied")
	})
	t.Run("applied", func(t *testing.T) {
		t.Parallel()
		f := startFollowing(t, classSchema, storePlan, follow.Config{OnTruncate: follow.TruncateApply})
		pgtest.Exec(t, f.src, `TRUNCATE country; INSERT INTO country VALUES ('es', 'Spain')`)
		f.sync(t)
		f.requireSame(t)
	})
}

// A column added on the source while following stops the follower naming
// the table and the column; nothing of the change is applied.
func TestSchemaChangeDetected(t *testing.T) {
	t.Parallel()
	f := startFollowing(t, classSchema, storePlan, follow.Config{})
	pgtest.Exec(t, f.src, `ALTER TABLE country ADD COLUMN capital text; INSERT INTO country VALUES ('pt', 'Portugal', 'Lisbon')`)
	var de *follow.DDLError
	require.ErrorAs(t, f.failure(t), &de)
	require.Equal(t, "public.country", de.Table)
	require.Equal(t, "capital", de.Column)
	require.Zero(t, pgtest.Scalar[int](t, f.dst, `SELECT count(*)::int FROM country WHERE code = 'pt'`))
}

// Before anything changes: a table without a key and without REPLICA
// IDENTITY FULL is refused with the exact fix, and so is a nested table
// whose fill trigger is gone; the source has no slot afterwards.
func TestPreflightRefuses(t *testing.T) {
	t.Parallel()
	srcURL := env.NewDB(t)
	cdb := env.NewCitusDB(t)
	src := pgtest.Pool(t, srcURL)
	pgtest.Exec(t, src, classSchema+`ALTER TABLE event_log REPLICA IDENTITY DEFAULT;`)
	f := &followed{srcURL: srcURL, dstURL: cdb.Coordinator, src: src, dst: pgtest.Pool(t, cdb.Coordinator), pcfg: storePlan}
	f.start(t, follow.Config{})
	err := f.failure(t)
	var pe *follow.PreflightError
	require.ErrorAs(t, err, &pe, "%v", err)
	require.ErrorContains(t, err, `ALTER TABLE public.event_log REPLICA IDENTITY FULL`)
	require.Zero(t, pgtest.Scalar[int](t, src, `SELECT count(*)::int FROM pg_replication_slots WHERE database = current_database()`))
	require.False(t, errors.Is(err, context.Canceled))
}

// A batch writes upserts before deletes; when that order breaks a
// constraint the source's order kept (a unique name freed and taken in one
// batch), the follower applies the same changes again in source order.
func TestReorderedBatchFallsBackToSourceOrder(t *testing.T) {
	t.Parallel()
	f := startFollowing(t, classSchema, storePlan, follow.Config{BatchTime: time.Hour, BatchRows: 1_000_000})
	pgtest.Exec(t, f.src, `DELETE FROM country WHERE code = 'de'`)
	pgtest.Exec(t, f.src, `INSERT INTO country VALUES ('xx', 'Germany')`)
	f.sync(t)
	f.requireSame(t)
	require.Equal(t, "xx", pgtest.Scalar[string](t, f.dst, `SELECT code FROM country WHERE name = 'Germany'`))
	require.True(t, f.noted("in source order"), "the batch was applied again in source order: %q", f.notes)
}

// A cutover whose fence the follower does not reach within the timeout
// (here: a follower that holds the stream but applies nothing) releases
// the locks and changes nothing: the source takes writes, the slot stays.
func TestCutoverTimeoutChangesNothing(t *testing.T) {
	t.Parallel()
	f := startFollowing(t, classSchema, storePlan, follow.Config{})
	f.cancel() // the follower stops...
	require.ErrorIs(t, f.failure(t), context.Canceled)
	unlock, err := checkpoints.Attach(f.dst).Lock(context.Background(), "follow:"+migrate.DefaultRun) // ...but its stream looks held
	require.NoError(t, err)
	defer unlock()
	pgtest.Exec(t, f.src, `UPDATE product SET qty = 1 WHERE sku = 'sku-9'`)

	_, err = follow.Cutover(context.Background(), follow.CutoverConfig{Source: f.srcURL, Target: f.dstURL, Plan: f.plan(t),
		Stream: migrate.DefaultRun, Timeout: 2 * time.Second})
	var nr *follow.NotReachedError
	require.ErrorAs(t, err, &nr)
	require.ErrorContains(t, err, "nothing changed")
	pgtest.Exec(t, f.src, `UPDATE product SET qty = 2 WHERE sku = 'sku-9'`) // writes go on
	require.Zero(t, pgtest.Scalar[int](t, f.src, `SELECT count(*)::int FROM pg_trigger WHERE tgname = 'tenantmover_cutover'`))
	require.Equal(t, 1, pgtest.Scalar[int](t, f.src, `SELECT count(*)::int FROM pg_replication_slots WHERE database = current_database()`))
}

// The source describes a relation again after any invalidation of it (an
// ANALYZE that changed its statistics, a new index, a GRANT): changes of
// the same row before and after that, in one batch, still arrive in source
// order, the last one winning.
func TestRedescribedRelationKeepsOrder(t *testing.T) {
	t.Parallel()
	f := startFollowing(t, classSchema, storePlan, follow.Config{BatchTime: time.Minute})
	var stmts []string
	for i := 1; i <= 16; i++ {
		stmts = append(stmts, fmt.Sprintf(`UPDATE product SET qty = %d WHERE sku = 'sku-1'`, i))
		switch i % 4 {
		case 1, 3: // described again, unchanged
			stmts = append(stmts, fmt.Sprintf(`ALTER TABLE product ALTER COLUMN qty SET STATISTICS %d`, 100+i))
		case 2: // described again, changed
			stmts = append(stmts, `ALTER TABLE product REPLICA IDENTITY DEFAULT`)
		case 0:
			stmts = append(stmts, `ALTER TABLE product REPLICA IDENTITY FULL`)
		}
	}
	for _, s := range stmts {
		pgtest.Exec(t, f.src, s)
	}
	f.sync(t)
	require.Equal(t, 16, pgtest.Scalar[int](t, f.dst, `SELECT qty FROM product WHERE sku = 'sku-1'`), "the last update wins")
	f.requireSame(t)
}

// A target trigger made while the follower was stopped would fire on every
// replayed change: the restarted follower stops at the first change of its
// table, naming the trigger, and applies nothing of it; with the trigger
// disabled the rerun applies the change as the source made it.
func TestTargetTriggerStopsTheFollower(t *testing.T) {
	t.Parallel()
	f := startFollowing(t, classSchema, storePlan, follow.Config{})
	f.stop(t)
	unsafeTriggers(t, f.dst, `CREATE FUNCTION bump_n() RETURNS trigger LANGUAGE plpgsql AS $$BEGIN NEW.n := NEW.n + 1000; RETURN NEW; END$$`,
		`CREATE TRIGGER bump BEFORE INSERT OR UPDATE ON line FOR EACH ROW EXECUTE FUNCTION bump_n()`)
	pgtest.Exec(t, f.src, `INSERT INTO line (sku, n) VALUES ('sku-7', 5000)`)

	f.start(t, follow.Config{})
	var te *follow.TriggerError
	err := f.failure(t)
	require.ErrorAs(t, err, &te, "%v", err)
	require.Equal(t, "public.line", te.Table)
	require.Equal(t, []string{"bump on public.line"}, te.Triggers)
	require.ErrorContains(t, err, "ALTER TABLE public.line DISABLE TRIGGER USER")
	require.Zero(t, pgtest.Scalar[int](t, f.dst, `SELECT count(*)::int FROM line WHERE n IN (5000, 6000)`))

	unsafeTriggers(t, f.dst, `ALTER TABLE line DISABLE TRIGGER USER`)
	f.start(t, follow.Config{})
	waitFollowing(t, f.dst, migrate.DefaultRun, f.ended)
	f.sync(t)
	f.requireSame(t)
	require.Equal(t, 1, pgtest.Scalar[int](t, f.dst, `SELECT count(*)::int FROM line WHERE n = 5000`))
}

// unsafeTriggers runs statements on one target connection with
// citus.enable_unsafe_triggers on, which Citus requires for triggers on
// distributed tables.
func unsafeTriggers(t *testing.T, dst *pgxpool.Pool, statements ...string) {
	t.Helper()
	conn, err := dst.Acquire(context.Background())
	require.NoError(t, err)
	defer conn.Release()
	for _, s := range append([]string{`SET citus.enable_unsafe_triggers TO on`}, statements...) {
		pgtest.Exec(t, conn, s)
	}
	pgtest.Exec(t, conn, `RESET citus.enable_unsafe_triggers`)
}
