package backfill_test

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"golang.org/x/sync/errgroup"

	"github.com/tenantmover/tenantmover/internal/pgtest"
	"github.com/tenantmover/tenantmover/internal/phase"
	"github.com/tenantmover/tenantmover/internal/plan"
)

// writes is what the application does while the backfill runs: new
// purchases and refunds without a store_id, purchases moved to another
// product of the same store, refunds moved to any purchase (another
// store's, so the trigger must recompute), and plain updates that touch
// rows the batches are filling.
var writes = []string{
	`INSERT INTO purchase (product_id, amount) VALUES (1 + (random() * 599)::int, 1)`,
	`INSERT INTO refund (purchase_id, amount) SELECT id, 1 FROM purchase WHERE id > (SELECT max(id) - 100 FROM purchase) ORDER BY random() LIMIT 1`,
	`UPDATE purchase SET product_id = (SELECT p2.id FROM product p1 JOIN product p2 USING (store_id) WHERE p1.id = purchase.product_id ORDER BY random() LIMIT 1)
	   WHERE id = 1 + (random() * 11999)::int`,
	`UPDATE refund SET purchase_id = 1 + (random() * 11999)::int WHERE id = 1 + (random() * 2999)::int`,
	`UPDATE purchase SET amount = amount + 1 WHERE id = 1 + (random() * 11999)::int`,
}

const writers = 4

// While writers insert and update child rows during the whole backfill,
// afterwards no row lacks its value and every value is the one its chain
// implies.
func TestOnlineWithConcurrentWriters(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	pool, url := source(t, storeSchema)
	p := buildPlan(t, pool, plan.Config{TenantTable: "store"})
	app := pgtest.Pool(t, url)

	writeCtx, stop := context.WithCancel(ctx)
	var mu sync.Mutex
	done := 0
	started := make(chan struct{}, writers)
	g, gctx := errgroup.WithContext(writeCtx)
	for w := 0; w < writers; w++ {
		g.Go(func() error {
			for i := 0; ; i++ {
				_, err := app.Exec(gctx, writes[(i+w)%len(writes)])
				if gctx.Err() != nil {
					return nil
				}
				if err != nil {
					return err
				}
				mu.Lock()
				done++
				mu.Unlock()
				if i == len(writes) {
					started <- struct{}{}
				}
			}
		})
	}
	for w := 0; w < writers; w++ {
		<-started // every writer is running before the backfill starts
	}
	cfg := fastConfig()
	cfg.MaxBatchRows = 100
	// The application goes on writing after the backfill, so the
	// triggers must stay (without them new rows would have no value).
	cfg.KeepTriggers = true
	// Writes committed between the backfill's first and last committed
	// batch: the progress callback runs after each batch's commit.
	first, last := -1, -1
	rep, runErr := runBackfill(ctx, pool, p, cfg, func(ev phase.Event) {
		if ev.Kind != phase.Advanced {
			return
		}
		mu.Lock()
		defer mu.Unlock()
		if first < 0 {
			first = done
		}
		last = done
	})
	stop()
	during := last - first
	require.NoError(t, g.Wait())
	require.NoError(t, runErr)

	require.GreaterOrEqual(t, first, 0, "batches committed")
	require.Greater(t, during, writers*len(writes), "the writers kept writing between the first and the last batch")
	require.Zero(t, pgtest.Scalar[int64](t, pool, "SELECT count(*) FROM purchase WHERE store_id IS NULL"))
	require.Zero(t, pgtest.Scalar[int64](t, pool, "SELECT count(*) FROM refund WHERE store_id IS NULL"))
	require.Zero(t, pgtest.Scalar[int64](t, pool, storeWrong))
	require.Zero(t, rep.OrphanCount())
	t.Logf("writes during backfill: %d; retries: purchase %d, refund %d", during,
		tableReport(t, rep, "public.purchase").Retries, tableReport(t, rep, "public.refund").Retries)
}

// Lock timeouts are retried with a smaller batch; a row lock held longer
// than all retries fails the run with a clear error that says to rerun.
func TestLockTimeoutRetriedThenGivesUp(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	pool, url := source(t, storeSchema)
	p := buildPlan(t, pool, plan.Config{TenantTable: "store"})
	tx, err := pgtest.Pool(t, url).Begin(ctx)
	require.NoError(t, err)
	defer tx.Rollback(ctx)
	// Add the column first, so the held row lock does not block ADD COLUMN.
	pgtest.Exec(t, pool, "ALTER TABLE purchase ADD COLUMN store_id bigint")
	pgtest.Exec(t, tx, "SELECT * FROM purchase WHERE id = 5000 FOR UPDATE")

	cfg := fastConfig()
	cfg.LockTimeout = 20_000_000 // 20ms
	cfg.MaxRetries = 4
	rep, err := runBackfill(ctx, pool, p, cfg, nil)
	require.Error(t, err)
	require.Contains(t, err.Error(), "giving up after 4 attempts (lock timeout)")
	require.Contains(t, err.Error(), "rerun to resume")
	require.GreaterOrEqual(t, tableReport(t, rep, "public.purchase").Retries, 3)

	// Once the application lets go, a rerun finishes the job.
	require.NoError(t, tx.Rollback(ctx))
	fill(t, pool, p, fastConfig())
	require.Zero(t, pgtest.Scalar[int64](t, pool, storeWrong))
}

// With --max-replica-lag and no replicas the lag check runs before every
// batch and never waits.
func TestReplicaLagCheckWithoutReplicas(t *testing.T) {
	t.Parallel()
	pool, p := storeSource(t)
	cfg := fastConfig()
	cfg.MaxReplicaLag = 1_000_000 // 1ms: any real replica would trip it
	rep := fill(t, pool, p, cfg)
	require.Zero(t, rep.ReplicaPauseSeconds)
	batches := tableReport(t, rep, "public.purchase").Batches + tableReport(t, rep, "public.refund").Batches
	require.Positive(t, batches)
	require.Equal(t, batches, rep.ReplicaLagChecks, "the lag was read before every batch, once each (no replica, no wait)")
	require.Zero(t, pgtest.Scalar[int64](t, pool, storeWrong))
}

func TestCancelledRunIsInterrupted(t *testing.T) {
	t.Parallel()
	pool, p := storeSource(t)
	ctx, cancel := context.WithCancel(context.Background())
	batches := 0
	_, err := runBackfill(ctx, pool, p, fastConfig(), func(ev phase.Event) {
		if ev.Kind == phase.Advanced {
			if batches++; batches == 5 {
				cancel()
			}
		}
	})
	require.True(t, errors.Is(err, context.Canceled), "%v", err)
	require.Equal(t, "interrupted", pgtest.Scalar[string](t, pool, "SELECT status FROM tenantmover.runs"))
	fill(t, pool, p, fastConfig())
	require.Zero(t, pgtest.Scalar[int64](t, pool, storeWrong))
}

// A backend killed in the middle of a batch (here by a trigger of the
// application's that terminates its own session the first three times it
// sees a filled row) is a lost connection: the batch is retried from the
// checkpointed cursor and the result is complete and counted once.
func TestLostConnectionRetried(t *testing.T) {
	t.Parallel()
	pool, p := storeSource(t, onFilledPurchase("kill_session", 3, "PERFORM pg_terminate_backend(pg_backend_pid())"))
	rep := fill(t, pool, p, fastConfig())
	purchase := tableReport(t, rep, "public.purchase")
	require.GreaterOrEqual(t, purchase.Retries, 3)
	require.EqualValues(t, 12000, purchase.RowsVisited)
	require.EqualValues(t, 12000, pgtest.Scalar[int64](t, pool, "SELECT sum(rows) FROM tenantmover.units WHERE table_name = 'public.purchase'"))
	require.Zero(t, pgtest.Scalar[int64](t, pool, storeWrong))
}

// A batch that runs past the batch timeout (here an application trigger
// that stalls on the first two rows it sees) is cancelled, so it stops
// holding its row locks, and retried with half the rows.
func TestBatchTimeoutHalvesAndRetries(t *testing.T) {
	t.Parallel()
	pool, p := storeSource(t, onFilledPurchase("stall", 2, "PERFORM pg_sleep(30)"))
	cfg := fastConfig()
	cfg.BatchTimeout = 300 * time.Millisecond
	rep := fill(t, pool, p, cfg)
	purchase := tableReport(t, rep, "public.purchase")
	require.GreaterOrEqual(t, purchase.Retries, 2)
	require.EqualValues(t, 12000, purchase.RowsVisited)
	require.Zero(t, pgtest.Scalar[int64](t, pool, storeWrong))
}
