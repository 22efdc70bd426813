package pgcopy_test

import (
	"bytes"
	"context"
	"encoding/json"
	"math/rand/v2"
	osexec "os/exec"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/require"

	pgcopy "github.com/tenantmover/tenantmover/copy"
	"github.com/tenantmover/tenantmover/internal/pgtest"
	"github.com/tenantmover/tenantmover/internal/plan"
	"github.com/tenantmover/tenantmover/internal/sample"
)

// buildTool compiles tenantmover into the test's temporary directory.
func buildTool(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "tenantmover")
	out, err := osexec.Command("go", "build", "-o", bin, "github.com/tenantmover/tenantmover/cmd/tenantmover").CombinedOutput()
	require.NoError(t, err, "%s", out)
	return bin
}

// chunkWatch follows the chunks the target commits by reading their
// checkpoints (on Citus they are reference tables, whose triggers would
// fire on the workers, not where a listener could hear them), so the test
// waits on real progress.
type chunkWatch struct {
	pool *pgxpool.Pool
	seen int64 // done chunks already waited for
}

func watchChunks(t *testing.T, dstURL string) *chunkWatch {
	t.Helper()
	return &chunkWatch{pool: pgtest.Pool(t, dstURL)}
}

// wait returns once n more chunks are done than at the last wait.
func (w *chunkWatch) wait(ctx context.Context, n int) error {
	tick := time.NewTicker(2 * time.Millisecond)
	defer tick.Stop()
	for {
		var done int64
		// The checkpoint schema appears with the first run.
		err := w.pool.QueryRow(ctx, `SELECT count(*) FROM tenantmover.units WHERE state = 'done'`).Scan(&done)
		if err == nil && done >= w.seen+int64(n) {
			w.seen = done
			return nil
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-tick.C:
		}
	}
}

// The copy process is killed with SIGKILL five times in a row, each time
// after a random number of committed chunks (so at a random point of the
// chunks in flight), and rerun; the last run completes. Every table then
// equals the source exactly, the reruns skipped every committed chunk, and
// the checkpoints account for every row once.
func TestCrashFiveTimesThenResume(t *testing.T) {
	t.Parallel()
	bin := buildTool(t)
	srcURL, dstURL, src, dst, p := monolithPair(t, sample.Small())
	crashAndResume(t, bin, srcURL, dstURL, src, dst, p, "200")
}

// The same on Citus, where each chunk commits with two-phase commit.
func TestCrashFiveTimesThenResumeOnCitus(t *testing.T) {
	t.Parallel()
	bin := buildTool(t)
	srcURL, dstURL, p := citusPair(t, sample.Small())
	crashAndResume(t, bin, srcURL, dstURL, pgtest.Pool(t, srcURL), pgtest.Pool(t, dstURL), p, "1000")
	require.EqualValues(t, 0, pgtest.Scalar[int64](t, pgtest.Pool(t, dstURL), "SELECT count(*) FROM pg_prepared_xacts"), "no 2PC left in doubt")
}

// crashAndResume kills the copy five times, each time after a random
// number of committed chunks, then runs it to the end and checks the result.
func crashAndResume(t *testing.T, bin, srcURL, dstURL string, src, dst *pgxpool.Pool, p *plan.Plan, chunkRows string) {
	chunks := watchChunks(t, dstURL)
	args := []string{"copy", "--source", srcURL, "--target", dstURL, "--tenant-table", "store",
		"--chunk-rows", chunkRows, "--workers", "3", "--no-progress"}
	rng := rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 7))

	for round := 1; round <= 5; round++ {
		cmd := osexec.Command(bin, args...)
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		require.NoError(t, cmd.Start())
		// At most 4 chunks a round: five rounds must leave chunks for the
		// next kill to land in (Citus: 29 chunks in all).
		k := 1 + rng.IntN(4)
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		require.NoError(t, chunks.wait(ctx, k), "round %d: waiting for %d chunks\n%s", round, k, stderr.String())
		cancel()
		require.NoError(t, cmd.Process.Signal(syscall.SIGKILL))
		err := cmd.Wait()
		var exit *osexec.ExitError
		require.ErrorAs(t, err, &exit, "round %d: the process must die by the kill, not finish\n%s", round, stderr.String())
		require.Equal(t, syscall.SIGKILL, exit.Sys().(syscall.WaitStatus).Signal())
		t.Logf("round %d: killed after %d more chunks", round, k)
	}

	done := pgtest.Scalar[int64](t, dst, "SELECT count(*) FROM tenantmover.units WHERE state = 'done'")
	total := pgtest.Scalar[int64](t, dst, "SELECT count(*) FROM tenantmover.units")
	require.Greater(t, done, int64(5))
	out, err := osexec.Command(bin, append(args, "--format", "json")...).Output()
	require.NoError(t, err)
	var rep pgcopy.Report
	require.NoError(t, json.Unmarshal(out, &rep))
	// A killed process's last COMMIT may still land after it died, so
	// more chunks than counted may be done: none is copied twice.
	require.GreaterOrEqual(t, int64(rep.ChunksSkipped), done, "every chunk committed before is skipped")
	require.EqualValues(t, total, rep.ChunksSkipped+rep.ChunksCopied, "the rest is copied, each chunk once")

	requireSame(t, src, dst, p)
	// Each chunk's checkpoint counted its rows once: the sums are the tables.
	for _, table := range []string{"store", "product", "purchase", "refund"} {
		require.Equal(t,
			pgtest.Scalar[int64](t, src, "SELECT count(*) FROM "+table),
			pgtest.Scalar[int64](t, dst, "SELECT sum(rows)::bigint FROM tenantmover.units WHERE table_name = $1", "public."+table), table)
	}
	require.Zero(t, pgtest.Scalar[int64](t, dst, "SELECT count(*) FROM tenantmover.units WHERE state <> 'done'"))
}

// Ctrl-C stops the copy with exit status 130, the run is marked
// interrupted, and the same command resumes it.
func TestInterruptThenResume(t *testing.T) {
	t.Parallel()
	bin := buildTool(t)
	srcURL, dstURL, src, dst, p := monolithPair(t, tinyMonolith())
	chunks := watchChunks(t, dstURL)
	args := []string{"copy", "--source", srcURL, "--target", dstURL, "--tenant-table", "store", "--chunk-rows", "100", "--no-progress"}
	cmd := osexec.Command(bin, args...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	require.NoError(t, cmd.Start())
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	require.NoError(t, chunks.wait(ctx, 1), stderr.String())
	require.NoError(t, cmd.Process.Signal(syscall.SIGINT))

	err := cmd.Wait()
	var exit *osexec.ExitError
	require.ErrorAs(t, err, &exit, stderr.String())
	require.Equal(t, 130, exit.ExitCode(), stderr.String())
	require.Contains(t, stderr.String(), "rerun the same command to resume")
	var status string
	require.NoError(t, dst.QueryRow(ctx, "SELECT status FROM tenantmover.runs WHERE name = 'copy'").Scan(&status))
	require.Equal(t, "interrupted", status)

	out, err := osexec.Command(bin, append(args, "--format", "json")...).Output()
	require.NoError(t, err)
	var rep pgcopy.Report
	require.NoError(t, json.Unmarshal(out, &rep))
	require.Positive(t, rep.ChunksSkipped)
	requireSame(t, src, dst, p)
}
