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
	srcURL, dstURL = env.NewDB(t), env.NewDB(t)
	filledShop(t, pgtest.Pool(t, srcURL), sample.Params{Stores: 6, Products: 40, Purchases: 300, Refunds: 40,
		Companies: 3, Users: 12, CampaignsPerCompany: 2, MembershipsPerCompany: 3, Skew: 1, Seed: 0.42})
	code, _, stderr := runCLI(t, "plan", "--source", srcURL, "--target", dstURL, "--tenant-table", "store", "--apply")
	require.Equal(t, exitOK, code, stderr)
	return srcURL, dstURL, pgtest.Pool(t, dstURL)
}

// filledShop generates the sample shop into src and fills the nested
// tables' tenant column by hand, as backfill would.
func filledShop(t *testing.T, src *pgxpool.Pool, params sample.Params) {
	t.Helper()
	require.NoError(t, sample.Generate(context.Background(), src, params))
	pgtest.Exec(t, src, `ALTER TABLE purchase ADD COLUMN store_id bigint;
		UPDATE purchase p SET store_id = pr.store_id FROM product pr WHERE pr.id = p.product_id;
		ALTER TABLE refund ADD COLUMN store_id bigint;
		UPDATE refund r SET store_id = p.store_id FROM purchase p WHERE p.id = r.purchase_id`)
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

// TestCopyAndTargetTriggers: plan --apply leaves the source's triggers for
// after the data and copy creates them once it is done, so they never fire
// on copied rows; a target that has them already is refused, naming them,
// until they are disabled; a rerun of the finished copy is not refused.
func TestCopyAndTargetTriggers(t *testing.T) {
	t.Parallel()
	srcURL := env.NewDB(t)
	src := pgtest.Pool(t, srcURL)
	filledShop(t, src, sample.Params{Stores: 4, Products: 30, Purchases: 100, Refunds: 10,
		Companies: 2, Users: 6, CampaignsPerCompany: 1, MembershipsPerCompany: 2, Skew: 1, Seed: 0.3})
	pgtest.Exec(t, src, `CREATE FUNCTION shout() RETURNS trigger LANGUAGE plpgsql AS $$BEGIN NEW.name := upper(NEW.name) || '!'; RETURN NEW; END$$;
		CREATE TRIGGER product_shout BEFORE INSERT ON product FOR EACH ROW EXECUTE FUNCTION shout();`)
	tenant := []string{"--source", srcURL, "--tenant-table", "store", "--no-progress"}
	triggers := func(dst *pgxpool.Pool) int {
		return pgtest.Scalar[int](t, dst, `SELECT count(*)::int FROM pg_trigger WHERE tgname = 'product_shout' AND tgenabled <> 'D'`)
	}

	t.Run("created after the data", func(t *testing.T) {
		dstURL := env.NewDB(t)
		dst := pgtest.Pool(t, dstURL)
		code, _, stderr := runCLI(t, append([]string{"plan", "--apply", "--target", dstURL}, tenant...)...)
		require.Equal(t, exitOK, code, stderr)
		require.Contains(t, stderr, "wait for the data")
		require.Equal(t, 0, triggers(dst))

		copyArgs := append([]string{"copy", "--target", dstURL}, tenant...)
		code, _, stderr = runCLI(t, copyArgs...)
		require.Equal(t, exitOK, code, stderr)
		require.Equal(t, 1, triggers(dst))
		code, _, stderr = runCLI(t, append([]string{"verify", "--checksum", "--target", dstURL}, tenant...)...)
		require.Equal(t, exitOK, code, stderr)

		code, _, stderr = runCLI(t, copyArgs...)
		require.Equal(t, exitOK, code, "a rerun of the finished copy: "+stderr)
	})

	t.Run("already on the target", func(t *testing.T) {
		dstURL := env.NewDB(t)
		dst := pgtest.Pool(t, dstURL)
		code, _, stderr := runCLI(t, append([]string{"plan", "--apply", "--with-triggers", "--target", dstURL}, tenant...)...)
		require.Equal(t, exitOK, code, stderr)
		require.Equal(t, 1, triggers(dst))

		copyArgs := append([]string{"copy", "--target", dstURL}, tenant...)
		code, _, stderr = runCLI(t, copyArgs...)
		require.Equal(t, exitError, code, stderr)
		require.Contains(t, stderr, "product_shout on public.product")
		require.Contains(t, stderr, "ALTER TABLE public.product DISABLE TRIGGER USER;")
		require.Equal(t, 0, pgtest.Scalar[int](t, dst, `SELECT count(*)::int FROM product`), "nothing copied")

		pgtest.Exec(t, dst, `ALTER TABLE product DISABLE TRIGGER USER`)
		code, _, stderr = runCLI(t, copyArgs...)
		require.Equal(t, exitOK, code, stderr)
		code, _, stderr = runCLI(t, append([]string{"verify", "--checksum", "--target", dstURL}, tenant...)...)
		require.Equal(t, exitOK, code, stderr)
	})
}

// --part takes K/N with 1 <= K <= N, and refuses what parts cannot do
// (--follow, --tenants, --restart): usage errors, before any connection
// (the URLs name no server).
func TestCopyPartUsage(t *testing.T) {
	t.Parallel()
	base := []string{"copy", "--source", "postgres://nobody@127.0.0.1:1/none", "--target", "postgres://nobody@127.0.0.1:1/none", "--tenant-table", "store"}
	for _, c := range []struct {
		args []string
		msg  string
	}{
		{[]string{"--part", "0/2"}, "--part 0/2: K must be between 1 and N"},
		{[]string{"--part", "3/2"}, "--part 3/2: K must be between 1 and N"},
		{[]string{"--part", "1/0"}, "--part 1/0: K must be between 1 and N, and N at least 1"},
		{[]string{"--part", "two"}, `--part "two": give K/N`},
		{[]string{"--part", "1/2", "--follow"}, "--part cannot be used with --follow"},
		{[]string{"--part", "1/2", "--tenants", "1"}, "--part cannot be used with --tenants"},
		{[]string{"--part", "1/2", "--restart"}, "--restart cannot be used with --part"},
	} {
		code, _, stderr := runCLI(t, append(append([]string{}, base...), c.args...)...)
		require.Equal(t, exitError, code, "%v: %s", c.args, stderr)
		require.Contains(t, stderr, c.msg, "%v", c.args)
		require.NotContains(t, stderr, "connect", "%v: refused before connecting", c.args)
	}
	// migrate passes --part to its copy, with the same refusals.
	base[0] = "migrate"
	for _, c := range []struct {
		args []string
		msg  string
	}{
		{[]string{"--part", "4/3"}, "--part 4/3: K must be between 1 and N"},
		{[]string{"--part", "1/2", "--follow"}, "--part cannot be used with --follow"},
		{[]string{"--part", "1/2", "--restart"}, "--restart cannot be used with --part"},
	} {
		code, _, stderr := runCLI(t, append(append([]string{}, base...), c.args...)...)
		require.Equal(t, exitError, code, "migrate %v: %s", c.args, stderr)
		require.Contains(t, stderr, c.msg, "migrate %v", c.args)
	}
}
