package main

import (
	"context"
	"encoding/json"
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
