package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/require"

	"github.com/tenantmover/tenantmover/checkpoints"
	"github.com/tenantmover/tenantmover/internal/pgtest"
	"github.com/tenantmover/tenantmover/internal/sample"
	"github.com/tenantmover/tenantmover/migrate"
)

// sampleSource fills a fresh source database with the small sample shop.
func sampleSource(t *testing.T) string {
	t.Helper()
	url := env.NewDB(t)
	pool, err := pgxpool.New(context.Background(), url)
	require.NoError(t, err)
	defer pool.Close()
	require.NoError(t, sample.Generate(context.Background(), pool, sample.Small()))
	return url
}

// migrateRoundTrip runs migrate twice: the first run does everything, the
// rerun resumes a finished run (every resumable phase skipped) and verifies
// again.
func migrateRoundTrip(t *testing.T, src, dst string) {
	reportPath := filepath.Join(t.TempDir(), "report.json")
	code, _, stderr := runCLI(t, "migrate", "--source", src, "--target", dst, "--tenant-table", "store",
		"--no-progress", "--checksum", "--report", reportPath)
	require.Equal(t, exitOK, code, stderr)
	require.Contains(t, stderr, "verified: every tenant of every table matches")

	var rep migrate.Report
	b, err := os.ReadFile(reportPath)
	require.NoError(t, err)
	require.NoError(t, json.Unmarshal(b, &rep))
	require.True(t, rep.Match)
	require.True(t, rep.Finished)
	byName := map[string]migrate.PhaseReport{}
	for _, p := range rep.Phases {
		byName[p.Phase] = p
		require.Equal(t, "done", p.Status, p.Phase)
	}
	p := sample.Small()
	require.EqualValues(t, p.Purchases+p.Refunds, byName["backfill"].Rows, "backfill filled purchases and refunds")
	require.NotZero(t, byName["copy"].Rows)
	require.Equal(t, byName["copy"].Rows, byName["verify"].Rows, "verify compared every copied row")

	code, _, stderr = runCLI(t, "migrate", "--source", src, "--target", dst, "--tenant-table", "store",
		"--no-progress", "--checksum", "--report", reportPath)
	require.Equal(t, exitOK, code, stderr)
	b, err = os.ReadFile(reportPath)
	require.NoError(t, err)
	require.NoError(t, json.Unmarshal(b, &rep))
	require.True(t, rep.Resumed)
	for _, p := range rep.Phases {
		if p.Phase == "plan" || p.Phase == "verify" {
			require.Equal(t, "done", p.Status, p.Phase)
		} else {
			require.Equal(t, "skipped", p.Status, "%s was done by the first run", p.Phase)
		}
	}

	// Other options on the same run are refused, naming the way out.
	code, _, stderr = runCLI(t, "migrate", "--source", src, "--target", dst, "--tenant-table", "store", "--no-progress")
	require.Equal(t, exitError, code)
	require.Contains(t, stderr, "--restart")
}

func TestMigratePlainTarget(t *testing.T) {
	t.Parallel()
	migrateRoundTrip(t, sampleSource(t), env.NewDB(t))
}

func TestMigrateCitusTarget(t *testing.T) {
	t.Parallel()
	cdb := env.NewCitusDB(t)
	migrateRoundTrip(t, sampleSource(t), cdb.Coordinator)
}

// The demo is the README's first command: it must finish with a verified
// migration with nothing set up.
func TestDemo(t *testing.T) {
	if testing.Short() {
		t.Skip("the demo starts its own servers; skipped with -short")
	}
	t.Parallel()
	code, stdout, stderr := runCLI(t, "demo", "--no-progress")
	require.Equal(t, exitOK, code, stderr)
	require.Contains(t, stderr, "writes paused")
	require.Contains(t, stderr, "purchases the source acknowledged are on the target")
	require.Contains(t, stderr, "the source refused the application's next write")
	require.Contains(t, stderr, "removed the throwaway servers")
	require.Empty(t, stdout)
	if pgtest.HasCitus(t) {
		require.Contains(t, stderr, "Citus coordinator and two workers")
		require.Contains(t, stderr, "skew", "rebalance status ran on the Citus target")
	} else {
		require.Contains(t, stderr, "second plain PostgreSQL")
	}
}

// Three migrate processes share one migration (--part K/N): one at a time
// through backfill, tenant-check and schema (the first does them, the
// others find them done), the copy together; each exits 0, the part that
// completes the copy adds the foreign keys and verifies, the others say
// they copied their share. verify --checksum then finds the target equal.
func TestMigrateInThreeParts(t *testing.T) {
	t.Parallel()
	src, dst := sampleSource(t), env.NewDB(t)
	var dones []<-chan cliResult
	for k := 1; k <= 3; k++ {
		dones = append(dones, runCLIAsync(t, "migrate", "--source", src, "--target", dst, "--tenant-table", "store",
			"--no-progress", "--chunk-rows", "1000", "--part", fmt.Sprintf("%d/3", k)))
	}
	verified := 0
	for k, done := range dones {
		r := awaitCLI(t, done)
		require.Equal(t, exitOK, r.code, "part %d/3: %s", k+1, r.stderr)
		if strings.Contains(r.stderr, "verified: every tenant of every table matches") {
			verified++
		} else {
			require.Contains(t, r.stderr, fmt.Sprintf("part %d/3 copied its share", k+1), r.stderr)
		}
	}
	require.Equal(t, 1, verified, "one part completes the copy and verifies")
	code, _, stderr := runCLI(t, "verify", "--source", src, "--target", dst, "--tenant-table", "store", "--checksum", "--no-progress")
	require.Equal(t, exitOK, code, stderr)
	require.Positive(t, pgtest.Scalar[int64](t, pgtest.Pool(t, dst), `SELECT count(*) FROM pg_constraint WHERE contype = 'f' AND connamespace = 'public'::regnamespace`))
	// Every part shows in status, done, with no lock held.
	code, out, stderr := runCLI(t, "status", "--target", dst, "--format", "json")
	require.Equal(t, exitOK, code, stderr)
	var status struct {
		Target []checkpoints.RunStatus `json:"target"`
	}
	require.NoError(t, json.Unmarshal([]byte(out), &status))
	var parts []checkpoints.PartStatus
	for _, r := range status.Target {
		parts = append(parts, r.Parts...)
	}
	require.Len(t, parts, 3)
	for _, p := range parts {
		require.Equal(t, checkpoints.Done, p.State)
		require.Equal(t, p.Units, p.UnitsDone)
		require.False(t, p.Locked)
	}
}
