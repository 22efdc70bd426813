package follow_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/require"

	"github.com/tenantmover/tenantmover/checkpoints"
	"github.com/tenantmover/tenantmover/follow"
	"github.com/tenantmover/tenantmover/internal/pgtest"
	"github.com/tenantmover/tenantmover/internal/phase"
	"github.com/tenantmover/tenantmover/internal/plan"
	"github.com/tenantmover/tenantmover/internal/sample"
	"github.com/tenantmover/tenantmover/migrate"
	"github.com/tenantmover/tenantmover/verify"
)

// A followed migration with the application writing from before the
// backfill until after the cutover: every write the source acknowledged
// is on the target, every write after the cutover is refused by the
// source, and no slot or publication is left behind.
func TestMigrateFollowCutoverWithWriter(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	srcURL := sampleSource(t, sample.Small())
	cdb := env.NewCitusDB(t)
	src := pgtest.Pool(t, srcURL)

	w := startWriter(t, src)
	migrated := make(chan error, 1)
	mctx, cancel := context.WithCancel(ctx)
	defer cancel()
	go func() {
		_, err := migrate.Run(mctx, migrate.Config{Source: srcURL, Target: cdb.Coordinator,
			Plan: plan.Config{TenantTable: "store"}, Follow: &follow.Config{}})
		migrated <- err
	}()
	dst := pgtest.Pool(t, cdb.Coordinator)
	waitFollowing(t, dst, "migrate", migrated)
	w.waitMore(t, 200) // changes made while following

	p, err := plan.Build(ctx, src, plan.Config{TenantTable: "store"})
	require.NoError(t, err)
	rep, err := follow.Cutover(ctx, follow.CutoverConfig{Source: srcURL, Target: cdb.Coordinator, Plan: p, Stream: "migrate"})
	var ve *follow.VerifyError
	if errors.As(err, &ve) {
		for _, d := range ve.Result.Differences {
			for _, k := range d.Keys {
				q := fmt.Sprintf(`SELECT row_to_json(r)::text FROM %s r WHERE id = $1::bigint`, d.Table)
				t.Logf("%s key %v: source %s, target %s", d.Table, k, pgtest.Scalar[string](t, src, q, k), pgtest.Scalar[string](t, dst, q, k))
			}
		}
		t.Fatalf("%v: %+v", err, ve.Result.Differences)
	}
	require.NoError(t, err)
	require.NoError(t, <-migrated, "the follower ends at the cutover")
	acked := w.stop(t)

	require.Greater(t, rep.PauseSeconds, 0.0)
	require.NotEmpty(t, rep.Tenants, "the follower recorded the tenants it changed")
	require.NotNil(t, rep.Verify)
	require.True(t, rep.Verify.Match)
	require.ErrorContains(t, w.refused, "was cut over to Citus", "the source refuses writes after the cutover")
	for _, id := range acked {
		require.Equal(t, 1, pgtest.Scalar[int](t, dst, `SELECT count(*)::int FROM purchase WHERE id = $1`, id), "acknowledged purchase %d", id)
	}
	res, err := verify.Run(ctx, &phase.Env{Source: srcURL, Target: cdb.Coordinator, Plan: p}, verify.Config{Checksum: true})
	require.NoError(t, err)
	require.True(t, res.Match, "%+v", res.Differences)
	require.Zero(t, pgtest.Scalar[int](t, src, `SELECT count(*)::int FROM pg_replication_slots WHERE slot_name LIKE 'tenantmover%' AND database = current_database()`))
	require.Zero(t, pgtest.Scalar[int](t, src, `SELECT count(*)::int FROM pg_publication WHERE pubname LIKE 'tenantmover%'`))
}

func sampleSource(t *testing.T, p sample.Params) string {
	t.Helper()
	url := env.NewDB(t)
	pool := pgtest.Pool(t, url)
	require.NoError(t, sample.Generate(context.Background(), pool, p))
	return url
}

// waitFollowing waits until the run's follow phase is running, or the
// migration ended.
func waitFollowing(t *testing.T, dst *pgxpool.Pool, run string, ended <-chan error) {
	t.Helper()
	store := checkpoints.Attach(dst)
	for {
		select {
		case err := <-ended:
			t.Fatalf("migrate ended before following: %v", err)
		case <-time.After(100 * time.Millisecond):
		}
		st, err := store.Status(context.Background(), run)
		if err != nil || len(st) == 0 {
			continue
		}
		for _, ph := range st[0].Phases {
			if ph.Phase == follow.Name && ph.State == checkpoints.Running {
				return
			}
		}
	}
}

// writer is the application: it inserts purchases, updates products and
// deletes refunds, in small transactions, until stopped or refused.
type writer struct {
	mu      sync.Mutex
	acked   []int64 // purchases whose insert committed
	n       int
	refused error
	stopc   chan struct{}
	done    chan struct{}
	more    chan struct{}
}

func startWriter(t *testing.T, src *pgxpool.Pool) *writer {
	w := &writer{stopc: make(chan struct{}), done: make(chan struct{}), more: make(chan struct{}, 1)}
	go w.run(src)
	t.Cleanup(func() { w.stop(t) })
	return w
}

func (w *writer) run(src *pgxpool.Pool) {
	defer close(w.done)
	ctx := context.Background()
	// About 200 transactions a second: an application's steady load, the
	// same cost on a loaded machine as on an idle one.
	pace := time.NewTicker(5 * time.Millisecond)
	defer pace.Stop()
	for i := 0; ; i++ {
		select {
		case <-w.stopc:
			return
		case <-pace.C:
		}
		var id int64
		err := src.QueryRow(ctx, `WITH p AS (SELECT id FROM product ORDER BY random() LIMIT 1)
			INSERT INTO purchase (product_id, ordered_at, amount) SELECT id, now(), 9.99 FROM p RETURNING id`).Scan(&id)
		if err == nil {
			_, err = src.Exec(ctx, `UPDATE product SET price = price + 1 WHERE id = (SELECT id FROM product ORDER BY random() LIMIT 1)`)
		}
		if err == nil && i%5 == 0 {
			_, err = src.Exec(ctx, `DELETE FROM refund WHERE id = (SELECT min(id) FROM refund)`)
		}
		w.mu.Lock()
		if err != nil {
			w.refused = err
			w.mu.Unlock()
			if errors.Is(err, context.Canceled) {
				return
			}
			// Refused (the cutover's guard) or blocked: a refusal ends it.
			if strings.Contains(err.Error(), "cut over") {
				return
			}
			continue
		}
		w.acked = append(w.acked, id)
		w.n++
		w.mu.Unlock()
		select {
		case w.more <- struct{}{}:
		default:
		}
	}
}

// waitMore waits until the writer committed n more transactions.
func (w *writer) waitMore(t *testing.T, n int) {
	w.mu.Lock()
	target := w.n + n
	w.mu.Unlock()
	for {
		w.mu.Lock()
		got := w.n
		w.mu.Unlock()
		if got >= target {
			return
		}
		select {
		case <-w.more:
		case <-w.done:
			t.Fatalf("the writer stopped: %v", w.refused)
		}
	}
}

// stop ends the writer and returns the acknowledged purchases.
func (w *writer) stop(t *testing.T) []int64 {
	select {
	case <-w.stopc:
	default:
		close(w.stopc)
	}
	<-w.done
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.acked
}

// The cutover compares the changed tenants before it blocks writes, and
// with writes blocked only those changed since (and the tables without
// tenants): a tenant changed late is verified in the pause, and a
// difference in it stops the cutover; the tenants unchanged since are
// not compared again.
func TestCutoverVerifiesLateChangesInThePause(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	f := startFollowing(t, classSchema, storePlan, follow.Config{})
	pgtest.Exec(t, f.src, `UPDATE product SET qty = qty + 1`) // every tenant changed
	f.sync(t)
	late := func(tenant int, tamper bool) func(phase.Event) {
		return func(ev phase.Event) {
			switch {
			case strings.HasPrefix(ev.Message, "compared") && strings.Contains(ev.Message, "before blocking writes"):
				pgtest.Exec(t, f.src, `UPDATE product SET qty = qty + 1 WHERE "Store_id" = $1`, store(tenant))
			case tamper && strings.HasPrefix(ev.Message, "writes blocked"):
				// a row the late change does not touch
				pgtest.Exec(t, f.dst, `UPDATE line SET n = -1 WHERE "Store_id" = $1 AND id = (SELECT min(id) FROM line WHERE "Store_id" = $1)`, store(tenant))
			}
		}
	}
	cfg := follow.CutoverConfig{Source: f.srcURL, Target: f.dstURL, Plan: f.plan(t), Stream: migrate.DefaultRun}

	cfg.Progress = late(2, true)
	_, err := follow.Cutover(ctx, cfg)
	var ve *follow.VerifyError
	require.ErrorAs(t, err, &ve, "the late tenant's difference is found in the pause")
	require.NotEmpty(t, ve.Result.Differences)
	for _, d := range ve.Result.Differences {
		require.Equal(t, store(2), d.Tenant)
	}

	pgtest.Exec(t, f.src, `UPDATE line SET n = n WHERE "Store_id" = $1`, store(2)) // the follower rewrites them
	f.sync(t)
	cfg.Progress = late(3, false)
	rep, err := follow.Cutover(ctx, cfg)
	if errors.As(err, &ve) {
		t.Fatalf("%v: %+v", err, ve.Result.Differences)
	}
	require.NoError(t, err)
	require.NotNil(t, rep.EarlyVerify)
	require.Equal(t, 1, rep.VerifiedTenants, "only the tenant changed after the early comparison")
	require.True(t, rep.Verify.Match)
	require.NoError(t, <-f.ended)
	f.ended <- nil
	f.requireSame(t)
}
