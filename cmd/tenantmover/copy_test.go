package main

import (
	"context"
	"encoding/json"
	"testing"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/require"

	"github.com/tenantmover/tenantmover/internal/pgtest"
	"github.com/tenantmover/tenantmover/internal/sample"
)

// copyFixture is a backfilled source monolith and an empty target whose
// schema 'plan --apply' created.
func copyFixture(t *testing.T) (srcURL, dstURL string, dst *pgxpool.Pool) {
	t.Helper()
	ctx := context.Background()
	srcURL, dstURL = env.NewDB(t), env.NewDB(t)
	src := pgtest.Pool(t, srcURL)
	require.NoError(t, sample.Generate(ctx, src, sample.Params{Stores: 6, Products: 40, Purchases: 300, Refunds: 40,
		Companies: 3, Users: 12, CampaignsPerCompany: 2, MembershipsPerCompany: 3, Skew: 1, Seed: 0.42}))
	pgtest.Exec(t, src, `ALTER TABLE purchase ADD COLUMN store_id bigint;
		UPDATE purchase p SET store_id = pr.store_id FROM product pr WHERE pr.id = p.product_id;
		ALTER TABLE refund ADD COLUMN store_id bigint;
		UPDATE refund r SET store_id = p.store_id FROM purchase p WHERE p.id = r.purchase_id`)
	code, _, stderr := runCLI(t, "plan", "--source", srcURL, "--target", dstURL, "--tenant-table", "store", "--apply")
	require.Equal(t, exitOK, code, stderr)
	return srcURL, dstURL, pgtest.Pool(t, dstURL)
}

// copyJSON is the part of copy's JSON report scripts rely on.
type copyJSON struct {
	Run    string `json:"run"`
	DryRun bool   `json:"dry_run"`
	Tables []struct {
		Table         string `json:"table"`
		Rows          int64  `json:"rows"`
		ChunksCopied  int    `json:"chunks_copied"`
		ChunksSkipped int    `json:"chunks_skipped"`
	} `json:"tables"`
	Chunks []struct {
		Table string   `json:"table"`
		Range string   `json:"range"`
		SQL   []string `json:"sql"`
	} `json:"chunks"`
	Rows          int64 `json:"rows"`
	ChunksCopied  int   `json:"chunks_copied"`
	ChunksSkipped int   `json:"chunks_skipped"`
}

func TestCopyCommand(t *testing.T) {
	t.Parallel()
	srcURL, dstURL, dst := copyFixture(t)
	base := []string{"copy", "--source", srcURL, "--target", dstURL, "--tenant-table", "store", "--no-progress", "--chunk-rows", "100"}

	code, stdout, stderr := runCLI(t, append(base, "--dry-run")...)
	require.Equal(t, exitOK, code, stderr)
	require.Empty(t, stdout)
	require.Contains(t, stderr, "public.purchase chunk 2 [201, +inf) [pending]")
	require.Contains(t, stderr, "COPY (SELECT")
	require.Contains(t, stderr, "nothing was written")

	code, stdout, stderr = runCLI(t, append(base, "--format", "json")...)
	require.Equal(t, exitOK, code, stderr)
	var rep copyJSON
	require.NoError(t, json.Unmarshal([]byte(stdout), &rep), stdout)
	require.Equal(t, "copy", rep.Run)
	require.EqualValues(t, 6+40+300+40+3+12+6+9, rep.Rows)
	require.Contains(t, stderr, "copied 416 rows")
	require.Contains(t, stderr, `msg="table copied" table=public.purchase rows=300`)

	code, _, stderr = runCLI(t, "verify", "--source", srcURL, "--target", dstURL, "--tenant-table", "store", "--checksum", "--no-progress")
	require.Equal(t, exitOK, code, stderr)
	code, _, stderr = runCLI(t, "status", "--target", dstURL)
	require.Equal(t, exitOK, code, stderr)
	require.Regexp(t, `copy +public.purchase +done +3/3 +300 `, stderr)

	code, stdout, stderr = runCLI(t, append(base, "--format", "json")...)
	require.Equal(t, exitOK, code, stderr)
	require.NoError(t, json.Unmarshal([]byte(stdout), &rep))
	require.Zero(t, rep.ChunksCopied)
	require.Equal(t, 10, rep.ChunksSkipped)

	// Re-sync two tenants after the target lost some of their rows.
	pgtest.Exec(t, dst, "DELETE FROM refund WHERE store_id = 2")
	code, _, stderr = runCLI(t, append(base, "--tenants", "1,2", "--replace", "--run", "resync")...)
	require.Equal(t, exitOK, code, stderr)
	code, _, stderr = runCLI(t, "verify", "--source", srcURL, "--target", dstURL, "--tenant-table", "store", "--checksum", "--no-progress")
	require.Equal(t, exitOK, code, stderr)

	code, _, stderr = runCLI(t, append(base, "--replace")...)
	require.Equal(t, exitError, code)
	require.Contains(t, stderr, "--replace needs --tenants")

	code, _, stderr = runCLI(t, append(base, "--run", "other")...)
	require.Equal(t, exitError, code)
	require.Contains(t, stderr, `the target already holds rows that run "other" did not copy`)
}
