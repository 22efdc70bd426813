package backfill_test

import (
	"bytes"
	"context"
	"encoding/json"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/require"

	"github.com/tenantmover/tenantmover/backfill"
	"github.com/tenantmover/tenantmover/internal/pgtest"
)

// The crash test's store fixture is bigger than storeSchema, so batches of
// 50 rows take a while.
const crashPurchases, crashRefunds = 40000, 10000

// The backfill process is killed with SIGKILL twice (while it fills
// purchase, then while it fills refund) and rerun. The end result is
// complete and correct, and the last run walks exactly the keys after the
// checkpointed cursors: nothing committed is done again.
func TestKilledProcessResumes(t *testing.T) {
	t.Parallel()
	bin := buildBinary(t)
	pool, url := source(t, storeFixture(crashPurchases, crashRefunds))
	args := []string{"backfill", "--source", url, "--tenant-table", "store", "--no-progress", "--log-format", "json",
		"--batch-time", "10ms", "--min-batch-rows", "10", "--max-batch-rows", "50", "--workers", "2"}

	killWhen(t, pool, bin, args, `SELECT count(*) FROM tenantmover.units WHERE table_name = 'public.purchase' AND rows > 0`)
	walked := pgtest.Scalar[int64](t, pool, `SELECT sum(rows) FROM tenantmover.units`)
	require.Positive(t, walked)
	require.Less(t, walked, int64(crashPurchases), "killed before purchase was done")
	_, status := runBinary(t, bin, "status", "--source", url)
	require.Contains(t, status, "public.purchase")
	require.Contains(t, status, "backfill")

	killWhen(t, pool, bin, args, `SELECT count(*) FROM tenantmover.units WHERE table_name = 'public.refund' AND rows > 0`)
	require.Less(t, pgtest.Scalar[int64](t, pool, `SELECT sum(rows) FROM tenantmover.units WHERE table_name = 'public.refund'`), int64(crashRefunds),
		"killed before refund was done")

	remaining := map[string]int64{
		"public.purchase": keysAfterCursors(t, pool, "purchase"),
		"public.refund":   keysAfterCursors(t, pool, "refund"),
	}
	out, _ := runBinary(t, bin, append(args, "--format", "json")...)
	var rep backfill.Report
	require.NoError(t, json.Unmarshal([]byte(out), &rep), out)
	require.True(t, rep.Resumed)
	for _, tr := range rep.Tables {
		require.Equal(t, remaining[tr.Table], tr.RowsVisited, "%s: the rerun walks only what was not committed", tr.Table)
		require.Equal(t, tr.EstimatedRows, tr.RowsVisitedBefore+tr.RowsVisited, tr.Table)
	}
	require.Zero(t, pgtest.Scalar[int64](t, pool, storeWrong))
	require.Zero(t, pgtest.Scalar[int64](t, pool, `SELECT count(*) FROM tenantmover.units WHERE state <> 'done'`))
	require.EqualValues(t, crashPurchases+crashRefunds, pgtest.Scalar[int64](t, pool, `SELECT sum(rows) FROM tenantmover.units`),
		"every key walked exactly once over the three runs")
}

// keysAfterCursors counts the table's keys not yet walked: those from each
// unfinished unit's cursor up to its end, no higher than the table's
// ceiling (units are [lo, hi); the keys of [lo, cursor) are done).
func keysAfterCursors(t *testing.T, pool *pgxpool.Pool, table string) int64 {
	return pgtest.Scalar[int64](t, pool, `SELECT count(*) FROM `+table+` x
		JOIN tenantmover.units u ON u.table_name = 'public.' || $1 AND u.state <> 'done'
		JOIN tenantmover.tables tb USING (run, phase, table_name)
		WHERE x.id >= coalesce(u.cursor[1], u.lo[1], '-9223372036854775808')::bigint
		  AND (u.hi IS NULL OR x.id < u.hi[1]::bigint) AND x.id <= tb.ceiling[1]::bigint`, table)
}

// killWhen starts the binary, waits until query counts more than zero,
// and kills it with SIGKILL.
func killWhen(t *testing.T, pool *pgxpool.Pool, bin string, args []string, query string) {
	t.Helper()
	cmd := exec.Command(bin, args...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	require.NoError(t, cmd.Start())
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	deadline := time.Now().Add(2 * time.Minute)
	tick := time.NewTicker(2 * time.Millisecond)
	defer tick.Stop()
	for {
		var n int64
		// The checkpoint schema appears with the first run.
		err := pool.QueryRow(context.Background(), query).Scan(&n)
		if err == nil && n > 0 {
			break
		}
		select {
		case err := <-exited:
			require.Failf(t, "backfill ended before it could be killed", "%v\n%s", err, stderr.String())
		case <-tick.C:
		}
		require.True(t, time.Now().Before(deadline), "no progress within 2 minutes: %s", stderr.String())
	}
	require.NoError(t, cmd.Process.Signal(syscall.SIGKILL))
	err := <-exited
	var exitErr *exec.ExitError
	require.ErrorAs(t, err, &exitErr, "killed, not finished: %s", stderr.String())
}

// runBinary runs the binary to its end and returns stdout and stderr.
func runBinary(t *testing.T, bin string, args ...string) (string, string) {
	t.Helper()
	cmd := exec.Command(bin, args...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	require.NoError(t, cmd.Run(), "tenantmover %s: %s", strings.Join(args[:1], " "), stderr.String())
	return stdout.String(), stderr.String()
}

func buildBinary(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "tenantmover")
	out, err := exec.Command("go", "build", "-o", bin, "github.com/tenantmover/tenantmover/cmd/tenantmover").CombinedOutput()
	require.NoError(t, err, "%s", out)
	return bin
}
