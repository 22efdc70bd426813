package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/require"

	pgcopy "github.com/tenantmover/tenantmover/copy"
	"github.com/tenantmover/tenantmover/internal/ddl"
	"github.com/tenantmover/tenantmover/internal/pgtest"
	"github.com/tenantmover/tenantmover/internal/phase"
	"github.com/tenantmover/tenantmover/internal/plan"
	"github.com/tenantmover/tenantmover/internal/sample"
	"github.com/tenantmover/tenantmover/verify/verifytest"
)

// verifyFixture makes a source monolith and a plain target holding the
// same rows, with the tenant column on the nested tables.
func verifyFixture(t *testing.T) (srcURL, dstURL string, dst *pgxpool.Pool) {
	t.Helper()
	ctx := context.Background()
	p := sample.Params{Stores: 6, Products: 40, Purchases: 300, Refunds: 40, Companies: 3, Users: 12,
		CampaignsPerCompany: 2, MembershipsPerCompany: 3, Skew: 1, Seed: 0.42}
	srcURL, dstURL = env.NewDB(t), env.NewDB(t)
	for _, url := range []string{srcURL, dstURL} {
		dst = pgtest.Pool(t, url)
		require.NoError(t, sample.Generate(ctx, dst, p))
	}
	pgtest.Exec(t, dst, `ALTER TABLE purchase ADD COLUMN store_id bigint;
		UPDATE purchase p SET store_id = pr.store_id FROM product pr WHERE pr.id = p.product_id;
		ALTER TABLE refund ADD COLUMN store_id bigint;
		UPDATE refund r SET store_id = p.store_id FROM purchase p WHERE p.id = r.purchase_id`)
	return srcURL, dstURL, dst
}

func runCLI(t *testing.T, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errOut bytes.Buffer
	code = run(context.Background(), append([]string{"tenantmover"}, args...), &out, &errOut)
	return code, out.String(), errOut.String()
}

// verifyJSON is the JSON contract scripts rely on.
type verifyJSON struct {
	Match       bool `json:"match"`
	Differences []struct {
		Kind   string   `json:"kind"`
		Table  string   `json:"table"`
		Tenant string   `json:"tenant"`
		Shard  int64    `json:"shard"`
		Source int64    `json:"source"`
		Target int64    `json:"target"`
		Keys   []string `json:"keys"`
	} `json:"differences"`
	Summary struct {
		Tables []struct {
			Table   string `json:"table"`
			Tenants int64  `json:"tenants"`
		} `json:"tables"`
	} `json:"summary"`
}

func TestVerifyCommandExitCodesAndJSON(t *testing.T) {
	t.Parallel()
	srcURL, dstURL, dst := verifyFixture(t)
	base := []string{"verify", "--source", srcURL, "--target", dstURL, "--tenant-table", "store", "--checksum", "--no-progress"}

	code, stdout, stderr := runCLI(t, base...)
	require.Equal(t, exitOK, code, stderr)
	require.Empty(t, stdout)
	require.Contains(t, stderr, "MATCH")
	require.Contains(t, stderr, "public.purchase")
	// Each step's log line counts the units it compared.
	require.Regexp(t, `msg=done task="comparing tenants" done=[1-9]`, stderr)
	require.Regexp(t, `msg=done task="checking tenant invariants" done=[1-9]`, stderr)

	code, stdout, stderr = runCLI(t, append(base, "--format", "json")...)
	require.Equal(t, exitOK, code, stderr)
	var doc verifyJSON
	require.NoError(t, json.Unmarshal([]byte(stdout), &doc), stdout)
	require.True(t, doc.Match)
	require.NotNil(t, doc.Differences)
	require.Len(t, doc.Summary.Tables, 8)

	var id, tenant string
	require.NoError(t, dst.QueryRow(context.Background(),
		`UPDATE refund SET reason = 'tampered' WHERE id = (SELECT min(id) FROM refund) RETURNING id::text, store_id::text`).Scan(&id, &tenant))
	code, stdout, stderr = runCLI(t, append(base, "--format", "json")...)
	require.Equal(t, exitDifferences, code, stderr)
	doc = verifyJSON{}
	require.NoError(t, json.Unmarshal([]byte(stdout), &doc), stdout)
	require.False(t, doc.Match)
	require.Len(t, doc.Differences, 1)
	d := doc.Differences[0]
	require.Equal(t, "checksum", d.Kind)
	require.Equal(t, "public.refund", d.Table)
	require.Equal(t, tenant, d.Tenant)
	require.Equal(t, []string{id}, d.Keys)
	require.Contains(t, stderr, "DIFFERENCES: 1")
	require.Contains(t, stderr, "public.refund")

	// Without --checksum the changed row is invisible; limited to other
	// tables it is out of scope anyway.
	code, _, stderr = runCLI(t, "verify", "--source", srcURL, "--target", dstURL, "--tenant-table", "store", "--no-progress")
	require.Equal(t, exitOK, code, stderr)
	code, _, stderr = runCLI(t, append(base, "--tables", "store,product")...)
	require.Equal(t, exitOK, code, stderr)
}

func TestVerifyCommandUsageErrors(t *testing.T) {
	t.Parallel()
	code, _, stderr := runCLI(t, "verify", "--target", "postgres://x@127.0.0.1:1/x", "--tenant-table", "store")
	require.Equal(t, exitError, code)
	require.Contains(t, stderr, "--source is required")
	code, _, stderr = runCLI(t, "verify", "--source", "postgres://x@127.0.0.1:1/x", "--target", "postgres://x@127.0.0.1:1/x")
	require.Equal(t, exitError, code)
	require.Contains(t, stderr, "--tenant-table is required")
	code, _, stderr = runCLI(t, "verify", "--source", "a", "--target", "b", "--tenant-table", "store", "--format", "yaml")
	require.Equal(t, exitError, code)
	require.Contains(t, stderr, "--format")
}

func TestVerifyCommandOnCitus(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	cdb := env.NewCitusDB(t)
	srcURL := env.NewDB(t)
	verifytest.LoadCitus(t, srcURL, cdb.Coordinator, 1)
	base := []string{"verify", "--source", srcURL, "--target", cdb.Coordinator, "--tenant-table", "store", "--no-progress", "--format", "json"}

	code, stdout, stderr := runCLI(t, append(base, "--checksum")...)
	require.Equal(t, exitOK, code, stderr)
	require.Contains(t, stderr, "shards")
	var doc verifyJSON
	require.NoError(t, json.Unmarshal([]byte(stdout), &doc), stdout)
	require.True(t, doc.Match)

	// A row of tenant 5 written directly into a shard on a worker that
	// does not hold tenant 5's hash range.
	dst := pgtest.Pool(t, cdb.Coordinator)
	var wrong, right int64
	var shardName string
	require.NoError(t, dst.QueryRow(ctx, `SELECT get_shard_id_for_distribution_column('refund', 5)`).Scan(&right))
	require.NoError(t, dst.QueryRow(ctx, `SELECT shardid, shard_name('refund'::regclass, shardid) FROM pg_dist_shard
		WHERE logicalrelid = 'refund'::regclass AND shardid <> $1 ORDER BY shardid LIMIT 1`, right).Scan(&wrong, &shardName))
	var node string
	var port int
	require.NoError(t, dst.QueryRow(ctx, `SELECT nodename, nodeport FROM pg_dist_placement JOIN pg_dist_node USING (groupid)
		WHERE shardid = $1`, wrong).Scan(&node, &port))
	for _, w := range cdb.Workers {
		if strings.Contains(w, fmt.Sprintf(":%d/", port)) {
			wp, err := pgxpool.New(ctx, w)
			require.NoError(t, err)
			_, err = wp.Exec(ctx, `INSERT INTO `+shardName+` (id, purchase_id, reason, store_id) VALUES (777777, 1, 'stray', 5)`)
			wp.Close()
			require.NoError(t, err)
		}
	}
	code, stdout, stderr = runCLI(t, base...)
	require.Equal(t, exitDifferences, code, stderr)
	doc = verifyJSON{}
	require.NoError(t, json.Unmarshal([]byte(stdout), &doc), stdout)
	require.False(t, doc.Match)
	var found bool
	for _, d := range doc.Differences {
		if d.Kind == "misplaced" {
			found = true
			require.Equal(t, "public.refund", d.Table)
			require.Equal(t, "5", d.Tenant)
			require.Equal(t, wrong, d.Shard)
			require.Equal(t, []string{"777777"}, d.Keys)
		}
	}
	require.True(t, found, stdout)
	require.Contains(t, stderr, "misplaced")
	require.Contains(t, stderr, fmt.Sprint(wrong))
}

// After the real copy engine moved a backfilled source onto Citus, verify
// finds every tenant whole, checksums included.
func TestVerifyAfterCopyOnCitus(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	cdb := env.NewCitusDB(t)
	srcURL := env.NewDB(t)
	verifytest.Source(t, srcURL)
	verifytest.Backfill(t, srcURL)
	verifytest.CitusTarget(t, cdb.Coordinator, 1)
	p, err := plan.Build(ctx, pgtest.Pool(t, srcURL), plan.Config{TenantTable: "store"})
	require.NoError(t, err)
	_, err = pgcopy.Run(ctx, &phase.Env{Source: srcURL, Target: cdb.Coordinator, Plan: p, Run: "copy"}, pgcopy.Config{ChunkRows: 500})
	require.NoError(t, err)

	code, stdout, stderr := runCLI(t, "verify", "--source", srcURL, "--target", cdb.Coordinator, "--tenant-table", "store",
		"--checksum", "--no-progress", "--format", "json")
	require.Equal(t, exitOK, code, stderr)
	var doc verifyJSON
	require.NoError(t, json.Unmarshal([]byte(stdout), &doc), stdout)
	require.True(t, doc.Match)
	require.Len(t, doc.Summary.Tables, 8)
}

// On a plain target migrated as tenantmover does it (plan's schema with
// its composite foreign keys, then copy), the tenant invariant of purchase
// and refund is held by those keys: verify says so, in text and JSON, and
// does not rescan them; --recheck-foreign-keys does, and finds a row
// written where the keys' triggers do not fire.
func TestVerifyCommandHeldForeignKeys(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	srcURL, dstURL := env.NewDB(t), env.NewDB(t)
	verifytest.Source(t, srcURL)
	verifytest.Backfill(t, srcURL)
	p, err := plan.Build(ctx, pgtest.Pool(t, srcURL), plan.Config{TenantTable: "store"})
	require.NoError(t, err)
	dst := pgtest.Pool(t, dstURL)
	require.NoError(t, ddl.Apply(ctx, dst, p))
	_, err = pgcopy.Run(ctx, &phase.Env{Source: srcURL, Target: dstURL, Plan: p, Run: "copy"}, pgcopy.Config{})
	require.NoError(t, err)
	base := []string{"verify", "--source", srcURL, "--target", dstURL, "--tenant-table", "store", "--no-progress"}

	code, _, stderr := runCLI(t, base...)
	require.Equal(t, exitOK, code, stderr)
	require.Contains(t, stderr, "tenant of public.purchase → public.product held by foreign key purchase_product_id_fkey on the target (validated, enforced): not rescanned")
	require.Contains(t, stderr, "tenant of public.refund → public.purchase held by foreign key refund_purchase_id_fkey on the target (validated, enforced): not rescanned")

	type invariants struct {
		Invariants []struct {
			Table      string   `json:"table"`
			Parent     string   `json:"parent"`
			Columns    []string `json:"columns"`
			Side       string   `json:"side"`
			HeldBy     string   `json:"held_by"`
			Checked    bool     `json:"checked"`
			Violations int64    `json:"violations"`
		} `json:"invariants"`
	}
	code, stdout, stderr := runCLI(t, append(base, "--format", "json")...)
	require.Equal(t, exitOK, code, stderr)
	var doc invariants
	require.NoError(t, json.Unmarshal([]byte(stdout), &doc), stdout)
	require.Len(t, doc.Invariants, 2, stdout)
	for _, c := range doc.Invariants {
		require.Equal(t, "target", c.Side)
		require.NotEmpty(t, c.HeldBy, "%+v", c)
		require.False(t, c.Checked, "%+v", c)
	}
	require.Equal(t, "public.purchase", doc.Invariants[0].Table)
	require.Equal(t, "public.product", doc.Invariants[0].Parent)
	require.Equal(t, []string{"product_id"}, doc.Invariants[0].Columns)

	var id string
	pgtest.Exec(t, dst, `SET session_replication_role = replica;
		UPDATE refund SET purchase_id = purchase_id + 100000000 WHERE id = (SELECT min(id) FROM refund);
		RESET session_replication_role`)
	require.NoError(t, dst.QueryRow(ctx, `SELECT min(id)::text FROM refund`).Scan(&id))
	code, _, stderr = runCLI(t, base...)
	require.Equal(t, exitOK, code, "held checks are not rescanned: %s", stderr)

	code, stdout, stderr = runCLI(t, append(base, "--recheck-foreign-keys", "--format", "json")...)
	require.Equal(t, exitDifferences, code, stderr)
	var diffs verifyJSON
	require.NoError(t, json.Unmarshal([]byte(stdout), &diffs), stdout)
	require.Len(t, diffs.Differences, 1, stdout)
	require.Equal(t, "invariant", diffs.Differences[0].Kind)
	require.Equal(t, "public.refund", diffs.Differences[0].Table)
	require.Equal(t, []string{id}, diffs.Differences[0].Keys)
	doc = invariants{}
	require.NoError(t, json.Unmarshal([]byte(stdout), &doc), stdout)
	for _, c := range doc.Invariants {
		require.True(t, c.Checked, "%+v", c)
		require.Empty(t, c.HeldBy, "%+v", c)
	}
	require.Contains(t, stderr, "checked on the target: foreign key refund_purchase_id_fkey holds it (validated, enforced), rescanned for --recheck-foreign-keys")
}
