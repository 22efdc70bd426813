package pgcopy_test

import (
	"context"
	"sync"
	"testing"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/require"

	pgcopy "github.com/tenantmover/tenantmover/copy"
	"github.com/tenantmover/tenantmover/internal/db"
	"github.com/tenantmover/tenantmover/internal/pgtest"
	"github.com/tenantmover/tenantmover/internal/phase"
	"github.com/tenantmover/tenantmover/internal/plan"
)

// The target backend of a chunk is terminated from another session while
// its COPY is running, twice: each time the chunk's transaction is lost,
// the chunk is retried on a new connection, and the run completes with
// every row exactly once.
func TestTargetConnectionLostMidChunkIsRetried(t *testing.T) {
	t.Parallel()
	srcURL, dstURL, src, dst, p := monolithPair(t, tinyMonolith())
	terminateMidChunk(t, srcURL, dstURL, src, dst, p)
}

// The same with the Citus coordinator's backend terminated: the
// distributed transaction of the chunk aborts on every worker.
func TestCoordinatorConnectionLostMidChunkIsRetried(t *testing.T) {
	t.Parallel()
	srcURL, dstURL, p := citusPair(t, tinyMonolith())
	terminateMidChunk(t, srcURL, dstURL, pgtest.Pool(t, srcURL), pgtest.Pool(t, dstURL), p)
}

func terminateMidChunk(t *testing.T, srcURL, dstURL string, src, dst *pgxpool.Pool, p *plan.Plan) {
	ctx := context.Background()

	var mu sync.Mutex
	var killed []uint32
	cfg := pgcopy.WithMidChunkHook(pgcopy.Config{ChunkRows: 1000, Backoff: phase.Backoff{Initial: 1}}, func(table string, chunk int, pid uint32) {
		mu.Lock()
		defer mu.Unlock()
		if table != "public.purchase" || chunk != 2 || len(killed) == 2 {
			return
		}
		var ok bool
		require.NoError(t, dst.QueryRow(ctx, `SELECT pg_terminate_backend(pid) FROM pg_stat_activity
			WHERE pid = $1 AND application_name = 'tenantmover'`, int32(pid)).Scan(&ok))
		require.True(t, ok)
		killed = append(killed, pid)
	})
	var ev events
	rep, err := copyRun(ctx, srcURL, dstURL, p, cfg, ev.add)
	require.NoError(t, err)
	require.Len(t, killed, 2)
	retries := ev.of(phase.Retrying)
	require.Len(t, retries, 2)
	for _, r := range retries {
		require.Equal(t, "public.purchase", r.Table)
		require.Equal(t, 2, r.Unit)
		require.Equal(t, db.ConnectionLost, db.Classify(r.Err), "%v", r.Err)
	}
	require.EqualValues(t, 5_000, tableReport(t, rep, "public.purchase").Rows)
	requireSame(t, src, dst, p)
}

// A failure that retrying cannot fix stops the run and names the chunk.
func TestFatalErrorNamesTheChunk(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	srcURL, dstURL, _, dst, p := monolithPair(t, tinyMonolith())
	pgtest.Exec(t, dst, "ALTER TABLE purchase ADD CONSTRAINT small CHECK (id < 2500)")
	_, err := copyRun(ctx, srcURL, dstURL, p, pgcopy.Config{ChunkRows: 1000, Workers: 1}, nil)
	var ce *pgcopy.ChunkError
	require.ErrorAs(t, err, &ce)
	require.Equal(t, "public.purchase", ce.Table)
	require.Equal(t, 2, ce.Chunk)
	require.Contains(t, err.Error(), "copying public.purchase chunk 2 [2001, 3001)")
	require.Contains(t, err.Error(), "violates check constraint")
	require.EqualValues(t, 2000, pgtest.Scalar[int64](t, dst, "SELECT count(*) FROM purchase"), "chunks 0 and 1 committed, nothing else")
}
