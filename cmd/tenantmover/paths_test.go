package main

import (
	"context"
	"encoding/json"
	"os"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/require"

	"github.com/tenantmover/tenantmover/internal/pgtest"
)

// TestPlanPinsAndPolymorphicFlags runs plan with --via and a polymorphic
// --relation and reads the pins, branches and alternatives from its JSON;
// a --via without a key fails with the reason on the last line.
func TestPlanPinsAndPolymorphicFlags(t *testing.T) {
	t.Parallel()
	url := env.NewDB(t)
	pool, err := pgxpool.New(context.Background(), url)
	require.NoError(t, err)
	defer pool.Close()
	pgtest.Exec(t, pool, `
CREATE TABLE store (id bigint PRIMARY KEY);
CREATE TABLE alpha (id bigint PRIMARY KEY, store_id bigint NOT NULL REFERENCES store);
CREATE TABLE beta (id bigint PRIMARY KEY, store_id bigint NOT NULL REFERENCES store);
CREATE TABLE note (id bigint PRIMARY KEY, alpha_id bigint NOT NULL REFERENCES alpha, beta_id bigint NOT NULL REFERENCES beta);
CREATE TABLE comments (id bigint PRIMARY KEY, commentable_type text, commentable_id bigint);`)

	code, stdout, stderr := runCLI(t, "plan", "--source", url, "--tenant-table", "store", "--format", "json",
		"--via", "note.beta_id", "--relation", "comments.commentable_id=alpha.id when commentable_type=Alpha",
		"--relation", "comments.commentable_id=beta.id when commentable_type=Beta")
	require.Equal(t, 0, code, stderr)
	var doc struct {
		Tables []struct {
			Name     string `json:"name"`
			Kind     string `json:"kind"`
			Pinned   string `json:"pinned"`
			Branches [][]struct {
				When struct{ Column, Value string }
			} `json:"branches"`
			Alternatives []struct {
				Path   []struct{ From, To string } `json:"path"`
				Reason string                      `json:"reason"`
			} `json:"alternatives"`
		} `json:"tables"`
	}
	require.NoError(t, json.Unmarshal([]byte(stdout), &doc))
	seen := 0
	for _, tb := range doc.Tables {
		switch tb.Name {
		case "public.note":
			seen++
			require.Equal(t, "--via public.note.beta_id", tb.Pinned)
			require.Len(t, tb.Alternatives, 1)
			require.Equal(t, "public.alpha", tb.Alternatives[0].Path[0].To)
		case "public.comments":
			seen++
			require.Equal(t, "nested", tb.Kind)
			require.Len(t, tb.Branches, 2)
			require.Equal(t, "Alpha", tb.Branches[0][0].When.Value)
		}
	}
	require.Equal(t, 2, seen)

	code, _, stderr = runCLI(t, "plan", "--source", url, "--tenant-table", "store", "--via", "note.id")
	require.Equal(t, 1, code)
	lines := strings.Split(strings.TrimSpace(stderr), "\n")
	require.Contains(t, lines[len(lines)-1], "--via note.id: public.note has no foreign key on id")

	code, stdout, _ = runCLI(t, "plan", "--help")
	require.Equal(t, 0, code)
	require.Contains(t, stdout, "--via")
	require.Contains(t, stdout, "when commentable_type=Post")
}

// TestRailsStructureAppliesOnCitus: the 56-table Rails structure.sql,
// planned with the flags plan suggests for it, is created on a real Citus
// cluster by plan --apply: every tenant table distributed and colocated
// with the tenant, the rest reference tables.
func TestRailsStructureAppliesOnCitus(t *testing.T) {
	t.Parallel()
	ddl, err := os.ReadFile("../../internal/plan/testdata/rails_structure.sql")
	require.NoError(t, err)
	srcURL := env.NewDB(t)
	pgtest.Exec(t, pgtest.Pool(t, srcURL), string(ddl))
	dst := env.NewCitusDB(t).Coordinator

	args := []string{"plan", "--source", srcURL, "--tenant-table", "accounts", "--no-progress", "--apply", "--target", dst,
		"--relation", "public.audits.account_id=public.accounts.id",
		"--relation", "public.import_rows.import_id=public.imports.id",
		"--relation", "public.comments.commentable_id=public.cards.id when commentable_type=Card",
		"--relation", "public.comments.commentable_id=public.projects.id when commentable_type=Project",
		"--relation", "public.active_storage_attachments.record_id=public.cards.id when record_type=Card"}
	code, _, stderr := runCLI(t, args...)
	require.Equal(t, exitOK, code, stderr)
	require.Contains(t, stderr, "56 table(s) (42 distributed, 14 reference)")

	pool := pgtest.Pool(t, dst)
	require.Equal(t, 42, pgtest.Scalar[int](t, pool, `SELECT count(*)::int FROM citus_tables WHERE citus_table_type = 'distributed'
		AND colocation_id = (SELECT colocation_id FROM citus_tables WHERE table_name = 'accounts'::regclass)`))
	require.Equal(t, 14, pgtest.Scalar[int](t, pool, `SELECT count(*)::int FROM citus_tables WHERE citus_table_type = 'reference'`))
	require.Equal(t, 56, pgtest.Scalar[int](t, pool, `SELECT count(*)::int FROM pg_tables WHERE schemaname = 'public'`))

	code, _, stderr = runCLI(t, args...)
	require.Equal(t, exitOK, code, stderr)
	require.Contains(t, stderr, "nothing to do")
}
