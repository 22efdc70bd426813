package backfill_test

import (
	"context"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/require"

	"github.com/tenantmover/tenantmover/backfill"
	"github.com/tenantmover/tenantmover/internal/pgtest"
	"github.com/tenantmover/tenantmover/internal/phase"
	"github.com/tenantmover/tenantmover/internal/plan"
)

var env pgtest.Env

func TestMain(m *testing.M) { env.Main(m) }

// source makes a database, runs ddl in it and returns a pool on it (of 8
// connections, where pgtest.Pool would size it by the CPUs).
func source(t *testing.T, ddl string) (*pgxpool.Pool, string) {
	t.Helper()
	url := env.NewDB(t)
	cfg, err := pgxpool.ParseConfig(url)
	require.NoError(t, err)
	cfg.MaxConns = 8
	pool, err := pgxpool.NewWithConfig(context.Background(), cfg)
	require.NoError(t, err)
	t.Cleanup(pool.Close)
	pgtest.Exec(t, pool, ddl)
	return pool, url
}

// storeSource is a source holding storeSchema followed by extra SQL, and
// its plan with --tenant-table store.
func storeSource(t *testing.T, extra ...string) (*pgxpool.Pool, *plan.Plan) {
	t.Helper()
	pool, _ := source(t, storeSchema+strings.Join(extra, ""))
	return pool, buildPlan(t, pool, plan.Config{TenantTable: "store"})
}

func buildPlan(t *testing.T, pool *pgxpool.Pool, cfg plan.Config) *plan.Plan {
	t.Helper()
	p, err := plan.Build(context.Background(), pool, cfg)
	require.NoError(t, err)
	return p
}

// fastConfig makes small, quick batches and several units even on test
// sized tables, so every code path runs many times.
func fastConfig() backfill.Config {
	return backfill.Config{
		BatchTime:    20 * time.Millisecond,
		MinBatchRows: 10,
		MaxBatchRows: 300,
		UnitRows:     1500,
		// Generous: a loaded test machine must not make ordinary
		// batches time out (TestBatchTimeoutHalvesAndRetries tests that).
		BatchTimeout: 10 * time.Second,
		Backoff:      phase.Backoff{Initial: 5 * time.Millisecond, Max: 50 * time.Millisecond},
	}
}

// runBackfill runs a backfill on pool's database under run "backfill".
func runBackfill(ctx context.Context, pool *pgxpool.Pool, p *plan.Plan, cfg backfill.Config, progress func(phase.Event)) (*backfill.Report, error) {
	return backfill.Run(ctx, &phase.Env{Source: pool.Config().ConnString(), Plan: p, Run: "backfill", Progress: progress}, cfg)
}

func fill(t *testing.T, pool *pgxpool.Pool, p *plan.Plan, cfg backfill.Config) *backfill.Report {
	t.Helper()
	rep, err := runBackfill(context.Background(), pool, p, cfg, nil)
	require.NoError(t, err)
	return rep
}

func tableReport(t *testing.T, rep *backfill.Report, name string) *backfill.TableReport {
	t.Helper()
	for _, tr := range rep.Tables {
		if tr.Table == name {
			return tr
		}
	}
	require.Failf(t, "table missing from report", "%s not in report", name)
	return nil
}

// storeFixture is the sample monolith's store group: refund is three hops
// from store (refund -> purchase -> product -> store), product is direct.
// It has 40 stores, 600 products and the given numbers of purchases and
// refunds, every refund of an existing purchase.
func storeFixture(purchases, refunds int) string {
	p, r := strconv.Itoa(purchases), strconv.Itoa(refunds)
	return `
CREATE TABLE store (id bigserial PRIMARY KEY, name text NOT NULL);
CREATE TABLE product (id bigserial PRIMARY KEY, store_id bigint NOT NULL REFERENCES store, name text);
CREATE TABLE purchase (id bigserial PRIMARY KEY, product_id bigint NOT NULL REFERENCES product, amount numeric(12,2));
CREATE TABLE refund (id bigserial PRIMARY KEY, purchase_id bigint NOT NULL REFERENCES purchase, amount numeric(12,2));
INSERT INTO store (name) SELECT 's' || g FROM generate_series(1, 40) g;
INSERT INTO product (store_id, name) SELECT 1 + (g * 7) % 40, 'p' || g FROM generate_series(1, 600) g;
INSERT INTO purchase (product_id, amount) SELECT 1 + (g * 13) % 600, g % 100 FROM generate_series(1, ` + p + `) g;
INSERT INTO refund (purchase_id, amount) SELECT 1 + (g * 31) % ` + p + `, 1 FROM generate_series(1, ` + r + `) g;
ANALYZE;
`
}

// storeSchema is the store fixture most tests use: 12000 purchases and
// 3000 refunds (their assertions count on these numbers).
var storeSchema = storeFixture(12000, 3000)

// onFilledPurchase is SQL that adds purchase.store_id ahead of the
// backfill, and an application trigger called name that runs the PL/pgSQL
// statement action on the first few purchases (times) it sees filled.
func onFilledPurchase(name string, times int, action string) string {
	return `
ALTER TABLE purchase ADD COLUMN store_id bigint;
CREATE SEQUENCE ` + name + `_calls;
CREATE FUNCTION ` + name + `() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF NEW.store_id IS NOT NULL AND nextval('` + name + `_calls') <= ` + strconv.Itoa(times) + ` THEN
    ` + action + `;
  END IF;
  RETURN NEW;
END $$;
CREATE TRIGGER ` + name + ` BEFORE UPDATE ON purchase FOR EACH ROW EXECUTE FUNCTION ` + name + `();`
}

// storeWrong counts purchase and refund rows whose store_id is not what
// their foreign-key chain says (NULL included).
const storeWrong = `SELECT
  (SELECT count(*) FROM purchase pu JOIN product pr ON pr.id = pu.product_id WHERE pu.store_id IS DISTINCT FROM pr.store_id) +
  (SELECT count(*) FROM refund r JOIN purchase pu ON pu.id = r.purchase_id JOIN product pr ON pr.id = pu.product_id
     WHERE r.store_id IS DISTINCT FROM pr.store_id)`

func notNull(t *testing.T, pool *pgxpool.Pool, table, column string) bool {
	t.Helper()
	return pgtest.Scalar[bool](t, pool, `SELECT attnotnull FROM pg_attribute WHERE attrelid = $1::regclass AND attname = $2`, table, column)
}
