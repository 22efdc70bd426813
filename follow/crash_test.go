package follow_test

import (
	"context"
	"errors"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/require"

	"github.com/tenantmover/tenantmover/follow"
	"github.com/tenantmover/tenantmover/internal/pgtest"
	"github.com/tenantmover/tenantmover/internal/phase"
	"github.com/tenantmover/tenantmover/internal/plan"
	"github.com/tenantmover/tenantmover/internal/sample"
	"github.com/tenantmover/tenantmover/migrate"
)

// A restart of the source server while following: the follower loses its
// replication connection, reconnects, and continues from the last
// committed position; what was written before and after arrives once.
func TestSourceRestartWhileFollowing(t *testing.T) {
	t.Parallel()
	srv, err := pgtest.Start(pgtest.Options{Settings: map[string]string{"wal_level": "logical", "max_replication_slots": "4", "max_wal_senders": "4"}})
	require.NoError(t, err)
	t.Cleanup(func() { _ = srv.Close() })
	require.NoError(t, srv.CreateDatabase(context.Background(), "shop"))
	f := startFollowingFrom(t, srv.URL("shop"), classSchema, storePlan, follow.Config{})
	pgtest.Exec(t, f.src, `INSERT INTO line (sku, n) SELECT 'sku-1', g FROM generate_series(1, 100) g`)
	f.sync(t)
	f.src.Reset() // the pool's connections die with the server
	require.NoError(t, srv.Restart())
	pgtest.Exec(t, f.src, `INSERT INTO line (sku, n) SELECT 'sku-2', g FROM generate_series(1, 100) g; UPDATE product SET qty = 9 WHERE sku = 'sku-3'`)
	f.sync(t)
	f.requireSame(t)
	require.True(t, f.noted("reconnecting"), "the follower reconnected: %q", f.notes)
}

// A crash during the copy loses the slot's exported snapshot with its
// connection: the rerun starts the copy over from a new slot, emptying the
// target first, and with the application writing throughout, nothing is
// lost or duplicated.
func TestCrashDuringTheCopyStartsItOver(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	srcURL := sampleSource(t, sample.Small())
	cdb := env.NewCitusDB(t)
	src, dst := pgtest.Pool(t, srcURL), pgtest.Pool(t, cdb.Coordinator)
	w := startWriter(t, src)
	cfg := migrate.Config{Source: srcURL, Target: cdb.Coordinator, Plan: plan.Config{TenantTable: "store"}, Follow: &follow.Config{}}
	cfg.Copy.ChunkRows, cfg.Copy.Workers = 3000, 2

	// First run: killed once the copy committed a chunk.
	crashed, cancel := context.WithCancel(ctx)
	ended := make(chan error, 1)
	go func() { _, err := migrate.Run(crashed, cfg); ended <- err }()
	awaitCopiedChunk(t, dst, ended)
	cancel()
	require.ErrorIs(t, <-ended, context.Canceled)

	var notes noteLog
	cfg.Progress = notes.add
	rerun, stop := context.WithCancel(ctx)
	defer stop()
	ended = make(chan error, 1)
	go func() { _, err := migrate.Run(rerun, cfg); ended <- err }()
	waitFollowing(t, dst, migrate.DefaultRun, ended)
	w.waitMore(t, 100)
	p, err := plan.Build(ctx, src, plan.Config{TenantTable: "store"})
	require.NoError(t, err)
	rep, err := follow.Cutover(ctx, follow.CutoverConfig{Source: srcURL, Target: cdb.Coordinator, Plan: p, Stream: migrate.DefaultRun, Verify: follow.VerifyAll})
	var ve *follow.VerifyError
	if errors.As(err, &ve) {
		t.Fatalf("%v: %+v", err, ve.Result.Differences)
	}
	require.NoError(t, err)
	require.NoError(t, <-ended)
	acked := w.stop(t)
	require.True(t, rep.Verify.Match, "%+v", rep.Verify.Differences)
	for _, id := range acked {
		require.Equal(t, 1, pgtest.Scalar[int](t, dst, `SELECT count(*)::int FROM purchase WHERE id = $1`, id), "acknowledged purchase %d", id)
	}
	require.True(t, notes.has("starts over from a new slot"), "%q", notes.all())
}

// awaitCopiedChunk waits until the copy phase committed a chunk.
func awaitCopiedChunk(t *testing.T, dst *pgxpool.Pool, ended <-chan error) {
	t.Helper()
	for {
		select {
		case err := <-ended:
			t.Fatalf("migrate ended before the copy committed a chunk: %v", err)
		case <-time.After(20 * time.Millisecond):
		}
		var n int
		err := dst.QueryRow(context.Background(), `SELECT count(*)::int FROM tenantmover.units WHERE phase = 'copy' AND state = 'done'`).Scan(&n)
		if err == nil && n > 0 {
			return
		}
	}
}

// One source transaction of many rows streams through in flat memory: the
// follower writes it in groups of FlushRows into one target transaction,
// never holding it whole. Not parallel: the heap is the whole test
// process's, so this test runs alone.
func TestLargeTransactionInFlatMemory(t *testing.T) {
	f := startFollowing(t, classSchema, storePlan, follow.Config{FlushRows: 2_000})
	const rows = 300_000
	runtime.GC()
	var base runtime.MemStats
	runtime.ReadMemStats(&base)
	var peak atomic.Uint64
	stop, sampled := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(sampled)
		var m runtime.MemStats
		for {
			runtime.ReadMemStats(&m)
			if m.HeapInuse > peak.Load() {
				peak.Store(m.HeapInuse)
			}
			select {
			case <-stop:
				return
			case <-time.After(10 * time.Millisecond):
			}
		}
	}()
	pgtest.Exec(t, f.src, `INSERT INTO line (sku, n) SELECT 'sku-' || (1 + g % 200), g FROM generate_series(1, $1::int) g`, rows)
	f.sync(t)
	close(stop)
	<-sampled
	require.Equal(t, 1000+rows, pgtest.Scalar[int](t, f.dst, `SELECT count(*)::int FROM line`))
	// Held whole, 300,000 decoded rows would take about 75 MB; in groups
	// of 2,000 the heap grows by a few MB.
	growth := int64(peak.Load()) - int64(base.HeapInuse)
	t.Logf("heap grew by %.1f MB while applying a %d-row transaction", float64(growth)/(1<<20), rows)
	require.Less(t, growth, int64(32<<20), "heap grew by %d MB", growth>>20)
}

// noteLog collects a migration's notes.
type noteLog struct {
	mu    sync.Mutex
	notes []string
}

func (l *noteLog) add(ev phase.Event) {
	if ev.Kind == phase.Note {
		l.mu.Lock()
		l.notes = append(l.notes, ev.Message)
		l.mu.Unlock()
	}
}

func (l *noteLog) all() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]string{}, l.notes...)
}

func (l *noteLog) has(s string) bool {
	for _, n := range l.all() {
		if strings.Contains(n, s) {
			return true
		}
	}
	return false
}
